"""``lr_find``: the learning-rate range test, one compiled ``lax.scan`` (or fixed rates side by side with ``sweep``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt.base import GradientTransformation, apply_updates
from functional_opt.tune.sweep import sweep

__all__ = ["LRFindResult", "lr_find"]


@dataclasses.dataclass(frozen=True)
class LRFindResult:
    """The outcome of :func:`lr_find`.

    Attributes:
        lrs: the learning rates recorded (numpy, increasing), up to and including the first divergence.
        losses: ``"ramp"``: the raw loss of each step, computed before that step's update with
            ``lrs[i]``; ``"parallel"``: the loss after the fixed-rate run with ``lrs[i]``.
        smoothed: ``"ramp"``: the bias-corrected exponential moving average of ``losses``;
            ``"parallel"``: ``losses`` (each point is already a whole run, nothing to smooth).
        suggestion: ``"ramp"``: the rate at the steepest descent of ``smoothed`` against ``log(lr)``;
            ``"parallel"``: the rate whose run ended with the lowest loss.
        suggestion_min_over_10: the rate of the lowest ``smoothed`` loss, divided by 10.
        method: ``"ramp"`` (one run, the rate growing every step: a heuristic) or ``"parallel"``
            (independent fixed-rate runs: exact for the horizon trained).
        diverged: whether the curve stopped at a divergence (else every rate was recorded).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    suggestion_min_over_10: float
    method: str
    diverged: bool

    def plot(self, path: str) -> str:
        """Save a PNG of loss against learning rate (log axis) marking both suggestions. Returns ``path``.

        Needs matplotlib (imported here only).
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        if self.method == "ramp":
            ax.plot(self.lrs, self.losses, color="0.7", lw=0.8, label="loss")
            ax.plot(self.lrs, self.smoothed, color="C0", lw=1.5, label="smoothed loss")
        else:
            ax.plot(self.lrs, self.losses, "o-", color="C0", lw=1.5, label="loss after the run")
        ax.axvline(self.suggestion, color="C3", ls="--", label=f"suggestion {self.suggestion:.2g}")
        ax.axvline(self.suggestion_min_over_10, color="C2", ls=":", label=f"min / 10 {self.suggestion_min_over_10:.2g}")
        ax.set_xscale("log")
        # scale the y axis to the curve before the divergence spike (fastai's plot skips the last 5 points)
        n = len(self.losses)
        if self.method == "ramp":
            end = n - 5 if n > 10 else n
            body = np.concatenate([self.smoothed[:end], self.losses[:end]])
        else:
            body = self.losses[: n - 1] if self.diverged and n > 1 else self.losses
        body = body[np.isfinite(body)]
        if self.method == "parallel" and body.size and body.min() > 0:
            ax.set_yscale("log")
            ax.set_ylim(body.min() / 2, body.max() * 2)
        elif body.size:
            lo, hi = float(body.min()), float(body.max())
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.2 * (hi - lo) + 1e-12)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(f"learning-rate range test ({self.method})")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path


def _check(min_lr: float, max_lr: float, steps: int, smoothing: float, diverge_factor: float) -> None:
    numbers = {"min_lr": min_lr, "max_lr": max_lr, "smoothing": smoothing, "diverge_factor": diverge_factor}
    for name, v in numbers.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TypeError(f"lr_find: {name} must be a finite Python number, got {v!r}")
    if not 0 < min_lr < max_lr:
        raise ValueError(f"lr_find: needs 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"lr_find: steps must be a Python int >= 2, got {steps!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"lr_find: smoothing must be in [0, 1), got {smoothing}")
    if not diverge_factor > 1:
        raise ValueError(f"lr_find: diverge_factor must be > 1, got {diverge_factor}")


def _num_batches(batches: Any) -> int:
    leaves = jax.tree.leaves(batches)
    if not leaves:
        raise ValueError("lr_find: batches has no arrays; give a pytree of arrays whose leading axis indexes steps")
    sizes = {np.shape(x)[0] if np.ndim(x) else -1 for x in leaves}
    if len(sizes) != 1 or min(sizes) < 1:
        raise ValueError(
            "lr_find: every array in batches needs the same non-zero leading axis (one batch per step), "
            f"got shapes {[np.shape(x) for x in leaves]}"
        )
    return int(sizes.pop())


def _batch(batches: Any, i: jax.Array, n: int) -> Any:
    return jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, i % n, keepdims=False), batches)


def _steepest(lrs: np.ndarray, smoothed: np.ndarray, steps: int) -> float:
    """fastai's ``steep``: skip the first ``steps // 10`` and last 5 points, then the most negative slope in log(lr)."""
    lo, hi = steps // 10, len(lrs) - 5
    if hi - lo < 2:  # too short a curve to trim: use all of it
        lo, hi = 0, len(lrs)
    if hi - lo < 2:
        return float(lrs[0])
    lr, sm = lrs[lo:hi], smoothed[lo:hi]
    slopes = np.diff(sm) / np.diff(np.log(lr))
    return float(lr[int(np.nanargmin(slopes))])


def lr_find(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batches: Any,
    make_optimizer: Callable[[jax.Array], GradientTransformation],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    parallel: bool = False,
    num_lrs: int = 16,
    parallel_steps: int = 10,
) -> LRFindResult:
    """The learning-rate range test: train while the rate grows geometrically, find where the loss falls fastest.

    ``make_optimizer(lr)`` builds the optimizer from an array learning rate (``lambda lr: fo.adam(lr)``);
    ``loss_fn(params, batch) -> scalar``; ``batches`` is a pytree of arrays whose leading axis indexes
    the steps (step ``i`` uses batch ``i mod B``, so fewer batches than steps cycle).

    Ramp (default): one compiled ``lax.scan`` of ``steps`` steps from ``params``; step ``i`` computes
    the loss, then updates with ``lr_i = min_lr * (max_lr / min_lr) ** (i / (steps - 1))`` (the rate is
    an array hyperparameter: no retrace per step). Conventions follow fastai's ``lr_find``:

    * smoothed loss: ``a_i = smoothing * a_{i-1} + (1 - smoothing) * loss_i`` (``a_{-1} = 0``),
      ``smoothed_i = a_i / (1 - smoothing ** (i + 1))`` (bias-corrected);
    * divergence: ``smoothed_i > diverge_factor * min_{j <= i} smoothed_j`` (or not finite). That step is
      the last one recorded; later steps are skipped (``lax.cond``) and left out of the result;
    * ``suggestion``: the rate at the steepest descent of ``smoothed`` against ``log(lr)``, ignoring the
      first ``steps // 10`` and last 5 recorded points (fastai's ``steep``);
      ``suggestion_min_over_10``: the rate of the lowest smoothed loss divided by 10 (fastai's ``minimum``).

    Parallel (``parallel=True``): ``num_lrs`` fixed rates, log-spaced on ``[min_lr, max_lr]``, each
    trains ``parallel_steps`` steps from ``params`` side by side in one :func:`sweep`; ``losses`` is
    each run's loss after training (on the next batch). Exact for that horizon, where the ramp is a
    heuristic. A run diverged if its loss is not finite or exceeds ``diverge_factor`` times the initial
    loss; rates from the first diverged one on are dropped after it. ``suggestion`` is the rate with the
    lowest loss, ``suggestion_min_over_10`` that rate divided by 10.

    Args:
        loss_fn: ``(params, batch) -> scalar loss``, assumed positive (the divergence rule compares ratios).
        params: the initial parameters (a pytree).
        batches: pytree of arrays with a common leading axis ``B >= 1``.
        make_optimizer: ``lr -> GradientTransformation``; its state must not depend on ``lr``'s value.
        min_lr, max_lr: ``0 < min_lr < max_lr``.
        steps: ramp length, ``>= 2``.
        smoothing: ``beta`` in ``[0, 1)``.
        diverge_factor: ``> 1``.
        parallel: use fixed-rate runs instead of the ramp.
        num_lrs, parallel_steps: the number of rates and steps per run with ``parallel=True``.

    Returns:
        :class:`LRFindResult` (``.method`` says which test ran).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> from functional_opt import tune
        >>> loss_fn = lambda p, b: 0.5 * 4.0 * jnp.sum((p - b) ** 2)  # curvature 4: stable for lr < 0.5
        >>> r = tune.lr_find(loss_fn, jnp.ones(2), jnp.zeros((1, 2)), fo.sgd, min_lr=1e-3, max_lr=10.0, steps=50)
        >>> r.diverged, 0 < r.suggestion < 0.5
        (True, True)

    References:
        Smith, "Cyclical learning rates for training neural networks", WACV 2017 (arXiv:1506.01186),
        section 3.3 (the range test). fastai, ``Learner.lr_find`` and its ``steep`` / ``minimum``
        suggestions (https://docs.fast.ai/callback.schedule.html).
    """
    _check(min_lr, max_lr, steps, smoothing, diverge_factor)
    n_batches = _num_batches(batches)
    if parallel:
        return _parallel(
            loss_fn, params, batches, n_batches, make_optimizer, min_lr, max_lr, diverge_factor, num_lrs, parallel_steps
        )

    lrs = jnp.asarray(np.geomspace(min_lr, max_lr, steps), jnp.float32)
    beta = jnp.float32(smoothing)
    state = make_optimizer(lrs[0]).init(params)

    def step(carry: Any, xs: tuple[jax.Array, jax.Array]) -> tuple[Any, tuple[jax.Array, ...]]:
        p, s, avg, best, diverged = carry
        lr, i = xs

        def train(p: Any, s: Any) -> tuple[Any, Any, jax.Array]:
            loss, g = jax.value_and_grad(loss_fn)(p, _batch(batches, i, n_batches))
            u, s = make_optimizer(lr).update(g, s, p)
            return apply_updates(p, u), s, jnp.asarray(loss, jnp.float32)

        def skip(p: Any, s: Any) -> tuple[Any, Any, jax.Array]:
            return p, s, jnp.float32(jnp.nan)

        p, s, loss = jax.lax.cond(diverged, skip, train, p, s)
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta ** (i + 1).astype(jnp.float32))
        best = jnp.where(i == 0, smoothed, jnp.minimum(best, smoothed))
        recorded = ~diverged
        diverged = diverged | ~jnp.isfinite(smoothed) | (smoothed > diverge_factor * best)
        return (p, s, avg, best, diverged), (loss, smoothed, recorded)

    init = (params, state, jnp.float32(0), jnp.float32(jnp.inf), jnp.asarray(False))
    run = jax.jit(lambda carry: jax.lax.scan(step, carry, (lrs, jnp.arange(steps))))
    carry, (losses, smoothed, recorded) = jax.device_get(run(init))
    n = int(np.sum(recorded))
    lr_np = np.asarray(lrs)[:n]
    losses, smoothed = np.asarray(losses)[:n], np.asarray(smoothed)[:n]
    finite = np.where(np.isfinite(smoothed), smoothed, np.inf)
    return LRFindResult(
        lrs=lr_np,
        losses=losses,
        smoothed=smoothed,
        suggestion=_steepest(lr_np, smoothed, steps),
        suggestion_min_over_10=float(lr_np[int(np.argmin(finite))]) / 10,
        method="ramp",
        diverged=bool(carry[4]),
    )


def _parallel(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batches: Any,
    n_batches: int,
    make_optimizer: Callable[[jax.Array], GradientTransformation],
    min_lr: float,
    max_lr: float,
    diverge_factor: float,
    num_lrs: int,
    parallel_steps: int,
) -> LRFindResult:
    for name, v in (("num_lrs", num_lrs), ("parallel_steps", parallel_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"lr_find: {name} must be a Python int >= 1, got {v!r}")

    def train_fn(hp: dict[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        opt = make_optimizer(hp["learning_rate"])

        def step(carry: Any, i: jax.Array) -> tuple[Any, None]:
            p, s = carry
            g = jax.grad(loss_fn)(p, _batch(batches, i, n_batches))
            u, s = opt.update(g, s, p)
            return (apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(parallel_steps))
        return {"loss": loss_fn(p, _batch(batches, jnp.asarray(parallel_steps), n_batches))}

    lrs = np.geomspace(min_lr, max_lr, num_lrs).astype(np.float32)
    final = sweep(train_fn, {"learning_rate": lrs}).metrics["loss"][:, 0].astype(np.float64)
    initial = float(loss_fn(params, _batch(batches, jnp.asarray(0), n_batches)))
    bad = ~np.isfinite(final) | (final > diverge_factor * initial)
    n = int(np.argmax(bad)) + 1 if bad.any() else num_lrs
    lr_np, losses = lrs[:n], final[:n]
    ok = np.where(np.isfinite(losses), losses, np.inf)
    best = float(lr_np[int(np.argmin(ok))])
    return LRFindResult(lr_np, losses, losses, best, best / 10, "parallel", bool(bad.any()))
