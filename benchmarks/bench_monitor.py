"""The cost of fo.monitor: an Adam step with and without the diagnostics wrapper, optax's Adam alongside.

On bench_step's transformer-like tree (~250 leaves, ``--size`` fp32
parameters; ``--sizes`` for several), one process, competitors interleaved
(A B A B), jitted and donated steps, as the other benchmarks:

* ``optax adam``: ``optax.adam(1e-3)``, the reference;
* ``fo adam``: ``fo.adam(1e-3)``;
* ``fo adam + monitor``: ``fo.monitor(fo.adam(1e-3), learning_rate=1e-3)``
  (every metric, per leaf and total, each step);
* ``... per_leaf=False``: totals only;
* ``... every=10``: measured every 10th step (the others keep the last values);
* ``fo sgd`` and ``fo sgd + monitor``: the same without Adam's ``lr_eff``.

"overhead" is the monitored step's median over its unmonitored optimizer's,
minus 1. The
monitored step reads ``g``, ``u``, ``p`` and Adam's ``nu`` once more (16
bytes per fp32 parameter on top of Adam's 28 at least), so on a memory-bound
step the cost of measuring every step is a fraction of the step itself;
``every=k`` divides it by ``k``.

    python benchmarks/bench_monitor.py                   # 2**24 parameters
    python benchmarks/bench_monitor.py --sizes 1048576,16777216
    python benchmarks/bench_monitor.py --quick           # a smoke run
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _harness as H  # noqa: E402
from bench_step import make_tree  # noqa: E402


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, few steps (a smoke run)")
    ap.add_argument("--sizes", default=None, help="comma-separated parameter counts (default 2**24)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per competitor")
    ap.add_argument("--impls", default=None, help="comma-separated competitors (default: all; --quick: three)")
    ap.add_argument("--json", default=None, help="write the results to this path")
    a = ap.parse_args(argv)
    a.sizes = [int(s) for s in (a.sizes or ("4096" if a.quick else str(2**24))).split(",")]
    a.layers = 2 if a.quick else 21
    a.steps = a.steps or (2 if a.quick else 40)
    quick_impls = "optax adam,fo adam,fo adam + monitor"
    a.impls = a.impls.split(",") if a.impls else (quick_impls.split(",") if a.quick else None)
    return a


def competitors(lr: float = 1e-3):
    import optax

    import functional_opt as fo

    adam = fo.adam(lr)
    return {
        "optax adam": (optax.adam(lr), optax.apply_updates),
        "fo adam": (adam, fo.apply_updates),
        "fo adam + monitor": (fo.monitor(adam, learning_rate=lr), fo.apply_updates),
        "fo adam + monitor per_leaf=False": (fo.monitor(adam, per_leaf=False, learning_rate=lr), fo.apply_updates),
        "fo adam + monitor every=10": (fo.monitor(adam, every=10, learning_rate=lr), fo.apply_updates),
        "fo sgd": (fo.sgd(lr), fo.apply_updates),
        "fo sgd + monitor": (fo.monitor(fo.sgd(lr)), fo.apply_updates),
    }


def bench_size(n: int, a, key) -> list[dict]:
    import jax

    params = make_tree("transformer", n, 0, key, a.layers)
    grads = jax.tree.map(lambda x: x * 0.5 + 0.01, params)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    runners, compiled = {}, {}
    for name, (opt, apply) in competitors().items():
        if a.impls is not None and name not in a.impls:
            continue
        compiled[name], runners[name] = H.update_runner(opt, apply, params, grads)
    times = H.run_interleaved(runners, warmup=3 if not a.quick else 1, steps=a.steps, rounds=4 if not a.quick else 2)
    ref = H.summary(times["optax adam"])["median"] if "optax adam" in times else float("nan")
    rows = []
    for name, c in compiled.items():
        s = H.summary(times[name])
        rows.append(
            {
                "params": n_params,
                "leaves": len(jax.tree.leaves(params)),
                "impl": name,
                "compile_s": c.compile_s,
                **H.in_ms(s),
                "vs_optax": s["median"] / ref,
                "overhead": (
                    s["median"] / H.summary(times[name.split(" + ")[0]])["median"] - 1
                    if name.split(" + ")[0] in times and " + " in name
                    else float("nan")
                ),
                "bytes_per_param": c.bytes / n_params,
            }
        )
    return rows


COLUMNS = [
    ("params", "params"),
    ("leaves", "leaves"),
    ("impl", "impl"),
    ("compile_s", "compile s"),
    ("median_ms", "step ms"),
    ("p10_ms", "p10"),
    ("p90_ms", "p90"),
    ("vs_optax", "step/optax"),
    ("overhead", "overhead"),
    ("bytes_per_param", "B/param (XLA)"),
]


def main(argv=None):
    a = parse(argv)
    import jax

    print(f"# bench_monitor: {H.machine()}")
    print(
        f"# optax {__import__('optax').__version__}; transformer-like tree ({a.layers} layers); "
        f"{a.steps} timed steps; XLA:CPU multi-output fusion {'on' if H.fusion_flag_on() else 'off'}"
    )
    rows = []
    key = jax.random.PRNGKey(0)
    for n in a.sizes:
        key, sub = jax.random.split(key)
        rows += bench_size(n, a, sub)
        print(f"# done {n}", file=sys.stderr, flush=True)
    percent = lambda x: "-" if x != x else f"{100 * x:+.0f}%"  # noqa: E731
    print(H.fmt_rows(COLUMNS, [{**r, "overhead": percent(r["overhead"])} for r in rows]))
    H.write_json(a.json, {"machine": H.machine(), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
