"""Decoupled weight decay: add ``weight_decay * params`` to the updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from functional_opt import _tree
from functional_opt._hparams import check_number, concrete_scalar, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class AddDecayedWeightsState(NamedTuple):
    """State of :func:`add_decayed_weights`: the int32 step count.

    Kept whether ``weight_decay`` is a constant or a schedule, so the state has
    one structure (optax keeps an empty state for a constant).
    """

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
        mask: a tree of bools with the params' structure or a prefix of it
            (optax's semantics), or a function ``params -> such a tree``;
            leaves marked ``False`` are not decayed (e.g. biases and norm
            scales).

    State: :class:`AddDecayedWeightsState` ``(count,)``.

    Examples:
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

    def init(params):
        del params
        return AddDecayedWeightsState(count=zero_count())

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if params is None and concrete_scalar(weight_decay) == 0.0:  # nothing to add: no params needed
            return updates, AddDecayedWeightsState(count=safe_increment(state.count))
        wd = value_at(weight_decay, state.count)
        u, _ = _tree.map_moments("add_decayed_weights", lambda g, p: (g + wd * p,), updates, params=params, mask=mask)
        return u, AddDecayedWeightsState(count=safe_increment(state.count))

    return GradientTransformation(init, update)
