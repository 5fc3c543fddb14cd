"""Private helpers for numeric hyperparameters: validation, schedules, dtypes.

Every numeric hyperparameter of the library may be

* a Python number (validated eagerly, at construction, with a ``ValueError``
  that names the argument and its valid range),
* a jax/numpy array or a tracer (never inspected in Python, so it can be
  ``jax.vmap``-ed or changed between steps without recompiling), or
* where the argument says so, a schedule: a callable ``count -> value``.

Hyperparameters are computed in at least float32 (``compute_dtype``), so a
bfloat16 model can never round ``b2 = 0.999`` to 1.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = Any  # float | jax.Array | Schedule

INT32_MAX = np.iinfo(np.int32).max


def _is_python_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def concrete_scalar(x: Any):
    """Return ``x`` as a Python float when it is concrete, else ``None``.

    Python numbers and numpy scalars/0-d arrays are concrete; jax arrays and
    tracers are deliberately not inspected (see the module docstring).
    """
    if isinstance(x, bool):
        return None
    if _is_python_number(x):
        return float(x)
    if isinstance(x, (np.ndarray, np.generic)) and np.ndim(x) == 0:
        if not np.issubdtype(np.asarray(x).dtype, np.number):
            return None
        return float(x)
    return None


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_schedule: bool = False,
    allow_none: bool = False,
    allow_inf: bool = False,
) -> None:
    """Validate a hyperparameter eagerly when it is a concrete number.

    Raises ``TypeError`` for values that are neither numbers, arrays nor
    (when ``allow_schedule``) callables, and ``ValueError`` naming ``name``
    and the valid range for concrete numbers outside it (NaN included, and
    infinities unless ``allow_inf``).
    Arrays and tracers pass through unchecked.
    """
    if value is None:
        if allow_none:
            return
        raise TypeError(f"{name} must be a number, got None")
    if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
        if allow_schedule:
            return
        raise TypeError(
            f"{name} must be a number or an array, got the callable {value!r}"
            " (this argument does not accept a schedule)"
        )
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got the bool {value!r}")
    if isinstance(value, str) or not (
        _is_python_number(value) or isinstance(value, (jax.Array, np.ndarray, np.generic)) or hasattr(value, "dtype")
    ):
        expected = "a number, an array or a schedule" if allow_schedule else "a number or an array"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    x = concrete_scalar(value)
    if x is None:
        return
    if math.isnan(x):
        raise ValueError(f"{name} must not be NaN")
    if math.isinf(x) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {value!r}")
    lo_ok = True if low is None else (x >= low if low_inclusive else x > low)
    hi_ok = True if high is None else (x <= high if high_inclusive else x < high)
    if not (lo_ok and hi_ok):
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        lb = "[" if (low_inclusive and low is not None) else "("
        hb = "]" if (high_inclusive and high is not None) else ")"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{hb}, got {value!r}")


def check_int(name: str, value: Any, *, low: int | None = None) -> None:
    """Validate a structural integer argument (a count, a period)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def floating_dtype(name: str, x: Any) -> Any:
    """The dtype of the array ``x``; ``TypeError`` naming ``name`` unless it is floating."""
    dt = jnp.result_type(x)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dt}")
    return dt


def upcast_floating(*names_and_arrays: Any) -> tuple:
    """``(*arrays in the compute dtype, their promoted floating dtype)`` from ``name, array, name, array, ...``.

    ``TypeError`` naming the first array that is not floating. The math is
    done in ``compute_dtype`` (at least float32); the result is cast back to
    the returned dtype.
    """
    names, arrays = names_and_arrays[::2], names_and_arrays[1::2]
    out = functools.reduce(jnp.promote_types, [floating_dtype(n, a) for n, a in zip(names, arrays, strict=True)])
    dt = compute_dtype(out)
    return (*(jnp.asarray(a).astype(dt) for a in arrays), out)


def scores_and_labels(scores: Any, labels: Any) -> tuple[jax.Array, jax.Array, Any]:
    """``(scores in the compute dtype, labels as an array, the scores' dtype)`` for class scores and integer labels.

    ``scores`` is floating ``[..., num_classes]`` and ``labels`` integer
    ``[...]``; concrete (non-traced) labels must be in ``[0, num_classes)``.
    """
    s, out = upcast_floating("scores", scores)
    if s.ndim < 1:
        raise ValueError("scores must have a class axis (the last), got a scalar")
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}")
    if labels.shape != s.shape[:-1]:
        raise ValueError(f"labels shape {labels.shape} must be the scores' shape {s.shape} without the last axis")
    if not isinstance(labels, jax.core.Tracer):
        lab = np.asarray(labels)
        bad = (lab < 0) | (lab >= s.shape[-1])
        if bad.any():
            raise ValueError(f"labels must be in [0, {s.shape[-1]}), got {lab[bad].ravel()[:5].tolist()}")
    return s, labels, out


def check_betas(betas: Any) -> None:
    """Validate a ``betas=(b1, b2)`` pair (torch's spelling): two decay rates in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (b1, b2), got {betas!r}")
    check_number("betas[0]", betas[0], low=0.0, high=1.0, high_inclusive=False)
    check_number("betas[1]", betas[1], low=0.0, high=1.0, high_inclusive=False)


def check_moment_args(b1: Any, b2: Any, eps: Any, mu_dtype: Any, nu_dtype: Any, eps_root: Any = 0.0) -> tuple:
    """Validate Adam-style arguments; return the canonical ``(mu_dtype, nu_dtype)``.

    ``b1``, ``b2`` are decay rates in ``[0, 1)`` (number, array or schedule);
    ``eps``, ``eps_root`` are ``>= 0``; the dtypes as :func:`check_dtype`.
    Checked in that order: ``b1, b2, eps, eps_root, mu_dtype, nu_dtype``.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    return check_dtype("mu_dtype", mu_dtype), check_dtype("nu_dtype", nu_dtype)


def check_dtype(name: str, value: Any) -> Any:
    """Validate an optional ``*_dtype`` argument and canonicalise it."""
    if value is None:
        return None
    try:
        dt = jnp.dtype(value)
    except TypeError as e:
        raise TypeError(f"{name} must be a floating dtype or None, got {value!r}") from e
    if not jnp.issubdtype(dt, jnp.inexact):
        raise TypeError(f"{name} must be a floating dtype or None, got {dt}")
    return dt


def compute_dtype(*dtypes: Any) -> Any:
    """The dtype hyperparameter math is done in: at least float32."""
    dt = jnp.float32
    for d in dtypes:
        if d is not None and jnp.issubdtype(d, jnp.inexact):
            dt = jnp.promote_types(dt, d)
    return dt


def value_at(hparam: ScalarOrSchedule, count: jax.Array | None, dtype: Any = None) -> jax.Array:
    """Evaluate a hyperparameter (number, array or schedule) at ``count``.

    Returns an array of at least float32 precision (or ``dtype`` if given).
    A schedule must return a scalar, and an array (or tracer) must be a
    floating-point scalar; anything else is a ``ValueError`` (a ``TypeError``
    for an integer or bool dtype) raised at trace time. Inside ``jax.vmap``
    a batched hyperparameter is a scalar, so vmapping over values works.
    """
    if callable(hparam) and not isinstance(hparam, (jax.Array, np.ndarray)):
        if count is None:
            raise ValueError("a schedule needs a step count, but none is kept in this state")
        value = hparam(count)
        if jnp.ndim(value) != 0:
            raise ValueError(f"a schedule must return a scalar, got shape {jnp.shape(value)} from {hparam!r}")
    else:
        value = hparam
        if dtype is None and _is_python_number(value):
            # weakly typed: float32 math for float32 leaves, float64 under x64
            return jnp.asarray(float(value))
        if concrete_scalar(value) is None and hasattr(value, "dtype"):  # an array or a tracer: checked at trace time
            if not jnp.issubdtype(value.dtype, jnp.inexact):
                raise TypeError(
                    f"a hyperparameter array must be floating-point, got dtype {value.dtype} (hyperparameters "
                    "are real numbers: give a float array, e.g. jnp.asarray(1e-3))"
                )
            if jnp.ndim(value) != 0:
                raise ValueError(
                    f"a hyperparameter must be a scalar, got an array of shape {jnp.shape(value)} (it would "
                    "broadcast over the leaves; to try several values, jax.vmap over a scalar instead)"
                )
    value = jnp.asarray(value)
    dt = dtype if dtype is not None else compute_dtype(value.dtype)
    return value.astype(dt)


def is_schedule(x: Any) -> bool:
    return callable(x) and not isinstance(x, (jax.Array, np.ndarray))


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1``, saturating at the dtype's largest value (``2**31 - 1`` for int32) instead of wrapping.

    Integer and floating counters (optax's ``safe_increment``); the library's
    counts are int32. Public as ``fo.safe_increment``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.safe_increment(jnp.asarray(2**31 - 1, jnp.int32))
      Array(2147483647, dtype=int32)
    """
    count = jnp.asarray(count)
    top: Any
    if jnp.issubdtype(count.dtype, jnp.integer):
        top = jnp.iinfo(count.dtype).max
    elif jnp.issubdtype(count.dtype, jnp.floating):
        top = jnp.finfo(count.dtype).max
    else:
        raise ValueError(f"safe_increment: count must be an integer or floating array, got dtype {count.dtype}")
    top = jnp.asarray(top, count.dtype)  # a Python int above 2**31 (uint32/uint64) overflows as a weak int
    return jnp.where(count < top, count + 1, top).astype(count.dtype)


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def one_minus(hparam: ScalarOrSchedule, count: jax.Array | None) -> jax.Array:
    """``1 - hparam`` at ``count``; exact in float64 for a Python number.

    ``1 - 0.999`` formed in float32 is off by 1.3e-5 relative; forming it in
    Python before the cast keeps the moving-average weights accurate.
    """
    x = concrete_scalar(hparam)
    if x is not None:
        return jnp.asarray(1.0 - x)
    return 1 - value_at(hparam, count)


def log_of(hparam: ScalarOrSchedule, count: jax.Array | None) -> jax.Array:
    """``log(hparam)`` at ``count`` (``-inf`` at 0); in float64 for a Python number."""
    x = concrete_scalar(hparam)
    if x is not None:
        return jnp.asarray(math.log(x) if x > 0 else -math.inf)
    return jnp.log(value_at(hparam, count))
