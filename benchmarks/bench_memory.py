"""Optimizer state memory: float32 vs bfloat16 vs 8-bit Adam, functional_opt against optax, in one process.

For Adam on a tree of about ``--size`` fp32 parameters (four square
matrices), it measures, per variant: the bytes of the optimizer state (the
arrays ``init`` returns: codes and scales for 8-bit), the memory of the
jitted, donated step ``(params, state, grads) -> (params, state)`` per XLA's
``compiled.memory_analysis()`` (``peak_memory_in_bytes``, the liveness-based
peak of all buffers, arguments included; the sum arguments + outputs +
temporaries - donated aliases, as if every buffer were live at once; and the
temporaries alone), and the step time (median, p10, p90, interleaved
A B A B). Ratios are to optax's float32 Adam.

Variants: ``optax f32`` (``optax.adam``), ``optax bf16`` (``optax.adam(mu_dtype=bf16)``,
optax's lowest-memory Adam: its ``nu`` stays float32), ``fo f32`` (``fo.adam``),
``fo bf16`` (``fo.adam(mu_dtype=bf16, nu_dtype=bf16)``), ``fo 8bit``
(``fo.adam8bit``: int8/uint8 codes + a float32 scale per 256 elements).

    python benchmarks/bench_memory.py             # 2**24 parameters
    python benchmarks/bench_memory.py --quick     # a smoke run at a tiny size
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _harness as H  # noqa: E402

VARIANTS = ("optax f32", "optax bf16", "fo f32", "fo bf16", "fo 8bit")

COLUMNS = [
    ("variant", "variant"),
    ("state_mb", "state MB"),
    ("state_ratio", "state / optax f32"),
    ("peak_mb", "step peak MB"),
    ("sum_mb", "arg+out+temp-alias MB"),
    ("temp_mb", "temp MB"),
    ("peak_ratio", "peak / optax f32"),
    ("median_ms", "step ms (median)"),
    ("p10_ms", "p10"),
    ("p90_ms", "p90"),
    ("time_ratio", "time / optax f32"),
]


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny size, few steps (a smoke run)")
    ap.add_argument("--size", type=int, default=None, help="parameters (default 2**24; --quick 2**14)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    ap.add_argument("--json", default=None, help="write the results to this path")
    a = ap.parse_args(argv)
    a.size = a.size or (2**14 if a.quick else 2**24)
    a.steps = a.steps or (2 if a.quick else 20)
    a.variants = [v.strip() for v in a.variants.split(",")]
    unknown = set(a.variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    return a


def make_optimizer(variant: str):
    import jax.numpy as jnp
    import optax

    import functional_opt as fo

    lr = 1e-3
    return {
        "optax f32": lambda: optax.adam(lr),
        "optax bf16": lambda: optax.adam(lr, mu_dtype=jnp.bfloat16),
        "fo f32": lambda: fo.adam(lr),
        "fo bf16": lambda: fo.adam(lr, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16),
        "fo 8bit": lambda: fo.adam8bit(lr),
    }[variant]()


def make_params(n: int, key):
    """Four square float32 matrices with about ``n`` elements in all."""
    import jax

    d = max(16, int(math.sqrt(n / 4)))
    keys = jax.random.split(key, 4)
    return {f"w{i}": jax.random.normal(k, (d, d)) * 0.02 for i, k in enumerate(keys)}


def nbytes(tree) -> int:
    import jax
    import numpy as np

    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def bench(a, key):
    import jax

    params0 = make_params(a.size, key)
    grads = jax.tree.map(lambda p: jax.random.normal(jax.random.fold_in(key, p.size), p.shape) * 1e-2, params0)
    n = sum(p.size for p in jax.tree.leaves(params0))
    runners, info = {}, {}
    for v in a.variants:
        opt = make_optimizer(v)
        apply = (
            __import__("optax").apply_updates if v.startswith("optax") else __import__("functional_opt").apply_updates
        )
        c, runners[v] = H.update_runner(opt, apply, params0, grads)
        m = c.compiled.memory_analysis()
        info[v] = {
            "variant": v,
            "state_bytes": nbytes(jax.eval_shape(opt.init, params0)),
            # XLA's liveness-based peak of the step's buffers (arguments included)
            "peak_bytes": float(getattr(m, "peak_memory_in_bytes", float("nan"))),
            # arguments + outputs + temporaries - donated aliases: every buffer as if live at once
            "sum_bytes": c.memory,
            "temp_bytes": float(getattr(m, "temp_size_in_bytes", float("nan"))),
            "compile_s": c.compile_s,
        }
    times = H.run_interleaved(runners, warmup=2, steps=a.steps, rounds=min(4, a.steps))
    base = info.get("optax f32")
    rows = []
    for v in a.variants:
        r = info[v]
        s = H.summary(times[v])
        r.update(H.in_ms(s), params=n)
        rows.append(r)
    base_t = next((r["median_ms"] for r in rows if r["variant"] == "optax f32"), float("nan"))
    for r in rows:
        r["state_mb"] = r["state_bytes"] / 2**20
        r["peak_mb"] = r["peak_bytes"] / 2**20
        r["temp_mb"] = r["temp_bytes"] / 2**20
        r["sum_mb"] = r["sum_bytes"] / 2**20
        r["state_ratio"] = r["state_bytes"] / base["state_bytes"] if base else float("nan")
        r["peak_ratio"] = r["peak_bytes"] / base["peak_bytes"] if base else float("nan")
        r["time_ratio"] = r["median_ms"] / base_t
    return rows, n


def main(argv=None):
    a = parse(argv)
    import jax

    print(f"# bench_memory: {H.machine()}")
    rows, n = bench(a, jax.random.PRNGKey(0))
    print(
        f"# optax {__import__('optax').__version__}; Adam on {n} fp32 params (4 square matrices); "
        f"jitted step with params and state donated; {a.steps} timed steps per variant, interleaved"
    )
    print(H.fmt_rows(COLUMNS, rows))
    H.write_json(a.json, {"machine": H.machine(), "params": n, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
