"""Private helpers of the schedules: argument checks, overflow-free step arithmetic,
and the segment interpolation shared by the piecewise and one-cycle schedules.

Counts arrive as int32 (up to ``2**31 - 1``) or as floats. Differences such as
``count - transition_begin`` are formed in integer arithmetic after clipping,
so they never wrap, and only then converted to float32 (or wider).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import INT32_MAX, check_int, check_number


def is_int(x: Any) -> bool:
    """A concrete Python/NumPy integer (not a bool, not an array)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray)) or (hasattr(x, "dtype") and not isinstance(x, np.generic))


def check_steps(name: str, value: Any, *, low: int = 0) -> None:
    """A step count: a Python int ``>= low`` (checked) or an int/float array (not inspected)."""
    if _is_array(value):
        return
    check_int(name, value, low=low)
    if value > INT32_MAX:
        raise ValueError(f"{name} must be <= 2**31 - 1 (the int32 count saturates there), got {value!r}")


def check_value(name: str, value: Any, **kw) -> None:
    """A float hyperparameter: a number (checked against the range in ``kw``) or an array."""
    check_number(name, value, **kw)


def as_float(x: Any) -> jax.Array:
    """``x`` as an array of at least float32."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return x.astype(jnp.float32)


def _int_path(count: jax.Array, *ints: Any) -> bool:
    return jnp.issubdtype(count.dtype, jnp.integer) and all(is_int(i) for i in ints)


def steps_in(count: Any, begin: Any, length: Any) -> jax.Array:
    """``clip(count - begin, 0, length)`` as a float; exact for integer counts."""
    count = jnp.asarray(count)
    if _int_path(count, begin, length):
        lo = min(int(begin), INT32_MAX)
        hi = min(int(begin) + int(length), INT32_MAX)
        return as_float(jnp.clip(count, lo, hi) - lo)
    return jnp.clip(as_float(count) - begin, 0, length)


def steps_since(count: Any, begin: Any) -> jax.Array:
    """``max(count - begin, 0)`` as a float; exact for integer counts."""
    count = jnp.asarray(count)
    if _int_path(count, begin):
        b = min(int(begin), INT32_MAX)
        return as_float(jnp.maximum(count, b) - b)
    return jnp.maximum(as_float(count) - begin, 0)


def periods_since(count: Any, begin: Any, period: Any, *, floor: bool = True) -> jax.Array:
    """``floor(max(count - begin, 0) / period)`` as a float (integer division when possible), or unfloored."""
    if not floor:
        return steps_since(count, begin) / period
    count = jnp.asarray(count)
    if _int_path(count, begin, period):
        b = min(int(begin), INT32_MAX)
        return as_float((jnp.maximum(count, b) - b) // int(period))
    return jnp.floor(steps_since(count, begin) / period)


def after_linear_warmup(count: Any, value: Any, init_value: Any, peak_value: Any, warmup_steps: Any) -> jax.Array:
    """``value``, except ``init_value -> peak_value`` linearly for ``count < warmup_steps`` (no warmup for 0)."""
    if is_int(warmup_steps) and warmup_steps == 0:
        return value
    warm = init_value + (peak_value - init_value) * (steps_in(count, 0, warmup_steps) / warmup_steps)
    return jnp.where(count < warmup_steps, warm, value)


def broadcast_value(value: Any, count: Any) -> jax.Array:
    """``value`` (at least float32) broadcast to the shape of ``count``."""
    return jnp.broadcast_to(as_float(value), jnp.shape(count))


def _cosine_interp(start, end, pct):
    return end + (start - end) * 0.5 * (1 + jnp.cos(jnp.pi * pct))


def _linear_interp(start, end, pct):
    return start + (end - start) * pct


def interpolate_segments(kind: str, values: Sequence[Any], boundaries: Sequence[int]) -> Callable:
    """Interpolate ``values[i] -> values[i+1]`` over ``[boundaries[i-1], boundaries[i])``.

    ``boundaries`` are the ends of the segments (the first starts at 0);
    ``values`` has one more entry. A zero-length segment is a jump. Before 0
    the first value, from the last boundary on the last value.
    """
    interp = {"linear": _linear_interp, "cosine": _cosine_interp}[kind]
    starts = [0] + list(boundaries[:-1])

    def schedule(count):
        count = jnp.maximum(jnp.asarray(count), 0)
        t = as_float(count)
        value = jnp.broadcast_to(as_float(values[-1]), jnp.shape(count))
        for i in reversed(range(len(boundaries))):
            lo, hi = starts[i], boundaries[i]
            pct = jnp.clip((t - lo) / max(hi - lo, 1), 0.0, 1.0)
            value = jnp.where(count < hi, interp(values[i], values[i + 1], pct), value)
        return value

    return schedule
