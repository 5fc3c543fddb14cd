"""Cyclical learning rates: triangular cycles between two values (Smith's CLR, torch's ``CyclicLR``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from functional_opt.schedules._steps import as_float, check_steps, check_value, is_int

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def cyclic_schedule(base_value, max_value, step_size_up, step_size_down=None, mode="triangular", gamma=1.0) -> Callable:
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

    Examples:
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
        amplitude: Any
        if mode == "triangular":
            amplitude = 1.0
        elif mode == "triangular2":
            amplitude = jnp.exp2(-cycle)
        else:
            amplitude = jnp.power(as_float(gamma), as_float(count))
        return base_value + (max_value - base_value) * h * amplitude

    return schedule
