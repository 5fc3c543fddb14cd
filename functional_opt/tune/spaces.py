"""Search spaces: a grid or a random sample of configurations, as a dict of equal-length 1-D arrays.

A *configuration set* is ``{name: array of shape [K]}``: entry ``i`` of every
array together is configuration ``i``. :func:`grid` and :func:`sample` build
one; :func:`functional_opt.tune.sweep` takes one. Arrays rather than lists of
dicts, so the set is vmapped over directly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Choice", "LogUniform", "Uniform", "check_configs", "choice", "grid", "log_uniform", "sample", "uniform"]


def _axis(where: str, name: str, values: Any) -> np.ndarray:
    """One axis of values as a non-empty 1-D numeric numpy array, or a clear error naming it."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: {name!r} must be a 1-D sequence of numbers, got {values!r}") from err
    if arr.ndim != 1:
        raise ValueError(f"{where}: {name!r} must be a 1-D sequence of numbers, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{where}: {name!r} is empty; give at least one value")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name!r} must hold numbers (bool, int or float), got dtype {arr.dtype}")
    return arr


def _as_jax(arr: np.ndarray) -> jax.Array:
    """Python floats become float32 (jax's default), ints int32, bools stay bool."""
    return jnp.asarray(arr)


def check_configs(configs: Mapping[str, Any], where: str = "configs") -> dict[str, np.ndarray]:
    """Validate a configuration set: a non-empty dict of non-empty, equal-length 1-D numeric arrays.

    Returns the same dict with numpy arrays. Raises ``TypeError`` for a value
    that is not a dict or an axis that is not numeric, ``ValueError`` for an
    empty set, an axis that is not 1-D or empty, or mismatched lengths (the
    message lists every axis with its length).

    Examples:
        >>> from functional_opt import tune
        >>> {k: v.tolist() for k, v in tune.check_configs({"lr": [0.1, 0.01]}).items()}
        {'lr': [0.1, 0.01]}
    """
    if not isinstance(configs, Mapping):
        raise TypeError(f"{where} must be a dict {{name: 1-D array}}, got {type(configs).__name__}")
    if not configs:
        raise ValueError(f"{where} is empty: give at least one hyperparameter")
    out = {}
    for name, values in configs.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: hyperparameter names must be strings, got {name!r}")
        out[name] = _axis(where, name, values)
    lengths = {name: arr.shape[0] for name, arr in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{where}: every hyperparameter needs one value per configuration; lengths differ: {lengths}")
    return out


def grid(**axes: Sequence[Any]) -> dict[str, jax.Array]:
    """Every combination of the given values (a Cartesian product), as a dict of equal-length 1-D arrays.

    The first axis varies slowest (``itertools.product`` / C order), so a grid
    of sizes ``n1, n2, ...`` has ``n1 * n2 * ...`` configurations and reshapes
    to ``[n1, n2, ...]``. Python floats become float32, ints int32.

    Args:
        **axes: ``name=values`` with ``values`` a non-empty 1-D list or array of numbers.

    Raises:
        ValueError: no axes, an empty axis, or an axis that is not 1-D.
        TypeError: an axis that does not hold numbers.

    Examples:
        >>> from functional_opt import tune
        >>> g = tune.grid(lr=[0.1, 0.01], wd=[0.0, 1e-4, 1e-2])
        >>> g["lr"].tolist()
        [0.1, 0.1, 0.1, 0.01, 0.01, 0.01]
        >>> g["wd"].shape
        (6,)

    References:
        Bergstra and Bengio, "Random search for hyper-parameter optimization", JMLR 13 (2012)
        (why :func:`sample` often beats a grid of the same size).
    """
    if not axes:
        raise ValueError("grid: no axes given; call grid(name=[values, ...], ...)")
    arrays = {name: _axis("grid", name, values) for name, values in axes.items()}
    index = np.array(list(itertools.product(*(range(a.shape[0]) for a in arrays.values()))))
    return {name: _as_jax(arr[index[:, i]]) for i, (name, arr) in enumerate(arrays.items())}


class LogUniform(NamedTuple):
    """Distribution ``exp(U(log lo, log hi))`` (see :func:`log_uniform`)."""

    lo: float
    hi: float

    def draw(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` float32 draws."""
        return jnp.exp(jax.random.uniform(key, (n,), minval=math.log(self.lo), maxval=math.log(self.hi)))


class Uniform(NamedTuple):
    """Distribution ``U(lo, hi)`` (see :func:`uniform`)."""

    lo: float
    hi: float

    def draw(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` float32 draws."""
        return jax.random.uniform(key, (n,), minval=self.lo, maxval=self.hi)


class Choice(NamedTuple):
    """Uniform choice among ``values`` (see :func:`choice`)."""

    values: jax.Array

    def draw(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` draws, with replacement."""
        return self.values[jax.random.randint(key, (n,), 0, self.values.shape[0])]


def _bounds(where: str, lo: Any, hi: Any, *, positive: bool) -> tuple[float, float]:
    for name, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise TypeError(f"{where}: {name} must be a finite Python number, got {v!r}")
    if positive and lo <= 0:
        raise ValueError(f"{where}: bounds must be > 0 (it samples log(x)), got lo={lo}, hi={hi}")
    if lo >= hi:
        raise ValueError(f"{where}: needs lo < hi, got lo={lo}, hi={hi}")
    return float(lo), float(hi)


def log_uniform(lo: float, hi: float) -> LogUniform:
    """A distribution uniform in ``log x`` on ``[lo, hi)``: the usual prior for learning rates and weight decay.

    Args:
        lo, hi: ``0 < lo < hi``, Python numbers.

    Raises:
        ValueError: ``lo <= 0`` or ``lo >= hi``. TypeError: a bound that is not a finite number.

    Examples:
        >>> from functional_opt import tune
        >>> import jax
        >>> lr = tune.sample(jax.random.key(0), 4, lr=tune.log_uniform(1e-4, 1e-1))["lr"]
        >>> bool(((lr >= 1e-4) & (lr < 1e-1)).all())
        True
    """
    return LogUniform(*_bounds("log_uniform", lo, hi, positive=True))


def uniform(lo: float, hi: float) -> Uniform:
    """A distribution uniform on ``[lo, hi)``.

    Args:
        lo, hi: ``lo < hi``, Python numbers.

    Raises:
        ValueError: ``lo >= hi``. TypeError: a bound that is not a finite number.

    Examples:
        >>> from functional_opt import tune
        >>> import jax
        >>> b1 = tune.sample(jax.random.key(0), 3, b1=tune.uniform(0.8, 0.99))["b1"]
        >>> bool(((b1 >= 0.8) & (b1 < 0.99)).all())
        True
    """
    return Uniform(*_bounds("uniform", lo, hi, positive=False))


def choice(values: Sequence[Any]) -> Choice:
    """A uniform choice, with replacement, among a non-empty 1-D list of numbers.

    Raises:
        ValueError: ``values`` empty or not 1-D. TypeError: not numbers.

    Examples:
        >>> from functional_opt import tune
        >>> import jax
        >>> bs = tune.sample(jax.random.key(0), 5, batch=tune.choice([16, 32]))["batch"]
        >>> set(bs.tolist()) <= {16, 32}
        True
    """
    return Choice(_as_jax(_axis("choice", "values", values)))


def sample(key: jax.Array, n: int, **dists: LogUniform | Uniform | Choice) -> dict[str, jax.Array]:
    """``n`` random configurations, each hyperparameter drawn independently from its distribution.

    Axis ``name`` uses ``jax.random.fold_in(key, i)`` with ``i`` its position in
    the call, so the draws are reproducible for a given key and argument order.

    Args:
        key: a jax PRNG key.
        n: number of configurations, a positive Python int.
        **dists: ``name=`` :func:`log_uniform`, :func:`uniform` or :func:`choice`.

    Raises:
        ValueError: no distributions, or ``n < 1``.
        TypeError: ``n`` not an int, or a value that is not one of the three distributions.

    Examples:
        >>> from functional_opt import tune
        >>> import jax
        >>> s = tune.sample(jax.random.key(0), 8, lr=tune.log_uniform(1e-4, 1e-1), wd=tune.uniform(0.0, 0.1))
        >>> s["lr"].shape, s["wd"].shape
        ((8,), (8,))

    References:
        Bergstra and Bengio, "Random search for hyper-parameter optimization", JMLR 13 (2012).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"sample: n must be a Python int, got {n!r}")
    if n < 1:
        raise ValueError(f"sample: n must be >= 1, got {n}")
    if not dists:
        raise ValueError("sample: no distributions given; call sample(key, n, name=log_uniform(lo, hi), ...)")
    for name, dist in dists.items():
        if not isinstance(dist, (LogUniform, Uniform, Choice)):
            raise TypeError(
                f"sample: {name!r} must be log_uniform(lo, hi), uniform(lo, hi) or choice(values), got {dist!r}"
            )
    return {name: dist.draw(jax.random.fold_in(key, i), int(n)) for i, (name, dist) in enumerate(dists.items())}
