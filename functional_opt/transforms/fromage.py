"""Fromage: steps of fixed relative size in the Frobenius norm, per layer (leaf)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat


class ScaleByFromageState(NamedTuple):
    """State of :func:`scale_by_fromage`: the int32 count (for a scheduled rate)."""

    count: Any


def _norm_at_least(x, min_norm):
    n = jnp.sqrt(jnp.sum(_tree.abs_sq(x)))
    return jnp.where(n <= min_norm, min_norm, n)


def scale_by_fromage(learning_rate, min_norm=1e-6) -> GradientTransformation:
    """The whole Fromage step (learning rate and sign included), leaf by leaf.

    Update rule per leaf ``W`` with gradient ``g``, ``eta = learning_rate``::

        r = max(||W||, min_norm) / max(||g||, min_norm)      (1 if a norm is 0)
        W <- (W - eta * r * g) / sqrt(1 + eta**2)

    returned as the additive update
    ``u = -eta / sqrt(1 + eta**2) * r * g + (1 / sqrt(1 + eta**2) - 1) * W``.
    The ``sqrt(1 + eta**2)`` shrink keeps the weight norms from growing.
    Because that shrink depends on ``eta``, the step is not "a direction
    times the learning rate": this transform takes the learning rate and
    makes the descent sign itself, and :func:`functional_opt.fromage` has no
    :func:`scale_by_learning_rate` after it.
    This equals optax's ``fromage`` (its trust ratio, learning rate and
    negative weight decay, chained); torch has no Fromage.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        min_norm: ``>= 0``, the floor for both norms (0 disables it; a zero
            norm then gives ``r = 1``).

    State: :class:`ScaleByFromageState` ``(count,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_fromage(learning_rate=0.0)
        >>> p = jnp.array([3.0, 4.0])
        >>> t.update(jnp.array([1.0, 0.0]), t.init(p), p)[0]
        Array([0., 0.], dtype=float32)

    References:
        Bernstein et al., "On the distance between two neural networks and
        the stability of learning", NeurIPS 2020.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("min_norm", min_norm, low=0.0)

    def init(params):
        check_not_flat(params, "scale_by_fromage")
        del params
        return ScaleByFromageState(count=zero_count())

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_fromage")
        del extra_args
        eta = value_at(learning_rate, state.count)
        mn = value_at(min_norm, None)
        mult = jax.lax.rsqrt(1 + eta * eta)  # 1 / sqrt(1 + eta**2)

        def leaf(g, W):
            W_norm, g_norm = _norm_at_least(W, mn), _norm_at_least(g, mn)
            r = jnp.where((W_norm == 0) | (g_norm == 0), 1.0, W_norm / jnp.where(g_norm == 0, 1.0, g_norm))
            return (-eta * mult * r * g + (mult - 1) * W,)

        u, _ = _tree.map_moments("scale_by_fromage", leaf, updates, params=params)
        return u, ScaleByFromageState(count=safe_increment(state.count))

    return GradientTransformation(init, update)
