"""Inverse square root decay after a linear warmup (the Transformer's learning rate)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from functional_opt.schedules._steps import after_linear_warmup, as_float, check_steps, check_value, is_int


def inverse_sqrt_schedule(peak_value, warmup_steps, init_value=0.0, timescale=None) -> Callable:
    """Linear warmup, then decay as one over the square root of the step (the Transformer's rate).

    Rule, with ``W = warmup_steps``, ``tau = timescale`` (default ``W``)::

        value = I + (P - I) * count / W                     for count < W
        value = P * sqrt(tau / (tau + count - W))           for count >= W

    With ``I = 0`` and ``tau = W`` this is Vaswani et al.'s
    ``d**-0.5 * min(n**-0.5, n * W**-1.5)`` with ``n = count`` and
    ``P = (d W)**-0.5`` (so the first update, ``count = 0``, uses ``I``).

    Args:
        peak_value: number or array, reached at ``count = W``.
        warmup_steps: int ``W >= 0``.
        init_value: number or array.
        timescale: ``tau > 0`` (number or array); required when ``W = 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.inverse_sqrt_schedule(1.0, warmup_steps=100)
        >>> [round(float(s(c)), 4) for c in (0, 50, 100, 400, 10000)]
        [0.0, 0.5, 1.0, 0.5, 0.1]

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """
    check_value("peak_value", peak_value)
    check_value("init_value", init_value)
    check_steps("warmup_steps", warmup_steps, low=0)
    no_warmup = is_int(warmup_steps) and warmup_steps == 0
    if timescale is None:
        if no_warmup:
            raise ValueError("inverse_sqrt_schedule needs timescale > 0 when warmup_steps == 0")
        timescale = warmup_steps
    check_value("timescale", timescale, low=0.0, low_inclusive=False)

    def schedule(count):
        count = jnp.asarray(count)
        tau = as_float(timescale)
        value = peak_value * jnp.sqrt(tau / (tau + jnp.maximum(as_float(count) - warmup_steps, 0)))
        return after_linear_warmup(count, value, init_value, peak_value, warmup_steps)

    return schedule
