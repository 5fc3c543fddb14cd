"""A learning-rate x weight-decay sweep of a digits MLP three ways, in one process: wall clock and compile counts.

* ``sweep``: ``fo.tune.sweep``, every configuration in one jitted ``jax.vmap`` program;
* ``sequential``: one jitted training step with array hyperparameters (``fo.adamw(hp["lr"],
  weight_decay=hp["wd"])``) called from a Python loop, every step of every configuration (one compile);
* ``sequential_scan``: the sweep's own ``train_fn`` (a ``lax.scan`` over the steps) jitted without
  ``vmap`` and called once per configuration (one compile): the strongest sequential baseline;
* ``sweep_fast`` / ``sequential_fast``: ``sweep(..., compiler_options=FAST_COMPILE)`` and the
  sequential step jitted with the same options, so the effect of the options is shown on both sides;
* ``optax``: a new ``optax.adamw(lr, weight_decay=wd)`` (Python floats) per configuration inside a
  freshly jitted training function, so one compile each (optax's hyperparameters are constants).

Every way trains the same 64-32-10 MLP from the same initialisation on the same fixed minibatches of
scikit-learn's digits (batch 64, cycled) for the same steps, and reports the final full-training-set
loss; the ways run the same math, so their losses agree (checked, printed). Wall clock includes
tracing and compilation (that is the cost a user pays); it is split into "compile" (jaxpr tracing,
lowering to MLIR and XLA backend compilation, summed from ``jax.monitoring`` events) and "run" (the
rest: execution, dispatch, Python). Compiles are XLA backend compilations counted with
``jax.monitoring`` (every program, helpers included) and traces of the training function.

    python benchmarks/bench_tune.py                 # 16 configurations (4 x 4), 200 steps
    python benchmarks/bench_tune.py --configs 256   # GPU: 16 x 16
    python benchmarks/bench_tune.py --quick         # smoke run (the test suite runs this)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import functional_opt as fo  # noqa: E402
from functional_opt import tune  # noqa: E402
from functional_opt.tune.sweep import FAST_COMPILE  # noqa: E402

_COMPILES = [0]
_COMPILE_SECONDS = [0.0]
_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def _on_event(event: str, duration_secs: float, **kwargs: str | int) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1
    if event in _COMPILE_EVENTS:
        _COMPILE_SECONDS[0] += duration_secs


jax.monitoring.register_event_duration_secs_listener(_on_event)


def load_data(batch: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Digits scaled to [0, 1]: fixed minibatches ``[n, batch, 64]``, ``[n, batch]`` and the full training set."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm].astype(np.int32)
    n = len(x) // batch
    xb, yb = x[: n * batch].reshape(n, batch, -1), y[: n * batch].reshape(n, batch)
    return jnp.asarray(xb), jnp.asarray(yb), jnp.asarray(x[: n * batch]), jnp.asarray(y[: n * batch])


def init_mlp(key: jax.Array, sizes: tuple[int, ...] = (64, 32, 10)) -> dict[str, dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return {
        f"layer{i}": {
            "w": jax.random.normal(k, (m, n)) * math.sqrt(2.0 / m),
            "b": jnp.zeros((n,)),
        }
        for i, (k, m, n) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }


def loss_fn(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    h = x
    layers = [params[k] for k in sorted(params)]
    for layer in layers[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    logits = h @ layers[-1]["w"] + layers[-1]["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_step(opt_of: Callable[[Any], Any]) -> Callable:
    """``step(params, state, x, y, hp) -> (params, state)``: one training step with the optimizer ``opt_of(hp)``."""

    def step(p: Any, s: Any, x: jax.Array, y: jax.Array, hp: Any) -> tuple[Any, Any]:
        g = jax.grad(loss_fn)(p, x, y)
        u, s = opt_of(hp).update(g, s, p)
        return fo.apply_updates(p, u), s

    return step


def make_train_fn(opt_of: Callable[[Any], Any], data: tuple, params0: dict, steps: int, counter: list) -> Callable:
    """``train_fn(hp, key) -> {"loss": final full-set loss}`` for ``fo.tune.sweep``: the same step in a scan."""
    xb, yb, x_all, y_all = data
    step = make_step(opt_of)

    def train_fn(hp: Any, key: jax.Array) -> dict[str, jax.Array]:
        counter.append(1)  # once per trace

        def body(carry: tuple, t: jax.Array) -> tuple[tuple, None]:
            i = t % xb.shape[0]
            return step(*carry, xb[i], yb[i], hp), None

        (p, _), _ = jax.lax.scan(body, (params0, opt_of(hp).init(params0)), jnp.arange(steps))
        return {"loss": loss_fn(p, x_all, y_all)}

    return train_fn


def run_loop(step: Callable, opt: Any, hp: Any, data: tuple, params0: dict, steps: int, final_loss: Callable) -> float:
    """The usual training loop: a jitted step called from Python once per step on the fixed minibatches."""
    xs, ys = data
    p, s = params0, opt.init(params0)
    for t in range(steps):
        p, s = step(p, s, xs[t % len(xs)], ys[t % len(xs)], hp)
    return float(final_loss(p))


def _timed(fn: Callable[[], Any], traces: list) -> dict[str, Any]:
    c0, s0, n0, t0 = _COMPILES[0], _COMPILE_SECONDS[0], len(traces), time.perf_counter()
    losses = fn()
    seconds = time.perf_counter() - t0
    compile_s = _COMPILE_SECONDS[0] - s0
    return {
        "seconds": seconds,
        "compile_seconds": compile_s,
        "run_seconds": seconds - compile_s,
        "compiles": _COMPILES[0] - c0,
        "traces": len(traces) - n0,
        "losses": np.asarray(losses, np.float64),
    }


def grid_shape(configs: int) -> tuple[int, int]:
    n_lr = int(round(math.sqrt(configs)))
    if n_lr * (configs // n_lr) != configs:
        raise SystemExit(f"--configs {configs}: give a product a x b with a close to sqrt (e.g. 16, 64, 256)")
    return n_lr, configs // n_lr


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=16, help="configurations (learning rate x weight decay grid)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="repeat every way, order alternating; report the median")
    ap.add_argument("--quick", action="store_true", help="4 configurations, 10 steps, 1 round")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    if a.quick:
        a.configs, a.steps, a.rounds = 4, 10, 1
    import optax  # type: ignore[import-untyped]

    n_lr, n_wd = grid_shape(a.configs)
    configs = tune.grid(lr=np.logspace(-3.5, -1.5, n_lr).tolist(), wd=np.logspace(-4, -1, n_wd).tolist())
    data = load_data(a.batch)
    params0 = init_mlp(jax.random.key(0))
    key = jax.random.key(0)
    hps = [{n: v[k] for n, v in configs.items()} for k in range(a.configs)]
    jax.block_until_ready(jax.tree.leaves((data, params0)))
    jax.jit(lambda x: x + 1)(1.0).block_until_ready()  # the process's first compilation: not charged to any way

    def fo_adamw(hp: Any) -> Any:
        return fo.adamw(hp["lr"], weight_decay=hp["wd"])

    batches = ([data[0][i] for i in range(data[0].shape[0])], [data[1][i] for i in range(data[1].shape[0])])
    final_loss = jax.jit(lambda p: loss_fn(p, data[2], data[3]))
    jax.block_until_ready((batches, final_loss(params0)))  # data and the shared loss program: not timed

    def way_sweep(options: dict[str, Any] | None = None) -> dict[str, Any]:
        traces: list = []
        train_fn = make_train_fn(fo_adamw, data, params0, a.steps, traces)
        return _timed(
            lambda: tune.sweep(train_fn, configs, key=key, compiler_options=options).metrics["loss"][:, 0], traces
        )

    def way_sequential(options: dict[str, Any] | None = None) -> dict[str, Any]:
        traces: list = []

        def counted(*args: Any) -> Any:
            traces.append(1)
            return make_step(fo_adamw)(*args)

        step = jax.jit(counted, compiler_options=options)

        def run() -> list[float]:
            out = []
            for hp in hps:
                h = {n: jnp.asarray(v) for n, v in hp.items()}
                out.append(run_loop(step, fo_adamw(h), h, batches, params0, a.steps, final_loss))
            return out

        return _timed(run, traces)

    def way_sequential_scan() -> dict[str, Any]:
        traces: list = []
        run_one = jax.jit(make_train_fn(fo_adamw, data, params0, a.steps, traces))
        k0 = jax.random.split(key, 1)[0]  # the key sweep gives seed 0 (train_fn ignores it here)

        def run() -> list[float]:
            return [float(run_one({n: jnp.asarray(v) for n, v in hp.items()}, k0)["loss"]) for hp in hps]

        return _timed(run, traces)

    def way_optax() -> dict[str, Any]:
        traces: list = []

        def run() -> list[float]:
            out = []
            for hp in hps:
                opt = optax.adamw(float(hp["lr"]), weight_decay=float(hp["wd"]))

                def counted(*args: Any, opt: Any = opt) -> Any:
                    traces.append(1)
                    return make_step(lambda _: opt)(*args)

                out.append(run_loop(jax.jit(counted), opt, None, batches, params0, a.steps, final_loss))
            return out

        return _timed(run, traces)

    ways: dict[str, Callable[[], dict[str, Any]]] = {
        "sweep": way_sweep,
        "sequential": way_sequential,
        "sequential_scan": way_sequential_scan,
        "optax": way_optax,
        "sweep_fast": lambda: way_sweep(FAST_COMPILE),
        "sequential_fast": lambda: way_sequential(FAST_COMPILE),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ways}
    for r in range(a.rounds):  # alternate the order between rounds: A B C, C B A, ...
        for name in list(ways) if r % 2 == 0 else list(ways)[::-1]:
            runs[name].append(ways[name]())
    results = {
        name: {
            "seconds": float(np.median([x["seconds"] for x in rs])),
            "seconds_each": [round(x["seconds"], 3) for x in rs],
            "compile_seconds": float(np.median([x["compile_seconds"] for x in rs])),
            "run_seconds": float(np.median([x["run_seconds"] for x in rs])),
            "compiles": rs[0]["compiles"],
            "traces": rs[0]["traces"],
            "losses": rs[0]["losses"],
        }
        for name, rs in runs.items()
    }

    ref = results["optax"]["losses"]
    diff = {name: float(np.max(np.abs(r["losses"] - ref))) for name, r in results.items()}
    rel = {name: float(np.max(np.abs(r["losses"] - ref) / np.abs(ref))) for name, r in results.items()}
    sweep_s, sweep_run = results["sweep"]["seconds"], results["sweep"]["run_seconds"]
    print(
        f"digits MLP 64-32-10, {a.configs} configurations (lr {n_lr} x wd {n_wd}), {a.steps} steps, "
        f"batch {a.batch}, backend {jax.default_backend()} ({len(jax.local_devices())} device(s))"
    )
    print()
    print(
        f"| way | wall s (median of {a.rounds}) | each round | compile s | run s | XLA compiles | traces "
        "| sweep / way, wall | sweep / way, run only | loss vs optax |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, res in results.items():
        each = ", ".join(f"{x:.2f}" for x in res["seconds_each"])
        print(
            f"| {name} | {res['seconds']:.2f} | {each} | {res['compile_seconds']:.2f} | {res['run_seconds']:.3f} | "
            f"{res['compiles']} | {res['traces']} | {sweep_s / res['seconds']:.3f}x | "
            f"{sweep_run / res['run_seconds']:.3f}x | {rel[name]:.1e} rel |"
        )
    ratio_opx = sweep_s / results["optax"]["seconds"]
    ratio_seq = sweep_s / results["sequential"]["seconds"]
    ratio_seq_run = sweep_run / results["sequential"]["run_seconds"]
    fast_seq = results["sweep_fast"]["seconds"] / results["sequential"]["seconds"]
    fast_fast = results["sweep_fast"]["seconds"] / results["sequential_fast"]["seconds"]
    agree = max(rel.values()) < 1e-3
    print()
    print(
        f"final losses (best {ref.min():.4f}) agree across all ways: {'yes' if agree else 'NO'} "
        f"(max abs diff {max(diff.values()):.1e}, max rel diff {max(rel.values()):.1e}; "
        f"{jnp.zeros(()).dtype}, {a.steps} Adam steps; float32 roundoff grows with the steps, "
        "JAX_ENABLE_X64=1 agrees to ~1e-15)"
    )
    print(f"target sweep <= 0.25x optax: {'met' if ratio_opx <= 0.25 else 'NOT met'} ({ratio_opx:.3f}x)")
    print(f"target sweep <= 0.5x sequential: {'met' if ratio_seq <= 0.5 else 'NOT met'} ({ratio_seq:.3f}x)")
    print(f"steady state (run only, compilation excluded): sweep / sequential {ratio_seq_run:.3f}x")
    print(
        f"with FAST_COMPILE: sweep_fast / sequential {fast_seq:.3f}x, "
        f"sweep_fast / sequential_fast (same options both sides) {fast_fast:.3f}x"
    )
    out = {
        "configs": a.configs,
        "steps": a.steps,
        "batch": a.batch,
        "backend": jax.default_backend(),
        "ways": {
            n: {k: v for k, v in r.items() if k != "losses"} | {"max_loss_diff": diff[n], "max_rel_diff": rel[n]}
            for n, r in results.items()
        },
        "sweep_over_optax": ratio_opx,
        "sweep_over_sequential": ratio_seq,
        "sweep_over_sequential_run_only": ratio_seq_run,
        "sweep_fast_over_sequential": fast_seq,
        "sweep_fast_over_sequential_fast": fast_fast,
        "losses_agree": agree,
        "best_loss": float(ref.min()),
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
