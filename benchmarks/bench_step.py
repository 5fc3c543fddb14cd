"""Optimizer step alone: functional_opt (tree and flat mode) against optax, in one process.

For Adam, AdamW with global-norm clipping and SGD with momentum, over four
trees of about ``--size`` fp32 parameters (one leaf; ~250 transformer-like
leaves; ~2,000 small leaves; one odd-sized leaf), it measures trace+compile
time, step time (median, p10, p90; donated, and not donated), XLA's bytes
accessed and fusion count, memory per XLA's analysis, and GB/s at the
minimal bytes (28 B/param for Adam, 20 for SGD with momentum) as a fraction
of a streaming kernel's bandwidth measured in the same run.
Competitors run interleaved (A B A B); ratios are functional_opt / optax.
Implementations: ``optax`` and ``fo`` on the tree; ``fo-flat`` in flat mode
with the default buckets (<= 8 leaves per buffer); ``fo-flat1`` in flat mode
with one buffer per dtype (``bucket_leaves=None``).

    python benchmarks/bench_step.py                 # full run, defaults of XLA
    python benchmarks/bench_step.py --fusion on     # XLA:CPU multi-output fusion on
    python benchmarks/bench_step.py --quick         # a smoke run at tiny sizes
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _harness as H  # noqa: E402


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, few steps (a smoke run)")
    ap.add_argument("--size", type=int, default=None, help="parameters per tree (default 2**24)")
    ap.add_argument("--small-layers", type=int, default=None, help="layers of the many-leaf tree (2 leaves each)")
    ap.add_argument("--trees", default="one,transformer,small,odd")
    ap.add_argument("--opts", default="adam,adamw_clip,sgd_momentum")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per competitor")
    ap.add_argument(
        "--fusion",
        choices=["on", "off", "env"],
        default="env",
        help="XLA:CPU multi-output fusion (env: leave XLA_FLAGS as it is)",
    )
    ap.add_argument("--no-undonated", action="store_true", help="skip the not-donated timings")
    ap.add_argument("--json", default=None, help="write the results to this path")
    a = ap.parse_args(argv)
    a.size = a.size or (2**12 if a.quick else 2**24)
    a.small_layers = a.small_layers or (10 if a.quick else 1000)
    a.transformer_layers = 2 if a.quick else 21
    a.steps = a.steps or (2 if a.quick else 24)
    return a


def make_tree(kind: str, n: int, small_layers: int, key, transformer_layers: int = 21):
    """The benchmark trees: shapes only depend on ``kind`` and the sizes."""
    import jax
    import jax.numpy as jnp

    if kind == "one":
        shapes = {"w": (n,)}
    elif kind == "odd":
        shapes = {"w": (n - 1,)}
    elif kind == "transformer":
        layers = transformer_layers
        d = max(8, int(math.sqrt(n / (12 * layers + 3))) // 8 * 8)
        shapes = {}
        for i in range(layers):
            for name, s in [
                ("qkv", (d, 3 * d)),
                ("o", (d, d)),
                ("up", (d, 4 * d)),
                ("down", (4 * d, d)),
                ("b_qkv", (3 * d,)),
                ("b_o", (d,)),
                ("b_up", (4 * d,)),
                ("b_down", (d,)),
                ("ln1_s", (d,)),
                ("ln1_b", (d,)),
                ("ln2_s", (d,)),
                ("ln2_b", (d,)),
            ]:
                shapes[f"layer{i:02d}/{name}"] = s
        used = sum(math.prod(s) for s in shapes.values())
        shapes["embed"] = (max(1, (n - used) // d), d)
    elif kind == "small":
        m = max(2, int(math.sqrt(n / small_layers)))
        shapes = {}
        for i in range(small_layers):
            shapes[f"l{i:04d}"] = {"w": (m, m), "b": (m,)}
    else:
        raise ValueError(kind)
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda s: isinstance(s, tuple))
    keys = jax.random.split(key, len(leaves))
    vals = [jax.random.normal(k, s, jnp.float32) * 0.02 for k, s in zip(keys, leaves)]
    return treedef.unflatten(vals)


def optimizers(name: str):
    """(functional_opt optimizer, optax optimizer) with the same rule and hyperparameters."""
    import optax

    import functional_opt as fo

    if name == "adam":
        return fo.adam(1e-3), optax.adam(1e-3)
    if name == "sgd_momentum":
        return fo.sgd(1e-2, momentum=0.9), optax.sgd(1e-2, momentum=0.9)
    if name == "adamw_clip":
        clip = getattr(fo, "clip_by_global_norm", None)
        if clip is None:  # before the clipping module exists: the same rule, written here

            def clip(max_norm):
                import jax
                import jax.numpy as jnp

                def f(u, _):
                    g = fo.global_norm(u)
                    scale = jnp.minimum(1.0, max_norm / jnp.maximum(g, 1e-30))
                    return jax.tree.map(lambda x: (x * scale).astype(x.dtype), u)

                return fo.stateless(f)

        return (
            fo.chain(clip(1.0), fo.adamw(1e-3, weight_decay=1e-2)),
            optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3, weight_decay=1e-2)),
        )
    raise ValueError(name)


# bytes a step must move per fp32 parameter: Adam reads p, g, m, v and writes p, m, v;
# SGD with momentum reads p, g, v and writes p, v (clipping's extra read of g not counted)
MIN_BYTES = {"adam": 28, "adamw_clip": 28, "sgd_momentum": 20}


def bench_case(opt_name, tree_kind, a, key, stream_gbps):
    import jax
    import optax

    import functional_opt as fo

    params = make_tree(tree_kind, a.size, a.small_layers, key, a.transformer_layers)
    grads = jax.tree.map(lambda x: x * 0.5 + 0.01, params)
    n = sum(x.size for x in jax.tree.leaves(params))
    n_leaves = len(jax.tree.leaves(params))
    fo_opt, ox_opt = optimizers(opt_name)
    flat_p, flat_g = fo.flat.flatten_params(params), fo.flat.flatten_params(grads)
    one_p = fo.flat.flatten_params(params, bucket_leaves=None)
    one_g = fo.flat.flatten_params(grads, bucket_leaves=None)
    n_arrays = {"fo-flat": len(flat_p.buffers), "fo-flat1": len(one_p.buffers)}
    comps = {
        "optax": (ox_opt, optax.apply_updates, params, grads),
        "fo": (fo_opt, fo.apply_updates, params, grads),
        "fo-flat": (fo_opt, fo.apply_updates, flat_p, flat_g),
        "fo-flat1": (fo_opt, fo.apply_updates, one_p, one_g),
    }
    rows, runners, runners_nd, stats = {}, {}, {}, {}
    for name, (opt, apply, p0, g) in comps.items():
        for donated in (True, False) if not a.no_undonated else (True,):
            c, adv = H.update_runner(opt, apply, p0, g, donate=donated)
            if donated:
                stats[name] = c
            (runners if donated else runners_nd)[name] = adv
    times = H.run_interleaved(runners, warmup=3, steps=a.steps, rounds=4 if not a.quick else 2)
    times_nd = H.run_interleaved(runners_nd, warmup=2, steps=max(2, a.steps // 2), rounds=2) if runners_nd else {}
    base = H.summary(times["optax"])["median"]
    base_nd = H.summary(times_nd["optax"])["median"] if times_nd else float("nan")
    for name, c in stats.items():
        s = H.summary(times[name])
        s_nd = H.summary(times_nd[name])["median"] if times_nd else float("nan")
        gbps = MIN_BYTES[opt_name] * n / s["median"] / 1e9
        rows[name] = {
            "opt": opt_name,
            "tree": tree_kind,
            "leaves": n_leaves,
            "params": n,
            "impl": name,
            "arrays": n_arrays.get(name, n_leaves),
            "compile_s": c.compile_s,
            **H.in_ms(s),
            "undonated_ms": s_nd * 1e3,
            "bytes_per_param": c.bytes / n,
            "fusions": c.fusions,
            "mem_mib": c.memory / 2**20,
            "gbps_28": gbps,
            "frac_stream": gbps / stream_gbps,
            "step_ratio": s["median"] / base,
            "undonated_ratio": s_nd / base_nd,
            "compile_ratio": c.compile_s / stats["optax"].compile_s,
        }
    return list(rows.values())


COLUMNS = [
    ("opt", "opt"),
    ("tree", "tree"),
    ("leaves", "leaves"),
    ("impl", "impl"),
    ("arrays", "arrays"),
    ("compile_s", "compile s"),
    ("median_ms", "step ms"),
    ("p10_ms", "p10"),
    ("p90_ms", "p90"),
    ("step_ratio", "step/optax"),
    ("compile_ratio", "compile/optax"),
    ("undonated_ms", "not donated ms"),
    ("undonated_ratio", "nd/optax"),
    ("bytes_per_param", "B/param (XLA)"),
    ("fusions", "fusions"),
    ("mem_mib", "mem MiB"),
    ("gbps_28", "GB/s @min B"),
    ("frac_stream", "of stream"),
]


def main(argv=None):
    a = parse(argv)
    if a.fusion != "env":
        H.set_fusion_flag(a.fusion == "on")
    import jax

    key = jax.random.PRNGKey(0)
    stream = H.stream_bandwidth(a.size)
    print(f"# bench_step: {H.machine()}")
    print(
        f"# optax {__import__('optax').__version__}; XLA:CPU multi-output fusion "
        f"{'on' if H.fusion_flag_on() else 'off'}; {a.size} params per tree; "
        f"{a.steps} timed steps; stream (triad) bandwidth {stream:.1f} GB/s"
    )
    rows = []
    for opt_name in a.opts.split(","):
        for tree_kind in a.trees.split(","):
            key, sub = jax.random.split(key)
            rows += bench_case(opt_name, tree_kind, a, sub, stream)
            print(f"# done {opt_name} / {tree_kind}", file=sys.stderr, flush=True)
    print(H.fmt_rows(COLUMNS, rows))
    H.write_json(a.json, {"machine": H.machine(), "fusion": H.fusion_flag_on(), "stream_gbps": stream, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
