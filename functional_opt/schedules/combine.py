"""Combinators: run schedules one after another, or multiply them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from functional_opt._hparams import check_number, is_schedule
from functional_opt.schedules._steps import as_float, check_steps, is_int


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[int]) -> Callable:
    """Run ``schedules`` one after another, switching at ``boundaries``.

    Rule, with ``b_0 = 0`` and ``boundaries = [b_1, ..., b_n]``::

        value(count) = schedules[i](count - b_i)   for b_i <= count < b_{i+1}

    Each schedule sees the steps since its own boundary, so it starts from
    its own ``count = 0``. At ``count == b_i`` the new schedule is already in
    force (optax's convention).

    Args:
        schedules: a non-empty sequence of schedules ``count -> value``.
        boundaries: ``len(schedules) - 1`` non-decreasing int step counts
            ``>= 0`` (Python ints; arrays are accepted unchecked).

    Returns:
        A schedule ``count -> value``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.join_schedules([fo.constant_schedule(1.0),
        ...                        fo.linear_schedule(1.0, 0.0, 4)], [10])
        >>> [round(float(s(c)), 2) for c in (9, 10, 12, 20)]
        [1.0, 1.0, 0.5, 0.0]

    References:
        ``optax.join_schedules``.
    """
    schedules = list(schedules)
    boundaries = list(boundaries)
    if not schedules:
        raise ValueError("join_schedules needs at least one schedule, got an empty sequence")
    for i, s in enumerate(schedules):
        if not is_schedule(s):
            raise TypeError(f"schedules[{i}] must be a callable count -> value, got {s!r}")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, got {len(boundaries)}"
        )
    for i, b in enumerate(boundaries):
        check_steps(f"boundaries[{i}]", b)
    ints = [b for b in boundaries if is_int(b)]
    if len(ints) == len(boundaries) and any(b1 > b2 for b1, b2 in zip(ints, ints[1:])):
        raise ValueError(f"boundaries must be non-decreasing, got {boundaries!r}")

    def schedule(count):
        count = jnp.asarray(count)
        value = as_float(schedules[0](count))
        for boundary, sched in zip(boundaries, schedules[1:]):
            value = jnp.where(count < boundary, value, as_float(sched(count - boundary)))
        return value

    return schedule


def multiply_schedules(schedules: Sequence) -> Callable:
    """The pointwise product of schedules (and constants).

    Rule: ``value(count) = prod_i s_i(count)``, where a number or an array
    ``s_i`` is a constant factor. Useful to put a warmup factor in front of
    any decay, or to modulate a decay with a cycle.

    Args:
        schedules: a non-empty sequence of schedules ``count -> value``,
            numbers or arrays.

    Returns:
        A schedule ``count -> value``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.multiply_schedules([fo.linear_schedule(0.0, 1.0, 10),
        ...                            fo.exponential_decay(2.0, 10, 0.5)])
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 20)]
        [0.0, 0.7071, 1.0, 0.5]

    References:
        A product of schedules as in ``torch.optim.lr_scheduler.ChainedScheduler``
        for multiplicative schedulers.
    """
    schedules = list(schedules)
    if not schedules:
        raise ValueError("multiply_schedules needs at least one schedule, got an empty sequence")
    for i, s in enumerate(schedules):
        if not is_schedule(s):
            check_number(f"schedules[{i}]", s, allow_schedule=True)

    def schedule(count):
        count = jnp.asarray(count)
        value = jnp.ones(jnp.shape(count), jnp.float32)
        for s in schedules:
            value = value * as_float(s(count) if is_schedule(s) else s)
        return value

    return schedule
