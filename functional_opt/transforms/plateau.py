"""Reduce on plateau: shrink the step when the monitored loss stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, compute_dtype, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ReduceLROnPlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau` (all scalars; optax's field names).

    ``scale``: the current multiplier; ``best_value``: the best (lowest)
    accumulated loss so far; ``plateau_count``: evaluations without
    improvement; ``cooldown_count``: evaluations left in the cooldown;
    ``count``: losses accumulated towards the next evaluation; ``avg_value``:
    their running mean.
    """

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array
    cooldown_count: jax.Array
    count: Any
    avg_value: jax.Array


def reduce_on_plateau(
    factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1, min_scale=0.0
) -> GradientTransformation:
    """Multiply the updates by a scale that drops by ``factor`` when the loss plateaus.

    Reads the loss from ``update(updates, state, params, value=loss)``. Every
    ``accumulation_size`` calls, the mean ``v`` of the losses seen is
    evaluated::

        improved = v < (1 - rtol) * best - atol
        best <- v if improved;  plateau <- 0 if improved else plateau + 1
        if cooldown_count > 0:   cooldown_count -= 1;  plateau <- 0
        elif plateau >= patience:
            scale <- max(scale * factor, min_scale);  plateau <- 0;  cooldown_count <- cooldown
        u <- scale * u

    The scale produced by this call's evaluation already multiplies this
    call's updates.

    Conventions (place it after the learning rate, e.g.
    ``chain(adam(lr), reduce_on_plateau())``, since it scales the final step):

    ==================  ================================  ===============================
    choice              this library = optax               torch ``ReduceLROnPlateau``
    ==================  ================================  ===============================
    reduce after        ``patience`` bad evaluations       ``patience + 1`` bad epochs
    improvement         ``v < (1 - rtol) best - atol``     ``threshold_mode`` rel *or* abs
    floor               ``min_scale`` (relative)           ``min_lr`` (absolute)
    ==================  ================================  ===============================

    So torch's ``(patience=p, threshold=t, threshold_mode='rel')`` is
    ``(patience=p + 1, rtol=t, atol=0)`` here (``'abs'``: ``rtol=0, atol=t``).

    Args:
        factor: multiplier in ``(0, 1)`` applied at each reduction.
        patience: evaluations without improvement before a reduction (``>= 1``).
        rtol: relative improvement threshold in ``[0, 1]``.
        atol: absolute improvement threshold ``>= 0``.
        cooldown: evaluations after a reduction during which plateaus are not
            counted (``>= 0``).
        accumulation_size: losses averaged per evaluation (``>= 1``); use more
            than 1 when ``value`` is a noisy minibatch loss.
        min_scale: the scale never drops below this (``>= 0``).

    All of them may be Python numbers (validated here) or arrays/tracers.

    State: :class:`ReduceLROnPlateauState`, scalars of at least float32 and
    int32 only.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.reduce_on_plateau(factor=0.5, patience=2)
        >>> s = t.init(jnp.zeros(1))
        >>> for loss in [1.0, 1.0, 1.0]:
        ...     u, s = t.update(jnp.ones(1), s, value=loss)
        >>> u, float(s.scale)
        (Array([0.5], dtype=float32), 0.5)

    References:
        ``torch.optim.lr_scheduler.ReduceLROnPlateau``;
        ``optax.contrib.reduce_on_plateau``.
    """
    check_number("factor", factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("patience", patience, low=1)
    check_number("rtol", rtol, low=0.0, high=1.0)
    check_number("atol", atol, low=0.0)
    check_number("cooldown", cooldown, low=0)
    check_number("accumulation_size", accumulation_size, low=1)
    check_number("min_scale", min_scale, low=0.0)
    if isinstance(rtol, (int, float)) and isinstance(atol, (int, float)) and rtol == 0 and atol == 0:
        raise ValueError("at least one of rtol and atol must be > 0, got rtol=0 and atol=0")

    def init(params):
        dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(params) if hasattr(x, "dtype")]
        dt = compute_dtype(*dtypes)
        return ReduceLROnPlateauState(
            scale=jnp.ones([], dt),
            best_value=jnp.full([], jnp.inf, dt),
            plateau_count=zero_count(),
            cooldown_count=zero_count(),
            count=zero_count(),
            avg_value=jnp.zeros([], dt),
        )

    def update(updates, state, params=None, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise TypeError("reduce_on_plateau reads the loss: call update(updates, state, params, value=loss)")
        dt = state.avg_value.dtype
        count = safe_increment(state.count)
        avg = state.avg_value + (jnp.asarray(value, dt) - state.avg_value) / count.astype(dt)
        evaluate = count >= jnp.asarray(accumulation_size)

        improved = avg < (1 - value_at(rtol, None, dt)) * state.best_value - value_at(atol, None, dt)
        best = jnp.where(improved, avg, state.best_value)
        plateau = jnp.where(improved, 0, safe_increment(state.plateau_count))
        in_cooldown = state.cooldown_count > 0
        reduce = jnp.logical_and(~in_cooldown, plateau >= jnp.asarray(patience))
        scale = jnp.maximum(
            jnp.where(reduce, state.scale * value_at(factor, None, dt), state.scale), value_at(min_scale, None, dt)
        )
        plateau = jnp.where(in_cooldown | reduce, 0, plateau)
        cooldown_count = jnp.where(in_cooldown, state.cooldown_count - 1, jnp.where(reduce, jnp.asarray(cooldown), 0))

        def pick(new, old):
            return jnp.where(evaluate, new, old).astype(old.dtype)

        new_state = ReduceLROnPlateauState(
            scale=pick(scale, state.scale),
            best_value=pick(best, state.best_value),
            plateau_count=pick(plateau, state.plateau_count),
            cooldown_count=pick(cooldown_count, state.cooldown_count),
            count=pick(jnp.zeros_like(count), count),
            avg_value=pick(jnp.zeros_like(avg), avg),
        )

        u, _ = _tree.map_moments("reduce_on_plateau", lambda g: (new_state.scale * g,), updates)
        return u, new_state

    return GradientTransformation(init, update)
