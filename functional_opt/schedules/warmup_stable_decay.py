"""Schedules no library ships complete: warmup-stable-decay, inverse square root, cyclical."""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from functional_opt.schedules._steps import as_float, check_steps, check_value, is_int, steps_in

_COOLDOWN_SHAPES = ("linear", "cosine", "1-sqrt")


def warmup_stable_decay_schedule(peak_value, warmup_steps, decay_steps, cooldown_fraction=0.2, init_value=0.0,
                                 end_value=0.0, cooldown_type="linear") -> Callable:
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

    Example:
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
        if is_int(warmup_steps) and warmup_steps == 0:
            return value
        warm = init_value + (peak_value - init_value) * (steps_in(count, 0, warmup_steps) / warmup_steps)
        return jnp.where(count < warmup_steps, warm, value)

    return schedule


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

    Example:
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
        if no_warmup:
            return value
        warm = init_value + (peak_value - init_value) * (steps_in(count, 0, warmup_steps) / warmup_steps)
        return jnp.where(count < warmup_steps, warm, value)

    return schedule


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def cyclic_schedule(base_value, max_value, step_size_up, step_size_down=None, mode="triangular",
                    gamma=1.0) -> Callable:
    """Cyclical learning rates: a triangle between ``base_value`` and ``max_value``.

    Rule, with ``U = step_size_up``, ``D = step_size_down`` (default ``U``),
    ``L = U + D``, ``x = count mod L`` and ``cycle = floor(count / L) + 1``::

        h = x / U               if x <= U      (rising)
        h = (L - x) / D         otherwise      (falling)
        value = base + (max - base) * h * a

    with the amplitude ``a = 1`` (``'triangular'``), ``a = 2**-(cycle - 1)``
    (``'triangular2'``: halved every cycle) or ``a = gamma**count``
    (``'exp_range'``).

    Conventions: torch's ``CyclicLR`` values: the lr after ``count`` scheduler
    steps (``cycle_momentum=False``; for a momentum cycle pair this with a
    second ``cyclic_schedule`` running from max to base momentum).

    Args:
        base_value, max_value: numbers or arrays.
        step_size_up: int ``U >= 1``.
        step_size_down: ``None`` or int ``D >= 1``.
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``.
        gamma: ``> 0``, the per-step amplitude decay of ``'exp_range'``.

    Example:
        >>> import functional_opt as fo
        >>> s = fo.cyclic_schedule(0.1, 1.0, step_size_up=4, mode='triangular2')
        >>> [round(float(s(c)), 4) for c in (0, 2, 4, 6, 8, 12)]
        [0.1, 0.55, 1.0, 0.55, 0.1, 0.55]

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017;
        ``torch.optim.lr_scheduler.CyclicLR``.
    """
    check_value("base_value", base_value)
    check_value("max_value", max_value)
    check_steps("step_size_up", step_size_up, low=1)
    if step_size_down is None:
        step_size_down = step_size_up
    check_steps("step_size_down", step_size_down, low=1)
    if mode not in _CYCLIC_MODES:
        raise ValueError(f"mode must be one of {_CYCLIC_MODES}, got {mode!r}")
    check_value("gamma", gamma, low=0.0, low_inclusive=False)
    total = step_size_up + step_size_down

    def schedule(count):
        count = jnp.maximum(jnp.asarray(count), 0)
        if jnp.issubdtype(count.dtype, jnp.integer) and is_int(total):
            cycle, x = as_float(count // total), as_float(count % total)
        else:
            t = as_float(count)
            cycle = jnp.floor(t / total)
            x = t - cycle * total
        h = jnp.where(x <= step_size_up, x / step_size_up, (total - x) / step_size_down)
        if mode == "triangular":
            amplitude = 1.0
        elif mode == "triangular2":
            amplitude = jnp.exp2(-cycle)
        else:
            amplitude = jnp.power(as_float(gamma), as_float(count))
        return base_value + (max_value - base_value) * h * amplitude

    return schedule
