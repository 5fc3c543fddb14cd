"""AdEMAMix: Adam with a second, slow exponential moving average of the gradient."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_dtype,
    check_int,
    check_number,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation


class ScaleByAdemamixState(NamedTuple):
    """State of :func:`scale_by_ademamix`: count, fast EMA ``m1``, slow EMA ``m2``, ``nu``."""

    count: Any
    m1: Any
    m2: Any
    nu: Any


def scale_by_ademamix(
    b1=0.9,
    b2=0.999,
    b3=0.9999,
    alpha=6.0,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with AdEMAMix's mixture of a fast and a slow momentum.

    Update rule (Pagliardini et al., Algorithm 1), ``t = count + 1``::

        m1 <- b1 * m1 + (1 - b1) * g
        m2 <- b3 * m2 + (1 - b3) * g          (no bias correction)
        nu <- b2 * nu + (1 - b2) * g**2
        u   = (m1 / (1 - b1**t) + alpha * m2) / (sqrt(nu / (1 - b2**t) + eps_root) + eps)

    ``b3`` and ``alpha`` may be schedules of the step count; the paper warms
    them up with :func:`ademamix_alpha_schedule` and
    :func:`ademamix_b3_schedule`. Conventions match ``optax.contrib.ademamix``
    (same equation, same defaults: ``alpha=6.0`` here as optax's
    ``scale_by_ademamix``, 5.0 in the :func:`~functional_opt.ademamix`
    optimizer as optax's) except that here the moments are kept in the
    param dtype and ``mu_dtype`` applies to ``m1`` and ``m2`` only (optax also
    casts ``nu``), and schedules see the pre-increment count as everywhere in
    this library.

    Args:
        b1: fast-EMA decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``[0, 1)``.
        b3: slow-EMA decay in ``[0, 1)`` (number, array or schedule).
        alpha: ``>= 0`` weight of the slow EMA (number, array or schedule); default 6.0.
        eps: ``>= 0`` outside the root; eps_root: ``>= 0`` inside it.
        mu_dtype: dtype of ``m1`` and ``m2``; default the param dtype.

    State: :class:`ScaleByAdemamixState` ``(count, m1, m2, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_ademamix(alpha=0.0)
        >>> u, s = t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))
        >>> u.round(4)  # with alpha = 0 it is Adam
        Array([ 1., -1.], dtype=float32)

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better,
        Faster, Older", ICLR 2025 (arXiv:2409.03111).
    """
    for name, b in (("b1", b1), ("b2", b2), ("b3", b3)):
        check_number(name, b, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("alpha", alpha, low=0.0, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)

    def init(params):
        z = _tree.zeros_like(params, mu_dtype)
        return ScaleByAdemamixState(count=zero_count(), m1=z, m2=z, nu=_tree.real_dtype_zeros(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2, k3 = (_tree.decay_scalars(b, state.count) for b in (b1, b2, b3))
        alpha_ = value_at(alpha, state.count)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, m1, m2, nu):
            m1 = _tree.ema(m1, g, k1.omb)
            m2 = _tree.ema(m2, g, k3.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            return (m1 * k1.c + alpha_ * m2) / (jnp.sqrt(nu * k2.c + eps_root_) + eps_), m1, m2, nu

        u, (m1, m2, nu) = _tree.map_moments("scale_by_ademamix", leaf, updates, m1=state.m1, m2=state.m2, nu=state.nu)
        return u, ScaleByAdemamixState(count=safe_increment(state.count), m1=m1, m2=m2, nu=nu)

    return GradientTransformation(init, update)


def ademamix_alpha_schedule(alpha: float, warmup: int):
    """The paper's linear warmup of ``alpha``: ``alpha(c) = min(c * alpha / warmup, alpha)``.

    Args:
        alpha: final value, ``>= 0``.
        warmup: number of steps ``T_alpha``, an int ``>= 1``.

    Examples:
        >>> import functional_opt as fo
        >>> f = fo.ademamix_alpha_schedule(8.0, 4)
        >>> [float(f(c)) for c in (0, 1, 4, 9)]
        [0.0, 2.0, 8.0, 8.0]
    """
    check_number("alpha", alpha, low=0.0)
    check_int("warmup", warmup, low=1)

    def schedule(count):
        c = jnp.asarray(count, jnp.float32)
        return jnp.minimum(c * alpha / warmup, alpha)

    return schedule


def ademamix_b3_schedule(b3: float, warmup: int, b_start: float = 0.9):
    """The paper's ``b3`` warmup, linear in the EMA's half-life from ``b_start`` to ``b3``.

    ``b3(c) = min(exp(log(b_start) log(b3) / ((1 - c/T) log(b3) + (c/T) log(b_start))), b3)``
    with ``T = warmup``.

    Args:
        b3: final decay in ``(0, 1)``; b_start: initial decay in ``(0, 1)`` (paper: ``b1``).
        warmup: ``T_b3``, an int ``>= 1``.

    Examples:
        >>> import functional_opt as fo
        >>> f = fo.ademamix_b3_schedule(0.9999, 100, b_start=0.9)
        >>> [round(float(f(c)), 4) for c in (0, 100, 500)]
        [0.9, 0.9999, 0.9999]
    """
    check_number("b3", b3, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("b_start", b_start, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_int("warmup", warmup, low=1)
    lb, ls = math.log(b3), math.log(b_start)

    def schedule(count):
        f = jnp.minimum(jnp.asarray(count, jnp.float32) / warmup, 1.0)
        return jnp.minimum(jnp.exp(ls * lb / ((1 - f) * lb + f * ls)), b3)

    return schedule
