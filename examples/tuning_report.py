"""A tuning report on real data (scikit-learn's 8x8 digits), every sweep one compiled program.

Three steps, with the library's tuning tools (``fo.tune``):

1. ``fo.tune.lr_find`` for Adam: the learning-rate range test (one compiled
   ``lax.scan``), a PNG of the curve with its suggestions;
2. ``fo.tune.sweep`` over learning rate x schedule (step decay, exponential
   decay, cyclical, warmup-cosine) for each of the tutorial's four optimizers
   (gradient descent, momentum, RMSProp, Adam), 3 seeds each: all
   configurations x seeds of one optimizer train side by side under
   ``jax.vmap`` in one compiled program (the learning rate is an array
   hyperparameter, the schedule an index into the four schedules). Ranked by
   the loss on a validation split held out of the training split; a heatmap PNG
   and a table (mean ± standard deviation over seeds);
3. the best configuration of each optimizer trained to the end on the whole
   training split (a tqdm progress bar), a loss-curves PNG and a table of the
   final test accuracy;
4. a short ``fo.tune.pbt`` run: population-based training of Adam's learning
   rate (exploit and explore inside one compiled ``lax.scan``), a PNG of the
   rates each member followed and the best member's lineage.

Run from the repository root::

    python -m examples.tuning_report [--out examples/out] [--quick] [--no-progress]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo
from examples import _digits

BATCH = 64
SEEDS = 3
SWEEP_STEPS = 400  # each sweep run (the schedules span this horizon)
FINAL_STEPS = 1500  # the best configurations, trained to the end
LR_FIND_STEPS = 200
PBT_SIZE, PBT_INTERVALS, PBT_STEPS = 8, 10, 40  # population-based training: members, intervals, steps each
DIVERGED = 2.5  # a validation loss above the initial one (ln 10 = 2.30 for 10 classes) counts as diverged

# name, builder(learning rate, total steps) -> schedule; the learning rate may be a traced array
SCHEDULES: list[tuple[str, Callable[[Any, int], Callable]]] = [
    ("step decay", lambda lr, t: fo.step_decay_schedule(lr, max(t // 3, 1), 0.1)),
    ("exponential", lambda lr, t: fo.exponential_decay(lr, t, 0.01)),
    ("cyclical", lambda lr, t: fo.cyclic_schedule(lr / 10, lr * 2, max(t // 8, 1), mode="triangular2")),
    ("warmup-cosine", lambda lr, t: fo.warmup_cosine_decay_schedule(0.0, lr, max(t // 20, 1), t)),
]

# name, constructor from a learning rate (number, array or schedule), learning-rate grid around its usual scale
OPTIMIZERS: list[tuple[str, Callable[[Any], fo.GradientTransformation], list[float]]] = [
    ("gradient descent", fo.gradient_descent, [0.03, 0.1, 0.3, 1.0, 3.0]),
    ("momentum", lambda lr: fo.momentum(lr, decay=0.9), [0.01, 0.03, 0.1, 0.3, 1.0]),
    ("RMSProp", lambda lr: fo.rmsprop(lr, decay=0.9, eps=1e-8), [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]),
    ("Adam", fo.adam, [1e-3, 3e-3, 1e-2, 3e-2, 0.1]),
]


def _loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return _digits.cross_entropy(_digits.mlp_logits(params, x), y)


def lr_find_adam(data: _digits.Data, steps: int, out: str) -> fo.tune.LRFindResult:
    """The range test for Adam on the digits MLP: one minibatch per step, a PNG of the curve."""
    rng = np.random.default_rng(0)
    idx = np.stack([rng.choice(len(data.x_train), BATCH, replace=False) for _ in range(steps)])
    batches = (data.x_train[idx], data.y_train[idx])  # leading axis = steps
    params = _digits.init_mlp(jax.random.PRNGKey(0))
    result = fo.tune.lr_find(lambda p, b: _loss(p, *b), params, batches, fo.adam, min_lr=1e-5, max_lr=1.0, steps=steps)
    result.plot(os.path.join(out, "lr_find_adam.png"))
    return result


def fit_val(data: _digits.Data) -> tuple[tuple, tuple]:
    """``(x, y)`` to train on and ``(x, y)`` to rank by: the last fifth of the training split is held out."""
    n_val = len(data.x_train) // 5
    return (data.x_train[:-n_val], data.y_train[:-n_val]), (data.x_train[-n_val:], data.y_train[-n_val:])


def make_train_fn(make_opt: Callable[[Any], fo.GradientTransformation], fit: tuple, val: tuple, steps: int):
    """``train_fn(hp, key)`` for ``fo.tune.sweep``: ``hp["learning_rate"]`` (array), ``hp["schedule"]`` (an index)."""
    x_fit, y_fit = jnp.asarray(fit[0]), jnp.asarray(fit[1])
    x_val, y_val = jnp.asarray(val[0]), jnp.asarray(val[1])
    n = x_fit.shape[0]

    def train_fn(hp: dict[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        lr = hp["learning_rate"]
        schedules = [build(lr, steps) for _, build in SCHEDULES]
        # the schedule is a hyperparameter too: an index into the four (under vmap, a select)
        schedule = lambda count: jnp.stack([s(count) for s in schedules])[hp["schedule"]]
        opt = make_opt(schedule)
        init_key, data_key = jax.random.split(key)
        params = _digits.init_mlp(init_key)

        def step(carry: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            p, s = carry
            i = jax.random.randint(k, (BATCH,), 0, n)  # minibatch drawn with replacement
            loss, g = jax.value_and_grad(_loss)(p, x_fit[i], y_fit[i])
            u, s = opt.update(g, s, p)
            return (fo.apply_updates(p, u), s), loss

        (params, _), curve = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(data_key, steps))
        logits = _digits.mlp_logits(params, x_val)
        val_loss = _digits.cross_entropy(logits, y_val)
        val_acc = jnp.mean(jnp.argmax(logits, -1) == y_val)
        # a diverged run ranks last (nan sorts last in the sweep's rankings)
        return {"curve": curve, "val_loss": val_loss, "val_acc": val_acc}

    return train_fn


def run_sweeps(
    data: _digits.Data, steps: int, seeds: int, n_lrs: int, optimizers: list[str]
) -> dict[str, fo.tune.SweepResult]:
    """One ``fo.tune.sweep`` per optimizer (named in ``optimizers``) over learning rate x schedule, ``seeds`` seeds."""
    fit, val = fit_val(data)
    results = {}
    for name, make_opt, lrs in OPTIMIZERS:
        if name not in optimizers:
            continue
        configs = fo.tune.grid(learning_rate=lrs[:n_lrs], schedule=list(range(len(SCHEDULES))))
        train_fn = make_train_fn(make_opt, fit, val, steps)
        results[name] = fo.tune.sweep(train_fn, configs, seeds=seeds, key=jax.random.key(1))
    return results


def sweep_table(results: dict[str, fo.tune.SweepResult], top: int) -> str:
    """The ``top`` configurations of each optimizer: validation loss and accuracy, mean ± std over seeds."""
    header = f"{'optimizer':<18}{'schedule':<15}{'lr':>9}  {'val loss (mean ± std)':<24}{'val acc (mean ± std)'}"
    lines = [header, "-" * len(header)]
    for name, r in results.items():
        loss = np.asarray(r.metrics["val_loss"], np.float64)
        acc = np.asarray(r.metrics["val_acc"], np.float64)
        ddof = 1 if r.seeds > 1 else 0
        mean = loss.mean(axis=1)
        order = np.argsort(np.where(np.isfinite(mean), mean, np.inf), kind="stable")
        for k in order[:top]:
            cfg = r.config(int(k))
            lines.append(
                f"{name:<18}{SCHEDULES[cfg['schedule']][0]:<15}{cfg['learning_rate']:>9.3g}  "
                f"{f'{mean[k]:.4f} ± {loss[k].std(ddof=ddof):.4f}':<24}"
                f"{acc[k].mean():.3f} ± {acc[k].std(ddof=ddof):.3f}"
            )
    return "\n".join(lines)


def plot_heatmaps(results: dict[str, fo.tune.SweepResult], path: str, steps: int) -> None:
    """One panel per optimizer: mean validation loss over seeds, schedule x learning rate.

    A run whose loss is not finite or above ``DIVERGED`` (no better than the initial loss, ln 10)
    is marked "div." on a grey cell, so it does not stretch the colour scale.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(results), 3.6))
    axes = fig.subplots(1, len(results))
    for ax, (name, r) in zip(np.atleast_1d(axes), results.items()):
        lrs = np.unique(r.configs["learning_rate"])
        cell = np.full((len(SCHEDULES), lrs.size), np.nan)
        mean = np.asarray(r.metrics["val_loss"], np.float64).mean(axis=1)
        for k in range(r.num_configs):
            cell[r.configs["schedule"][k], np.searchsorted(lrs, r.configs["learning_rate"][k])] = mean[k]
        ok = np.isfinite(cell) & (cell < DIVERGED)
        ax.set_facecolor("0.8")
        im = ax.imshow(np.where(ok, np.log10(np.where(ok, cell, 1.0)), np.nan), cmap="viridis_r", origin="lower")
        for i in range(cell.shape[0]):
            for j in range(cell.shape[1]):
                if ok[i, j]:
                    r_, g_, b_, _ = im.cmap(im.norm(np.log10(cell[i, j])))
                    ink = "k" if 0.299 * r_ + 0.587 * g_ + 0.114 * b_ > 0.5 else "w"
                    ax.text(j, i, f"{cell[i, j]:.3f}", ha="center", va="center", fontsize=7, color=ink)
                else:
                    ax.text(j, i, "div.", ha="center", va="center", fontsize=7, color="k")
        ax.set_xticks(range(lrs.size), [f"{v:.3g}" for v in lrs], fontsize=8)
        ax.set_yticks(range(len(SCHEDULES)), [s for s, _ in SCHEDULES], fontsize=8)
        ax.set_xlabel("learning rate (the schedule's scale)")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, label="log10 val loss")
    seeds = next(iter(results.values())).seeds
    fig.suptitle(f"validation loss (mean over {seeds} seeds) after {steps} steps (lower is better: yellow)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def train_logged(
    opt: fo.GradientTransformation, schedule: Any, data: _digits.Data, steps: int, bar: Any, seed: int = 0
) -> _digits.TrainResult:
    """``_digits.train`` with the loss and the learning rate in the progress bar.

    The learning rate shown is the one the last step used, read from the
    optimizer state by ``fo.current_hyperparams`` (the state keeps the step
    count; the schedule is evaluated at it).
    """

    def show(i, loss, opt_state):
        if bar is not None and (i % 25 == 0 or i == steps - 1):
            lr = float(fo.current_hyperparams(opt_state, learning_rate=schedule)["learning_rate"])
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.3g}", refresh=False)

    return _digits.train(opt, data, steps=steps, batch_size=BATCH, seed=seed, on_step=show, progress=_digits.ticks(bar))


def train_best(
    data: _digits.Data, results: dict[str, fo.tune.SweepResult], steps: int, progress: bool
) -> list[dict[str, Any]]:
    """Each optimizer's best configuration (lowest mean validation loss) trained ``steps`` steps on the train split."""
    rows = []
    with _digits.progress_bar(steps * len(results), "best configurations", enabled=progress) as bar:
        for name, make_opt, _ in OPTIMIZERS:
            if name not in results:
                continue
            best = results[name].best("val_loss")
            lr, sched = float(best.config["learning_rate"]), int(best.config["schedule"])
            schedule = SCHEDULES[sched][1](lr, steps)
            r = train_logged(make_opt(schedule), schedule, data, steps, bar)
            rows.append(
                dict(
                    name=name,
                    lr=lr,
                    schedule=SCHEDULES[sched][0],
                    result=r,
                    train_acc=_digits.accuracy(r.params, data.x_train, data.y_train),
                    test_acc=_digits.accuracy(r.params, data.x_test, data.y_test),
                )
            )
    return rows


def run_pbt(data: _digits.Data, size: int, intervals: int, steps: int) -> fo.tune.PBTResult:
    """Population-based training of Adam's learning rate: ``size`` members, log-spaced initial rates."""
    fit, val = fit_val(data)
    x_fit, y_fit, x_val, y_val = (jnp.asarray(a) for a in (*fit, *val))
    n = x_fit.shape[0]

    def step_fn(m: dict[str, Any], key: jax.Array) -> dict[str, Any]:
        opt = fo.adam(m["hparams"]["learning_rate"])  # an array hyperparameter: no recompilation
        i = jax.random.randint(key, (BATCH,), 0, n)
        g = jax.grad(_loss)(m["params"], x_fit[i], y_fit[i])
        u, s = opt.update(g, m["opt_state"], m["params"])
        return {**m, "params": fo.apply_updates(m["params"], u), "opt_state": s}

    def eval_fn(m: dict[str, Any]) -> jax.Array:
        return _loss(m["params"], x_val, y_val)

    params = jax.vmap(_digits.init_mlp)(jax.random.split(jax.random.key(2), size))
    population = {
        "params": params,
        "opt_state": jax.vmap(fo.adam(1e-3).init)(params),
        "hparams": {"learning_rate": jnp.asarray(np.geomspace(1e-4, 1e-1, size), jnp.float32)},
    }
    return fo.tune.pbt(
        step_fn, population, intervals=intervals, steps_per_interval=steps, eval_fn=eval_fn, key=jax.random.key(3)
    )


def plot_pbt(r: fo.tune.PBTResult, path: str, steps: int) -> None:
    """Every member slot's learning rate per interval (thin), the best member's lineage (thick)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    edges = np.arange(r.scores.shape[0] + 1) * steps  # interval i trains on steps [edges[i], edges[i + 1])
    lrs = r.hparams["learning_rate"]
    extend = lambda v: np.append(v, v[-1])  # repeat the last value so the last interval is drawn too
    for j in range(lrs.shape[1]):
        ax.step(edges, extend(lrs[:, j]), where="post", color="0.6", lw=0.8)
    best = extend(r.schedule()["learning_rate"])
    ax.step(edges, best, where="post", color="C3", lw=2.5, label="best member's lineage")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("Adam learning rate")
    ax.set_title(f"population-based training: {lrs.shape[1]} members, exploit/explore every {steps} steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def final_table(rows: list[dict[str, Any]]) -> str:
    header = f"{'optimizer':<18}{'schedule':<15}{'lr':>9}{'final loss':>12}{'train acc':>11}{'test acc':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        final = float(np.mean(row["result"].losses[-20:]))
        lines.append(
            f"{row['name']:<18}{row['schedule']:<15}{row['lr']:>9.3g}{final:>12.4f}"
            f"{row['train_acc']:>11.3f}{row['test_acc']:>10.3f}"
        )
    return "\n".join(lines)


def plot_final(rows: list[dict[str, Any]], path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    k = 25
    for row in rows:
        label = f"{row['name']} ({row['schedule']}, lr {row['lr']:.3g})"
        ax.plot(_digits.moving_average(row["result"].losses, k), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"train loss (moving average of {k} steps)")
    ax.set_title("Each optimizer's best configuration, trained to the end")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(out: str, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write the report's PNGs under ``out``, print its tables; returns the pieces (for tests)."""
    os.makedirs(out, exist_ok=True)
    data = _digits.load_digits_data(seed=0)
    sweep_steps, final_steps = (10, 10) if quick else (SWEEP_STEPS, FINAL_STEPS)
    seeds, n_lrs = (2, 2) if quick else (SEEDS, 5)
    # --quick: two optimizers (each sweep compiles its own program, which dominates a smoke run)
    optimizers = ["gradient descent", "Adam"] if quick else [name for name, _, _ in OPTIMIZERS]

    t0 = time.perf_counter()
    lr = lr_find_adam(data, 20 if quick else LR_FIND_STEPS, out)
    print(
        f"\n1. Learning-rate range test, Adam ({len(lr.lrs)} steps recorded, diverged: {lr.diverged}, "
        f"{time.perf_counter() - t0:.1f} s): steepest descent at lr {lr.suggestion:.2g}, "
        f"minimum / 10 at {lr.suggestion_min_over_10:.2g}"
    )

    t0 = time.perf_counter()
    results = run_sweeps(data, sweep_steps, seeds, n_lrs, optimizers)
    n_runs = sum(r.num_configs for r in results.values()) * seeds
    print(
        f"\n2. Sweep: {len(optimizers)} optimizers x {n_lrs} learning rates x {len(SCHEDULES)} schedules x "
        f"{seeds} seeds = {n_runs} runs of {sweep_steps} steps, one compiled program per optimizer "
        f"({time.perf_counter() - t0:.1f} s); best {3 if not quick else 2} of each by validation loss:"
    )
    print(sweep_table(results, top=2 if quick else 3))
    plot_heatmaps(results, os.path.join(out, "tuning_heatmap.png"), sweep_steps)

    t0 = time.perf_counter()
    rows = train_best(data, results, final_steps, progress)
    print(
        f"\n3. The best configuration of each optimizer trained {final_steps} steps of batch {BATCH} "
        f"({time.perf_counter() - t0:.1f} s):"
    )
    print(final_table(rows))
    plot_final(rows, os.path.join(out, "tuning_best_curves.png"))

    t0 = time.perf_counter()
    size, intervals, steps = (4, 3, 5) if quick else (PBT_SIZE, PBT_INTERVALS, PBT_STEPS)
    pbt = run_pbt(data, size, intervals, steps)
    sched = pbt.schedule()["learning_rate"]
    print(
        f"\n4. Population-based training of Adam's learning rate: {size} members, {intervals} intervals of "
        f"{steps} steps, one compiled program ({time.perf_counter() - t0:.1f} s). Best member's validation "
        f"loss {pbt.scores[-1, pbt.best]:.4f}; the learning rate its lineage followed, per interval:"
    )
    print("  " + " ".join(f"{v:.2g}" for v in sched))
    plot_pbt(pbt, os.path.join(out, "tuning_pbt.png"), steps)
    print(
        f"report figures written to {out}/: lr_find_adam.png, tuning_heatmap.png, tuning_best_curves.png, "
        "tuning_pbt.png"
    )
    return {"lr_find": lr, "sweeps": results, "final": rows, "pbt": pbt}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="tiny runs, for smoke tests")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    report(args.out, quick=args.quick, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
