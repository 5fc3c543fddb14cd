"""``sweep``: every configuration x seed of a training function in one jit-compiled, vmapped program."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from functional_opt.tune.spaces import check_configs

__all__ = ["Best", "SweepResult", "StaticHyperparameterError", "sweep"]

# Raised by jax when a traced value is used where Python needs a concrete one
# (an int for a shape or a loop count, a bool for an `if`, a numpy array).
_CONCRETE_ERRORS: tuple[type[Exception], ...] = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerArrayConversionError,
)


class StaticHyperparameterError(TypeError):
    """A swept hyperparameter was used as a Python value (a shape, a loop count, a branch) inside ``train_fn``."""


@dataclasses.dataclass(frozen=True)
class Best:
    """The best configuration of a sweep: its index, its hyperparameters as Python numbers, its reduced metric."""

    index: int
    config: dict[str, Any]
    value: float


_REDUCERS: dict[str, Callable[..., np.ndarray]] = {
    "mean": np.mean,
    "median": np.median,
    "min": np.min,
    "max": np.max,
}


def _py(x: Any) -> Any:
    """A numpy scalar as a Python number; a float32 keeps its shortest repr (0.1, not 0.10000000149011612)."""
    if isinstance(x, np.floating):
        return float(str(x))
    return x.item() if isinstance(x, (np.generic, np.ndarray)) else x


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`sweep`.

    Attributes:
        configs: ``{name: numpy array [K]}``, the configurations in the order given.
        metrics: ``{name: numpy array [K, S, ...]}``, what ``train_fn`` returned for
            configuration ``k`` and seed ``s`` (curves from ``lax.scan`` keep their trailing axes).
        seeds: ``S``, the number of seeds per configuration.
        devices: how many local devices the configuration axis was sharded over (1: not sharded).

    Scalar summaries (:meth:`best`, :meth:`table`) reduce a metric with trailing axes
    to its last element (the final value of a curve) before reducing over seeds.
    """

    configs: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    seeds: int
    devices: int = 1

    @property
    def num_configs(self) -> int:
        """``K``."""
        return next(iter(self.configs.values())).shape[0]

    def config(self, k: int) -> dict[str, Any]:
        """Configuration ``k`` as ``{name: Python number}``."""
        return {name: _py(v[k]) for name, v in self.configs.items()}

    def _final(self, metric: str) -> np.ndarray:
        """``[K, S]``: the metric, or the last element of its trailing axes."""
        if metric not in self.metrics:
            raise KeyError(f"unknown metric {metric!r}; train_fn returned {sorted(self.metrics)}")
        v = np.asarray(self.metrics[metric], dtype=np.float64)
        return v.reshape(v.shape[:2] + (-1,))[:, :, -1]

    def _reduced(self, metric: str, reduce: str) -> np.ndarray:
        if reduce not in _REDUCERS:
            raise ValueError(f"reduce must be one of {sorted(_REDUCERS)}, got {reduce!r}")
        return _REDUCERS[reduce](self._final(metric), axis=1)

    def _order(self, metric: str, mode: str, reduce: str) -> tuple[np.ndarray, np.ndarray]:
        """Config indices best first (non-finite values last) and the reduced values."""
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        r = self._reduced(metric, reduce)
        key = np.where(np.isfinite(r), r if mode == "min" else -r, np.inf)
        return np.argsort(key, kind="stable"), r

    def best(self, metric: str, mode: str = "min", reduce: str = "mean") -> Best:
        """The configuration whose metric, reduced over seeds, is smallest (``mode="min"``) or largest.

        Args:
            metric: a key of :attr:`metrics` (a curve counts by its last value).
            mode: ``"min"`` or ``"max"``.
            reduce: over seeds: ``"mean"``, ``"median"``, ``"min"`` or ``"max"``.

        Non-finite results (diverged runs) rank last. Returns a :class:`Best`.

        >>> from functional_opt import tune
        >>> r = tune.sweep(lambda hp, key: {"loss": (hp["x"] - 2.0) ** 2}, tune.grid(x=[0.0, 1.5, 3.0]))
        >>> r.best("loss").config
        {'x': 1.5}
        """
        order, r = self._order(metric, mode, reduce)
        k = int(order[0])
        return Best(k, self.config(k), float(r[k]))

    def table(self, metric: str, top: int | None = None, mode: str = "min") -> str:
        """A plain-text table, best first: rank, hyperparameters, ``mean ± std`` of the metric over seeds.

        ``std`` is the sample standard deviation over seeds (``ddof=1``; 0 for one seed).
        ``top`` keeps the first ``top`` rows; ``mode`` as in :meth:`best`.

        >>> from functional_opt import tune
        >>> r = tune.sweep(lambda hp, key: {"loss": hp["x"] ** 2}, tune.grid(x=[1.0, -0.5]))
        >>> print(r.table("loss"))
        rank  x     loss
           1  -0.5  0.25 ± 0
           2  1     1 ± 0
        """
        order, mean = self._order(metric, mode, "mean")
        v = self._final(metric)
        std = v.std(axis=1, ddof=1) if self.seeds > 1 else np.zeros_like(mean)
        rows = [["rank", *self.configs, metric]]
        for rank, k in enumerate(order[:top] if top is not None else order, start=1):
            hp = [f"{_py(a[k]):.4g}" for a in self.configs.values()]
            rows.append([str(rank), *hp, f"{mean[k]:.4g} ± {std[k]:.2g}"])
        widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
        lines = []
        for row in rows:
            cells = [row[0].rjust(widths[0])] + [c.ljust(w) for c, w in zip(row[1:], widths[1:])]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per (configuration, seed): the hyperparameters, ``"config"`` and ``"seed"`` indices, the metrics.

        Scalar metrics become Python floats/ints, curves Python lists, so the records go straight
        into ``pandas.DataFrame(records)`` or a logger.

        >>> from functional_opt import tune
        >>> r = tune.sweep(lambda hp, key: {"loss": hp["x"] ** 2}, tune.grid(x=[1.0, 2.0]))
        >>> r.to_records()[1]
        {'x': 2.0, 'config': 1, 'seed': 0, 'loss': 4.0}
        """
        records = []
        for k in range(self.num_configs):
            for s in range(self.seeds):
                rec = {**self.config(k), "config": k, "seed": s}
                rec.update({m: np.asarray(v[k, s]).tolist() for m, v in self.metrics.items()})
                records.append(rec)
        return records

    def _label(self, k: int) -> str:
        return ", ".join(f"{n}={_py(a[k]):.3g}" for n, a in self.configs.items())

    def plot_curves(self, metric: str, path: str, *, max_lines: int = 20, mode: str = "min") -> str:
        """Save a PNG of a curve metric (``[K, S, T]``): mean over seeds per configuration, min-max band.

        Draws the ``max_lines`` best configurations (ranked by the final value, ``mode`` as in
        :meth:`best`); a positive metric uses a log y axis. Needs matplotlib (imported here only).
        Returns ``path``.
        """
        from matplotlib.figure import Figure

        v = np.asarray(self.metrics[metric], dtype=np.float64)
        if v.ndim != 3:
            raise ValueError(f"plot_curves: {metric!r} must be a curve [K, S, T]; got shape {v.shape}")
        order, _ = self._order(metric, mode, "mean")
        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot()
        steps = np.arange(v.shape[2])
        for k in order[:max_lines]:
            (line,) = ax.plot(steps, v[k].mean(axis=0), label=self._label(int(k)), lw=1.2)
            if self.seeds > 1:
                ax.fill_between(steps, v[k].min(axis=0), v[k].max(axis=0), color=line.get_color(), alpha=0.15)
        finite = v[np.isfinite(v)]
        if finite.size and (finite > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.legend(fontsize="x-small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path

    def plot_heatmap(self, metric: str, x: str, y: str, path: str, *, mode: str = "min", reduce: str = "mean") -> str:
        """Save a PNG heatmap of a metric over two hyperparameters ``x`` and ``y``, values written in the cells.

        Each cell holds the metric reduced over seeds (``reduce``) and, where other hyperparameters
        vary too, the best (``mode``) over the configurations sharing that ``(x, y)``; absent
        combinations are blank. Needs matplotlib (imported here only). Returns ``path``.
        """
        from matplotlib.figure import Figure

        for name in (x, y):
            if name not in self.configs:
                raise KeyError(f"plot_heatmap: unknown hyperparameter {name!r}; the sweep has {list(self.configs)}")
        r = self._reduced(metric, reduce)
        xs, xi = np.unique(self.configs[x], return_inverse=True)
        ys, yi = np.unique(self.configs[y], return_inverse=True)
        cell = np.full((ys.size, xs.size), np.nan)
        pick = np.nanmin if mode == "min" else np.nanmax
        for i in range(ys.size):
            for j in range(xs.size):
                sel = r[(yi == i) & (xi == j)]
                sel = sel[np.isfinite(sel)]
                if sel.size:
                    cell[i, j] = pick(sel)
        fig = Figure(figsize=(1.0 + 0.9 * xs.size, 1.0 + 0.6 * ys.size))
        ax = fig.add_subplot()
        im = ax.imshow(cell, cmap="viridis_r" if mode == "min" else "viridis", aspect="auto", origin="lower")
        for i in range(ys.size):
            for j in range(xs.size):
                if np.isfinite(cell[i, j]):
                    r_, g_, b_, _ = im.cmap(im.norm(cell[i, j]))
                    ink = "k" if 0.299 * r_ + 0.587 * g_ + 0.114 * b_ > 0.5 else "w"  # readable on the cell's colour
                    ax.text(j, i, f"{cell[i, j]:.3g}", ha="center", va="center", fontsize=8, color=ink)
        ax.set_xticks(range(xs.size), [f"{_py(v):.3g}" for v in xs])
        ax.set_yticks(range(ys.size), [f"{_py(v):.3g}" for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{metric} ({reduce} over {self.seeds} seed{'s' * (self.seeds > 1)})")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path


def _static_culprits(train_fn: Callable, configs: dict[str, np.ndarray], key: jax.Array) -> list[str]:
    """The hyperparameters that fail to trace on their own (the others concrete): one trace each, error path only."""
    concrete = {name: jnp.asarray(v[0]) for name, v in configs.items()}
    culprits = []
    for name in configs:

        def one(x: jax.Array, name: str = name) -> Any:
            return train_fn({**concrete, name: x}, key)

        try:
            jax.eval_shape(one, concrete[name])
        except _CONCRETE_ERRORS:
            culprits.append(name)
        except Exception:  # another failure is not this hyperparameter's static use
            pass
    return culprits


def sweep(
    train_fn: Callable[[dict[str, jax.Array], jax.Array], Mapping[str, Any]],
    configs: Mapping[str, Any],
    *,
    seeds: int = 1,
    key: jax.Array | None = None,
    chunk_size: int | None = None,
) -> SweepResult:
    """Run ``train_fn`` for every configuration x seed in one jit-compiled ``jax.vmap`` program.

    ``train_fn(hparams, key) -> {metric: array}`` is a pure training run: ``hparams`` is
    ``{name: scalar array}`` (tracers) that it hands to optimizer constructors
    (``fo.adam(hparams["lr"], b1=hparams["b1"])``), schedules and losses, which all take array
    hyperparameters; curves built with ``lax.scan`` come back whole.

    Conventions:

    * seed ``s`` of every configuration gets the same key, ``jax.random.split(key, seeds)[s]``
      (common random numbers: configurations are compared on the same initialisations and batches);
    * the configurations run ``chunk_size`` at a time (default: all) to bound memory. The last
      chunk is padded with copies of the last configuration, so one compilation serves every chunk;
    * with several local devices, the configuration axis of each chunk is sharded over a 1-D
      ``Mesh`` of all of them (``chunk_size`` is rounded up to a multiple of the device count);
    * a hyperparameter used where Python needs a concrete value (a shape, a number of steps,
      an ``if``) raises :class:`StaticHyperparameterError` naming it: pass it as a static value
      instead (close over it, e.g. ``functools.partial(train_fn, steps=100)``, and run one sweep per value).

    Args:
        train_fn: ``(hparams, key) -> dict of metrics``, jit-compatible.
        configs: ``{name: 1-D array [K]}``, e.g. from :func:`grid` or :func:`sample`.
        seeds: ``S >= 1`` seeds per configuration.
        key: PRNG key (default ``jax.random.key(0)``).
        chunk_size: configurations per compiled call, ``>= 1`` (default ``K``).

    Returns:
        :class:`SweepResult` with metrics of leading axes ``[K, S]`` (numpy arrays).

    >>> from functional_opt import tune
    >>> def train_fn(hp, key):
    ...     return {"loss": (hp["lr"] - 0.1) ** 2 + 0.0 * jax.random.normal(key)}
    >>> import jax
    >>> r = tune.sweep(train_fn, tune.grid(lr=[0.01, 0.1, 1.0]), seeds=2)
    >>> r.metrics["loss"].shape
    (3, 2)
    >>> r.best("loss").config
    {'lr': 0.1}

    References:
        Bradbury et al., JAX: composable transformations of Python+NumPy programs (``jax.vmap``,
        ``jax.jit``, ``jax.sharding``), 2018.
    """
    cfg = check_configs(configs, "sweep: configs")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"sweep: seeds must be a Python int >= 1, got {seeds!r}")
    k_total = next(iter(cfg.values())).shape[0]
    if chunk_size is None:
        chunk_size = k_total
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"sweep: chunk_size must be a Python int >= 1 or None, got {chunk_size!r}")
    devices = jax.local_devices()
    n_dev = len(devices)
    chunk = min(chunk_size, k_total)
    chunk = math.ceil(chunk / n_dev) * n_dev
    n_chunks = math.ceil(k_total / chunk)
    padded = np.minimum(np.arange(n_chunks * chunk), k_total - 1)  # pad with the last configuration
    hp_all = {name: v[padded] for name, v in cfg.items()}

    if key is None:
        key = jax.random.key(0)
    keys = jax.random.split(key, seeds)

    def run_chunk(hp: dict[str, jax.Array], keys: jax.Array) -> dict[str, jax.Array]:
        def one(h: dict[str, jax.Array], k: jax.Array) -> dict[str, jax.Array]:
            out = train_fn(h, k)
            if not isinstance(out, Mapping):
                raise TypeError(f"sweep: train_fn must return a dict of metrics, got {type(out).__name__}")
            return dict(out)

        return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(hp, keys)

    compiled = jax.jit(run_chunk)
    if n_dev > 1:
        mesh = Mesh(np.array(devices), ("config",))
        hp_sharding: Any = NamedSharding(mesh, PartitionSpec("config"))
        key_sharding: Any = NamedSharding(mesh, PartitionSpec())
    else:
        hp_sharding = key_sharding = devices[0]
    keys = jax.device_put(keys, key_sharding)

    pieces: list[dict[str, np.ndarray]] = []
    for c in range(n_chunks):
        hp = {name: jax.device_put(v[c * chunk : (c + 1) * chunk], hp_sharding) for name, v in hp_all.items()}
        try:
            out = compiled(hp, keys)
        except _CONCRETE_ERRORS as err:
            names = _static_culprits(train_fn, cfg, keys[0]) or list(cfg)
            raise StaticHyperparameterError(
                f"sweep: hyperparameter(s) {', '.join(map(repr, names))} are used inside train_fn where Python "
                "needs a concrete value (a shape, a number of steps, an `if`, a Python int). A swept "
                "hyperparameter is a traced array; pass it as a static value instead: close over it "
                "(e.g. functools.partial(train_fn, steps=...)) and run one sweep per value. "
                f"Original error: {type(err).__name__}: {str(err).splitlines()[0]}"
            ) from err
        pieces.append(jax.device_get(out))
    metrics = {m: np.concatenate([p[m] for p in pieces])[:k_total] for m in pieces[0]}
    return SweepResult(configs=cfg, metrics=metrics, seeds=seeds, devices=n_dev)
