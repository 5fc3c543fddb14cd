"""Piecewise schedules: constant jumps, or linear/cosine interpolation between scaled values."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from functional_opt.schedules._steps import broadcast_value, check_steps, check_value, interpolate_segments


def _checked_boundaries(boundaries_and_scales, name: str = "boundaries_and_scales"):
    if boundaries_and_scales is None:
        return [], []
    if not isinstance(boundaries_and_scales, dict):
        raise TypeError(f"{name} must be a dict {{step: scale}} or None, got {boundaries_and_scales!r}")
    items = sorted(boundaries_and_scales.items())
    for b, s in items:
        check_steps(f"{name} key {b!r}", b, low=0)
        check_value(f"{name}[{b!r}]", s, low=0.0)
    return [b for b, _ in items], [s for _, s in items]


def piecewise_constant_schedule(init_value, boundaries_and_scales=None) -> Callable:
    """Piecewise constant: multiply by ``scale_i`` from step ``b_i`` on.

    Rule: ``value = init_value * prod_{i: count >= b_i} scale_i`` for
    ``boundaries_and_scales = {b_i: scale_i}``. At ``count == b_i`` the jump
    has already happened (optax's convention; torch's ``MultiStepLR`` with
    ``milestones=[b_i]`` and a common ``gamma`` is the special case of equal
    scales). ``None`` (optax's default) gives a constant schedule.

    Args:
        init_value: number or array.
        boundaries_and_scales: ``None`` or a dict of int steps ``>= 0`` to
            scales ``>= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.piecewise_constant_schedule(1.0, {10: 0.1, 20: 0.5})
        >>> [round(float(s(c)), 4) for c in (9, 10, 19, 20)]
        [1.0, 0.1, 0.1, 0.05]

    References:
        ``optax.piecewise_constant_schedule``; ``torch.optim.lr_scheduler.MultiStepLR``.
    """
    check_value("init_value", init_value)
    boundaries, scales = _checked_boundaries(boundaries_and_scales)

    def schedule(count):
        count = jnp.asarray(count)
        value = broadcast_value(init_value, count)
        for b, s in zip(boundaries, scales):
            value = jnp.where(count >= b, value * s, value)
        return value

    return schedule


def piecewise_interpolate_schedule(interpolate_type: str, init_value, boundaries_and_scales=None) -> Callable:
    """Interpolate (linearly or by a half cosine) between accumulated scaled values.

    Rule: with sorted boundaries ``b_1 < ... < b_n``, ``b_0 = 0``, values
    ``v_0 = init_value`` and ``v_i = v_{i-1} * scale_i``::

        value = interp(v_i, v_{i+1}, (count - b_i) / (b_{i+1} - b_i))   for b_i <= count < b_{i+1}
        value = v_n                                                       for count >= b_n

    with ``interp(a, b, p) = a + (b - a) p`` (``'linear'``) or
    ``b + (a - b) (1 + cos(pi p)) / 2`` (``'cosine'``). Interpolation is
    between the *accumulated* values, as in optax.

    Args:
        interpolate_type: ``'linear'`` or ``'cosine'``.
        init_value: number or array.
        boundaries_and_scales: ``None`` or a dict of int steps ``>= 0`` to
            scales ``>= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.piecewise_interpolate_schedule('linear', 1.0, {4: 0.1, 8: 0.01})
        >>> [round(float(s(c)), 5) for c in (0, 2, 4, 6, 8, 10)]
        [1.0, 0.55, 0.1, 0.0505, 0.001, 0.001]

    References:
        ``optax.piecewise_interpolate_schedule``.
    """
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError(f"interpolate_type must be 'linear' or 'cosine', got {interpolate_type!r}")
    check_value("init_value", init_value)
    boundaries, scales = _checked_boundaries(boundaries_and_scales)
    values = [init_value]
    for s in scales:
        values.append(values[-1] * s)
    if not boundaries:
        return lambda count: broadcast_value(init_value, count)
    return interpolate_segments(interpolate_type, values, boundaries)
