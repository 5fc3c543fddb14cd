"""Decoupled weight decay: add ``weight_decay * params`` to the updates."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


from functional_opt import _tree
from functional_opt._hparams import (
    check_number,
    compute_dtype,
    is_schedule,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import EmptyState, GradientTransformation


class AddDecayedWeightsState(NamedTuple):
    """State of :func:`add_decayed_weights` when ``weight_decay`` is a schedule."""

    count: Any


def add_decayed_weights(weight_decay=0.0, mask: Any | Callable[[Any], Any] | None = None) -> GradientTransformation:
    """Add decoupled weight decay: ``u <- u + weight_decay * params``.

    Placed before :func:`scale_by_learning_rate` (as in :func:`adamw`), the
    parameter update becomes ``p <- p - lr * (adam_update + weight_decay * p)``:
    the decay is *decoupled* from the adaptive scaling (Loshchilov & Hutter).
    This differs from an L2 penalty ``0.5 * weight_decay * ||p||**2`` added to
    the loss, whose gradient ``weight_decay * p`` would be divided by Adam's
    ``sqrt(nu)``; under plain SGD the two are identical.

    Args:
        weight_decay: the coefficient ``>= 0`` (number, array or schedule).
        mask: a tree of bools with the params' structure, or a function
            ``params -> tree of bools``; leaves marked ``False`` are not
            decayed (e.g. biases and norm scales).

    State: :class:`~functional_opt.EmptyState`, or
    :class:`AddDecayedWeightsState` ``(count,)`` for a scheduled decay.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.add_decayed_weights(0.1)
        >>> p = {"w": jnp.full(2, 3.0)}
        >>> t.update({"w": jnp.zeros(2)}, t.init(p), p)[0]["w"]
        Array([0.3, 0.3], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)
    scheduled = is_schedule(weight_decay)

    def init(params):
        del params
        return AddDecayedWeightsState(count=zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        wd = value_at(weight_decay, state.count if scheduled else None)

        def leaf(u, p):
            dt = compute_dtype(u.dtype, p.dtype)
            return (u.astype(dt) + wd.astype(dt) * p.astype(dt)).astype(u.dtype)

        new = _tree.map_masked_with_params("add_decayed_weights", leaf, updates, params, mask)
        new_state = AddDecayedWeightsState(count=safe_increment(state.count)) if scheduled else state
        return new, new_state

    return GradientTransformation(init, update)
