"""Basic decays: constant, linear, polynomial, exponential, step and inverse-time decay,
and linear warmup followed by a constant or an exponential decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from functional_opt.schedules._steps import (
    as_float,
    broadcast_value,
    check_steps,
    check_value,
    is_int,
    periods_since,
    steps_in,
)
from functional_opt.schedules.combine import join_schedules


def _remaining(count, begin, length):
    """``1 - clip(count - begin, 0, length) / length``, exactly 0 at the end (also when XLA fuses an FMA)."""
    t = steps_in(count, begin, length)
    return jnp.where(t >= length, 0.0, 1 - t / length)


def constant_schedule(value: Any) -> Callable:
    """A schedule that always returns ``value``.

    Rule: ``value(count) = value`` (as at least float32, broadcast to the shape
    of ``count``).

    Args:
        value: any real number or array.

    Examples:
        >>> import functional_opt as fo
        >>> float(fo.constant_schedule(0.5)(1000))
        0.5

    References:
        ``optax.constant_schedule``.
    """
    check_value("value", value)
    return lambda count: broadcast_value(value, count)


def polynomial_schedule(init_value, end_value, power, transition_steps, transition_begin=0) -> Callable:
    """Polynomial transition from ``init_value`` to ``end_value``.

    Rule, with ``I = init_value``, ``E = end_value``, ``B = transition_begin``,
    ``T = transition_steps``, ``p = power``::

        t = clip(count - B, 0, T)
        value = (I - E) * (1 - t / T) ** p + E

    so ``value = I`` for ``count <= B`` and ``E`` for ``count >= B + T``.

    Conventions: optax's formula and boundaries. optax silently returns a
    constant for ``transition_steps <= 0`` and clamps a negative
    ``transition_begin`` to 0; here both are a ``ValueError``.

    Args:
        init_value, end_value: numbers or arrays.
        power: the exponent ``p`` (number or array; ``p >= 0`` for numbers).
        transition_steps: int ``T >= 1``.
        transition_begin: int ``B >= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 99)]
        [1.0, 0.25, 0.0, 0.0]

    References:
        ``optax.polynomial_schedule``; ``tf.keras.optimizers.schedules.PolynomialDecay``.
    """
    check_value("init_value", init_value)
    check_value("end_value", end_value)
    check_value("power", power, low=0.0)
    check_steps("transition_steps", transition_steps, low=1)
    check_steps("transition_begin", transition_begin, low=0)

    def schedule(count):
        return (init_value - end_value) * _remaining(count, transition_begin, transition_steps) ** as_float(
            power
        ) + end_value

    return schedule


def linear_schedule(init_value, end_value, transition_steps, transition_begin=0) -> Callable:
    """Linear transition from ``init_value`` to ``end_value``.

    Rule: ``value = (I - E) * (1 - clip(count - B, 0, T) / T) + E`` (the
    :func:`polynomial_schedule` with ``power = 1``, same symbols; written so
    that ``value == E`` exactly from ``count = B + T`` on).

    Args:
        init_value, end_value: numbers or arrays.
        transition_steps: int ``T >= 1``.
        transition_begin: int ``B >= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.linear_schedule(0.0, 1.0, transition_steps=4, transition_begin=2)
        >>> [round(float(s(c)), 2) for c in (0, 2, 3, 6, 9)]
        [0.0, 0.0, 0.25, 1.0, 1.0]

    References:
        ``optax.linear_schedule``.
    """
    check_value("init_value", init_value)
    check_value("end_value", end_value)
    check_steps("transition_steps", transition_steps, low=1)
    check_steps("transition_begin", transition_begin, low=0)

    def schedule(count):
        return (init_value - end_value) * _remaining(count, transition_begin, transition_steps) + end_value

    return schedule


def exponential_decay(
    init_value, transition_steps, decay_rate, transition_begin=0, staircase=False, end_value=None
) -> Callable:
    """Continuous or staircase exponential decay: ``init_value * decay_rate ** (count / transition_steps)``.

    Rule, with ``I = init_value``, ``r = decay_rate``, ``B = transition_begin``,
    ``T = transition_steps``::

        p = max(count - B, 0) / T          (floor(p) when staircase)
        value = I * r ** p

    then clipped below at ``end_value`` when ``r < 1`` (above when ``r > 1``).

    Conventions: optax's signature and semantics. With ``T = 1`` this is
    ``torch.optim.lr_scheduler.ExponentialLR(gamma=r)``; with ``staircase``
    it is torch's ``StepLR(step_size=T, gamma=r)``. optax returns a constant
    for ``T <= 0`` or ``r == 0``; here those are a ``ValueError``.

    Args:
        init_value: number or array.
        transition_steps: int ``T >= 1``.
        decay_rate: ``r > 0`` (number or array).
        transition_begin: int ``B >= 0``: hold ``I`` until then.
        staircase: decay in discrete jumps every ``T`` steps.
        end_value: ``None`` or the bound the value stops at.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 20)]
        [1.0, 0.7071, 0.5, 0.25]

    References:
        ``optax.exponential_decay``; ``tf.keras.optimizers.schedules.ExponentialDecay``.
    """
    check_value("init_value", init_value)
    check_steps("transition_steps", transition_steps, low=1)
    check_value("decay_rate", decay_rate, low=0.0, low_inclusive=False)
    check_steps("transition_begin", transition_begin, low=0)
    if end_value is not None:
        check_value("end_value", end_value)

    def schedule(count):
        p = periods_since(count, transition_begin, transition_steps, floor=staircase)
        value = init_value * jnp.power(as_float(decay_rate), p)
        if end_value is not None:
            value = jnp.where(as_float(decay_rate) < 1, jnp.maximum(value, end_value), jnp.minimum(value, end_value))
        return value

    return schedule


def step_decay_schedule(init_value, step_size, decay_factor) -> Callable:
    """Step decay: multiply by ``decay_factor`` every ``step_size`` steps.

    Rule: ``value = init_value * decay_factor ** floor(count / step_size)``.

    Conventions: the value at ``count`` is torch's ``StepLR(step_size,
    gamma=decay_factor)`` learning rate after ``count`` scheduler steps; the
    first drop happens at ``count == step_size``. Equal to
    ``exponential_decay(init_value, step_size, decay_factor, staircase=True)``.

    Args:
        init_value: number or array.
        step_size: int ``>= 1``.
        decay_factor: ``>= 0`` (number or array).

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.step_decay_schedule(1.0, step_size=10, decay_factor=0.1)
        >>> [round(float(s(c)), 4) for c in (0, 9, 10, 25)]
        [1.0, 1.0, 0.1, 0.01]

    References:
        ``torch.optim.lr_scheduler.StepLR``; Krizhevsky et al., "ImageNet
        Classification with Deep Convolutional Neural Networks", 2012 (divide by
        10 on plateaus).
    """
    check_value("init_value", init_value)
    check_steps("step_size", step_size, low=1)
    check_value("decay_factor", decay_factor, low=0.0)

    def schedule(count):
        return init_value * jnp.power(as_float(decay_factor), periods_since(count, 0, step_size))

    return schedule


def inverse_time_decay(init_value, transition_steps, decay_rate, transition_begin=0, staircase=False) -> Callable:
    """Inverse-time decay: ``value = init_value / (1 + decay_rate * p)``.

    Rule, with ``p = max(count - transition_begin, 0) / transition_steps``
    (``floor(p)`` when ``staircase``). With ``decay_rate = 1`` and
    ``transition_steps = 1`` this is the classic ``eta_0 / (1 + t)``
    Robbins-Monro rate.

    Args:
        init_value: number or array.
        transition_steps: int ``>= 1``.
        decay_rate: ``>= 0`` (number or array).
        transition_begin: int ``>= 0``.
        staircase: decay in discrete jumps.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.inverse_time_decay(1.0, transition_steps=10, decay_rate=1.0)
        >>> [round(float(s(c)), 4) for c in (0, 10, 30)]
        [1.0, 0.5, 0.25]

    References:
        ``tf.keras.optimizers.schedules.InverseTimeDecay``; Robbins & Monro,
        "A Stochastic Approximation Method", 1951.
    """
    check_value("init_value", init_value)
    check_steps("transition_steps", transition_steps, low=1)
    check_value("decay_rate", decay_rate, low=0.0)
    check_steps("transition_begin", transition_begin, low=0)

    def schedule(count):
        p = periods_since(count, transition_begin, transition_steps, floor=staircase)
        return init_value / (1 + as_float(decay_rate) * p)

    return schedule


def warmup_constant_schedule(init_value, peak_value, warmup_steps) -> Callable:
    """Linear warmup from ``init_value`` to ``peak_value``, then constant.

    Rule: ``value = I + (P - I) * min(count, W) / W`` (``W = warmup_steps``).
    ``warmup_steps = 0`` means no warmup: ``peak_value`` throughout (optax
    would hold ``init_value`` forever in that case).

    Args:
        init_value, peak_value: numbers or arrays.
        warmup_steps: int ``>= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
        >>> [round(float(s(c)), 2) for c in (0, 2, 4, 100)]
        [0.0, 0.5, 1.0, 1.0]

    References:
        ``optax.warmup_constant_schedule``; Goyal et al., "Accurate, Large
        Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    """
    check_steps("warmup_steps", warmup_steps, low=0)
    if is_int(warmup_steps) and warmup_steps == 0:
        check_value("init_value", init_value)
        return constant_schedule(peak_value)
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_exponential_decay_schedule(
    init_value,
    peak_value,
    warmup_steps,
    transition_steps,
    decay_rate,
    transition_begin=0,
    staircase=False,
    end_value=None,
) -> Callable:
    """Linear warmup to ``peak_value``, then :func:`exponential_decay` from it.

    Rule: ``join_schedules([linear_schedule(I, P, W), exponential_decay(P,
    transition_steps, decay_rate, transition_begin, staircase, end_value)],
    [W])``: the decay's own count starts at 0 when the warmup ends.

    Args:
        init_value, peak_value: numbers or arrays.
        warmup_steps: int ``W >= 0`` (0: no warmup).
        transition_steps, decay_rate, transition_begin, staircase, end_value:
            as in :func:`exponential_decay`.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.warmup_exponential_decay_schedule(0.0, 1.0, 2, 10, 0.5)
        >>> [round(float(s(c)), 4) for c in (0, 1, 2, 12)]
        [0.0, 0.5, 1.0, 0.5]

    References:
        ``optax.warmup_exponential_decay_schedule``.
    """
    decay = exponential_decay(peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value)
    check_steps("warmup_steps", warmup_steps, low=0)
    if is_int(warmup_steps) and warmup_steps == 0:
        check_value("init_value", init_value)
        return decay
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), decay], [warmup_steps])
