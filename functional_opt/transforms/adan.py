"""Adan: adaptive Nesterov momentum from gradient differences."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_dtype,
    check_number,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation


class ScaleByAdanState(NamedTuple):
    """State of :func:`scale_by_adan` (optax's fields): three moments, the previous gradient ``g``, the count ``t``."""

    m: Any
    v: Any
    n: Any
    g: Any
    t: Any


def scale_by_adan(
    b1=0.98,
    b2=0.92,
    b3=0.99,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with Adan's moments, as in the paper's Algorithm 1.

    Update rule, ``t = count + 1``, ``d = g - g_prev`` (``d = 0`` at the first
    step, where ``g_prev = g``)::

        m <- b1 * m + (1 - b1) * g
        v <- b2 * v + (1 - b2) * d
        n <- b3 * n + (1 - b3) * (g + b2 * d)**2
        u  = (m / (1 - b1**t) + b2 * v / (1 - b2**t)) / (sqrt(n / (1 - b3**t) + eps_root) + eps)

    The ``b_i`` are decay rates (``b_i = 1 - beta_i`` of the paper, whose
    ``beta = (0.02, 0.08, 0.01)``). The coefficient of the difference term
    in ``n`` and ``u`` is the paper's ``1 - beta_2``, i.e. ``b2`` here.

    ===============================  ==============  ==================  =====================
    choice                           this library    official (sail-sg)  optax 0.2.x
    ===============================  ==============  ==================  =====================
    difference coefficient           ``b2`` (0.92)   ``beta2`` (0.92)    ``1 - b2`` (0.08, bug)
    bias correction                  all three       all three           all three
    eps                              outside root    outside root        outside root
    ===============================  ==============  ==================  =====================

    optax's ``scale_by_adan`` uses ``1 - b2`` for the difference term in both
    ``n`` and ``u`` (google-deepmind/optax pull request #1715); this library
    follows the paper and the official code, so the two agree only on the first
    step (where ``d = 0``).

    Args:
        b1: decay of the gradient average, in ``[0, 1)`` (number, array or schedule).
        b2: decay of the difference average, in ``[0, 1)``.
        b3: decay of the squared-term average, in ``[0, 1)``.
        eps: ``>= 0``, outside the root.
        eps_root: ``>= 0``, inside the root.
        mu_dtype: dtype of ``m``, ``v`` and ``g``; default the param dtype
            (``n`` is kept in the param dtype).

    State: :class:`ScaleByAdanState` ``(m, v, n, g, t)`` (optax's field names
    and order: ``g`` is the previous gradient, ``t`` the int32 step count).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_adan()
        >>> u, s = t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))
        >>> u.round(4)  # the first step is sign(g)
        Array([ 1., -1.], dtype=float32)

    References:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster
        Optimizing Deep Models", IEEE TPAMI 2024 (arXiv:2208.06677).
    """
    for name, b in (("b1", b1), ("b2", b2), ("b3", b3)):
        check_number(name, b, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)

    def init(params):
        z = _tree.zeros_like(params, mu_dtype)
        return ScaleByAdanState(m=z, v=z, n=_tree.real_dtype_zeros(params), g=z, t=zero_count())

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2, k3 = (_tree.decay_scalars(b, state.t) for b in (b1, b2, b3))
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)
        first = state.t == 0

        def leaf(g, m, v, n, g_prev):
            d = jnp.where(first, 0.0, g - g_prev)
            m = _tree.ema(m, g, k1.omb)
            v = _tree.ema(v, d, k2.omb)
            n = _tree.ema(n, _tree.abs_sq(g + k2.beta * d), k3.omb)
            u = (m * k1.c + k2.beta * v * k2.c) / (jnp.sqrt(n * k3.c + eps_root_) + eps_)
            return u, m, v, n, g

        u, (m, v, n, g) = _tree.map_moments("scale_by_adan", leaf, updates, m=state.m, v=state.v, n=state.n, g=state.g)
        return u, ScaleByAdanState(m=m, v=v, n=n, g=g, t=safe_increment(state.t))

    return GradientTransformation(init, update)
