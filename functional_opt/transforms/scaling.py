"""Scaling: by a constant, by a schedule, and by the (negated) learning rate."""

from __future__ import annotations

from typing import Any, NamedTuple

from functional_opt import _tree
from functional_opt._hparams import (
    ScalarOrSchedule,
    check_number,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import EmptyState, GradientTransformation, init_empty_state

# optax's state name of scale: EmptyState itself, as in optax.
ScaleState = EmptyState


def _scale_tree(where, updates, factor):
    u, _ = _tree.map_moments(where, lambda g: (g * factor,), updates)
    return u


def scale(step_size) -> GradientTransformation:
    """Multiply the updates by a constant.

    Update rule: ``u <- step_size * u``. The product is formed in at least
    float32 and returned in the update's dtype. ``step_size`` may be a Python
    number or an array (or tracer), so it can be vmapped. For a step size that
    changes with the step, use :func:`scale_by_schedule`.

    Args:
        step_size: the factor (any real number, NaN excluded).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.scale(-0.5).update(jnp.ones(2), fo.EmptyState())[0]
        Array([-0.5, -0.5], dtype=float32)

    References:
        optax.scale.
    """
    check_number("step_size", step_size)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return _scale_tree("scale", updates, value_at(step_size, None)), state

    return GradientTransformation(init_empty_state, update)


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`: the int32 step count."""

    count: Any


def _scale_by_count(where, factor_at):
    """``u <- factor_at(count) * u``, then ``count <- count + 1`` (state :class:`ScaleByScheduleState`)."""

    def init(params):
        del params
        return ScaleByScheduleState(count=zero_count())

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return _scale_tree(where, updates, factor_at(state.count)), ScaleByScheduleState(safe_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_schedule(step_size_fn) -> GradientTransformation:
    """Multiply the updates by ``step_size_fn(count)``.

    Update rule: ``u <- step_size_fn(count) * u`` then ``count <- count + 1``.
    The schedule sees the pre-increment count, so the first update uses
    ``step_size_fn(0)``. The count is int32 and saturates at ``2**31 - 1``.

    Args:
        step_size_fn: a callable ``count -> scalar``.

    State: :class:`ScaleByScheduleState` ``(count,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_schedule(lambda count: 1.0 / (count + 1))
        >>> s = t.init(jnp.zeros(2))
        >>> u, s = t.update(jnp.ones(2), s)
        >>> u, _ = t.update(jnp.ones(2), s)
        >>> u
        Array([0.5, 0.5], dtype=float32)

    References:
        optax.scale_by_schedule.
    """
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be a callable count -> value, got {step_size_fn!r}")

    return _scale_by_count("scale_by_schedule", lambda count: value_at(step_size_fn, count))


def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *, flip_sign: bool = True) -> GradientTransformation:
    """Scale the updates by the learning rate, negated for descent.

    Update rule: ``u <- -learning_rate(count) * u`` (``+`` when
    ``flip_sign=False``), then ``count <- count + 1``; a constant or an array
    learning rate is used as it is.

    This is where every optimizer's sign flip lives: updates are *added* to
    the parameters.

    Args:
        learning_rate: a number ``>= 0``, an array/tracer, or a schedule
            ``count -> value``.
        flip_sign: negate the scaled updates (default ``True``).

    State: :class:`ScaleByScheduleState` ``(count,)`` whether the learning
    rate is a constant or a schedule, so a checkpoint restores across that
    change (optax keeps an empty state for a constant).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_learning_rate(0.1)
        >>> t.update(jnp.ones(2), t.init(None))[0]
        Array([-0.1, -0.1], dtype=float32)

    References:
        optax.scale_by_learning_rate.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    sign = -1.0 if flip_sign else 1.0
    return _scale_by_count("scale_by_learning_rate", lambda count: sign * value_at(learning_rate, count))
