"""Warmup-stable-decay (WSD, "trapezoidal"): linear warmup, a long constant phase, a short cooldown."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from functional_opt.schedules._steps import after_linear_warmup, as_float, check_steps, check_value, is_int

_COOLDOWN_SHAPES = ("linear", "cosine", "1-sqrt")


def warmup_stable_decay_schedule(
    peak_value, warmup_steps, decay_steps, cooldown_fraction=0.2, init_value=0.0, end_value=0.0, cooldown_type="linear"
) -> Callable:
    """Warmup-stable-decay (WSD, "trapezoidal"): warmup, a long constant phase, a short cooldown.

    Rule, with ``W = warmup_steps``, ``T = decay_steps`` (the total length),
    ``C = cooldown_fraction * T`` and ``s = clip((count - (T - C)) / C, 0, 1)``
    the fraction of the cooldown done::

        value = I + (P - I) * count / W            for count < W
        value = E + (P - E) * f(s)                 otherwise

    with ``f(s) = 1 - s`` (``'linear'``), ``(1 + cos(pi s)) / 2`` (``'cosine'``)
    or ``1 - sqrt(s)`` (``'1-sqrt'``). The value is ``P`` through the stable
    phase and ``E`` from ``count = T`` on (also when ``C = 0``).

    Args:
        peak_value: number or array.
        warmup_steps: int ``W >= 0``.
        decay_steps: int ``T >= 1``, total steps, warmup included.
        cooldown_fraction: fraction of ``T`` in ``[0, 1 - W / T]`` spent cooling
            down (number or array).
        init_value, end_value: numbers or arrays.
        cooldown_type: ``'linear'``, ``'cosine'`` or ``'1-sqrt'``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.warmup_stable_decay_schedule(1.0, warmup_steps=10, decay_steps=100,
        ...                                     cooldown_fraction=0.2, cooldown_type='1-sqrt')
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 80, 85, 100)]
        [0.0, 0.5, 1.0, 1.0, 0.5, 0.0]

    References:
        Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models
        with Scalable Training Strategies", 2024; Hägele et al., "Scaling Laws
        and Compute-Optimal Training Beyond Fixed Training Durations", 2024
        (the ``1 - sqrt`` cooldown).
    """
    for name, v in (("peak_value", peak_value), ("init_value", init_value), ("end_value", end_value)):
        check_value(name, v)
    check_steps("warmup_steps", warmup_steps, low=0)
    check_steps("decay_steps", decay_steps, low=1)
    high = 1.0 - warmup_steps / decay_steps if is_int(warmup_steps) and is_int(decay_steps) else 1.0
    if high < 0:
        raise ValueError(f"decay_steps (the total length) must be >= warmup_steps={warmup_steps}, got {decay_steps}")
    check_value("cooldown_fraction", cooldown_fraction, low=0.0, high=high)
    if cooldown_type not in _COOLDOWN_SHAPES:
        raise ValueError(f"cooldown_type must be one of {_COOLDOWN_SHAPES}, got {cooldown_type!r}")

    def schedule(count):
        count = jnp.asarray(count)
        t = as_float(count)
        length = as_float(cooldown_fraction) * decay_steps
        start = decay_steps - length
        safe = jnp.where(length > 0, length, 1.0)
        s = jnp.where(length > 0, jnp.clip((t - start) / safe, 0.0, 1.0), (count >= decay_steps).astype(t.dtype))
        if cooldown_type == "linear":
            f = 1 - s
        elif cooldown_type == "cosine":
            f = 0.5 * (1 + jnp.cos(jnp.pi * s))
        else:
            f = 1 - jnp.sqrt(s)
        value = end_value + (peak_value - end_value) * f
        return after_linear_warmup(count, value, init_value, peak_value, warmup_steps)

    return schedule
