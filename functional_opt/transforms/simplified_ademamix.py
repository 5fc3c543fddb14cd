"""Simplified AdEMAMix: one un-normalised momentum sum plus the current gradient over Adam's denominator."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """State of :func:`scale_by_simplified_ademamix` (optax's fields): int32 step ``t``, ``m`` and ``n``."""

    t: Any
    m: Any
    n: Any


def scale_by_simplified_ademamix(b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0) -> GradientTransformation:
    """Rescale updates as simplified AdEMAMix.

    Update rule (Morwani et al., the simplified form), ``k = t + 1``::

        m <- b1 * m + g                   (a sum, no (1 - b1) factor)
        n <- b2 * n + (1 - b2) * g**2
        n_hat = n / (1 - b2**k)
        u = (m + alpha(t) * g) / (sqrt(n_hat + eps_root) + eps)

    Conventions: as ``optax.contrib.scale_by_simplified_ademamix``
    (arguments, defaults, state fields); ``alpha`` may be a schedule of the
    pre-increment step ``t``. With ``alpha = 0`` it is Adam with a
    theory-style (un-averaged) momentum.

    Args:
        b1: momentum decay in ``[0, 1)``.
        b2: second-moment decay in ``[0, 1)``.
        alpha: weight of the current gradient (number, array or schedule).
        eps, eps_root: ``>= 0``, outside and inside the root.

    State: :class:`ScaleBySimplifiedAdEMAMixState` ``(t, m, n)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_simplified_ademamix(alpha=1.0)
        >>> t.update(jnp.array([2.0]), t.init(jnp.zeros(1)))[0]  # (2 + 2) / 2
        Array([2.], dtype=float32)

    References:
        Morwani, Vyas, Kakade et al., "Connections between Schedule-Free
        Optimizers, AdEMAMix, and Accelerated SGD Variants", 2025.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False)
    check_number("alpha", alpha, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_simplified_ademamix", "the parameter", params)
        return ScaleBySimplifiedAdEMAMixState(
            t=zero_count(), m=_tree.zeros_like(params), n=_tree.real_dtype_zeros(params)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k2 = _tree.decay_scalars(b2, state.t)
        b1_, a = value_at(b1, None), value_at(alpha, state.t)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, m, n):
            m = b1_ * m + g
            n = _tree.ema(n, _tree.abs_sq(g), k2.omb)
            return (m + a * g) / (jnp.sqrt(n * k2.c + eps_root_) + eps_), m, n

        u, (m, n) = _tree.map_moments("scale_by_simplified_ademamix", leaf, updates, m=state.m, n=state.n)
        return u, ScaleBySimplifiedAdEMAMixState(t=safe_increment(state.t), m=m, n=n)

    return GradientTransformation(init, update)
