"""``SweepResult``: the metrics of a sweep with its configurations, ranked, tabulated, recorded and plotted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Best", "SweepResult"]


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

        Examples:
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

        Examples:
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

        Examples:
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
