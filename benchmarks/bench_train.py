"""End-to-end training step (forward, backward, update): functional_opt against optax.

Models:
* ``resmlp``: a residual MLP of ``--layers`` layers of 64x64 (2 leaves each;
  1,000 layers = 2,000 leaves, 4.2M params), batch 32, Adam (the many-leaf
  model of the "Method" section of benchmarks/README.md). Variants: optax on the tree; functional_opt
  on the tree and in flat mode (``make_train_step``); forward+backward alone
  (the floor); and the same layers stacked ``[L, 64, 64]`` and run with
  ``lax.scan`` (the model-side layout that fixes compile time), both libraries.
* ``digits``: the examples' MLP on scikit-learn's digits, batch 64, Adam.

Competitors are timed in alternating rounds in one process; ratios are
functional_opt / optax of the same model layout.

    python benchmarks/bench_train.py            # full
    python benchmarks/bench_train.py --quick    # smoke run at tiny sizes
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _harness as H  # noqa: E402


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--layers", type=int, default=None, help="residual MLP depth (default 1000)")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--models", default="resmlp,digits")
    ap.add_argument("--variants", default=None, help="comma list of variants to run (default all)")
    ap.add_argument("--fusion", choices=["on", "off", "env"], default="env")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    a.layers = a.layers or (8 if a.quick else 1000)
    a.steps = a.steps or (2 if a.quick else 20)
    return a


def resmlp_params(key, layers, width):
    import jax

    keys = jax.random.split(key, layers)
    return {
        f"l{i:04d}": {"w": jax.random.normal(k, (width, width)) * (0.5 / width**0.5), "b": jax.numpy.zeros((width,))}
        for i, k in enumerate(keys)
    }


def resmlp_loss(params, x, y):
    import jax.numpy as jnp

    h = x
    for name in sorted(params):
        h = h + jnp.tanh(h @ params[name]["w"] + params[name]["b"])
    return jnp.mean((h - y) ** 2)


def stacked_loss(params, x, y):
    import jax
    import jax.numpy as jnp

    def layer(h, wb):
        w, b = wb
        return h + jnp.tanh(h @ w + b), None

    h, _ = jax.lax.scan(layer, x, (params["w"], params["b"]))
    return jnp.mean((h - y) ** 2)


def optax_step(loss_fn, opt):
    """The textbook optax training step (what users write), for the comparison."""
    import jax
    import optax

    def step(params, state, *batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    return step


def grad_only_step(loss_fn):
    import jax

    def step(params, state, *batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        return grads, state, loss

    return step


def run_model(model, a, key):
    import jax
    import jax.numpy as jnp
    import optax

    import functional_opt as fo

    comps = {}  # name -> (step fn, params, opt state, batch, baseline name)
    if model == "resmlp":
        k1, k2, k3 = jax.random.split(key, 3)
        params = resmlp_params(k1, a.layers, a.width)
        x = jax.random.normal(k2, (a.batch, a.width))
        y = jax.random.normal(k3, (a.batch, a.width)) * 0.1
        batch = (x, y)
        stacked = {
            "w": jnp.stack([params[k]["w"] for k in sorted(params)]),
            "b": jnp.stack([params[k]["b"] for k in sorted(params)]),
        }
        ox, fo_opt = optax.adam(1e-3), fo.adam(1e-3)
        flat = fo.flat.flatten_params(params)
        comps["optax tree"] = (optax_step(resmlp_loss, ox), params, ox.init(params), "optax tree")
        comps["fo tree"] = (fo.make_train_step(resmlp_loss, fo_opt), params, fo_opt.init(params), "optax tree")
        comps["fo flat"] = (fo.make_train_step(resmlp_loss, fo_opt), flat, fo_opt.init(flat), "optax tree")
        comps["fwd+bwd only"] = (grad_only_step(resmlp_loss), params, (), "optax tree")
        comps["optax scan"] = (optax_step(stacked_loss, ox), stacked, ox.init(stacked), "optax scan")
        comps["fo scan"] = (fo.make_train_step(stacked_loss, fo_opt), stacked, fo_opt.init(stacked), "optax scan")
    elif model == "digits":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
        import _digits as D

        data = D.load_digits_data()
        params = D.init_mlp(key)
        xb, yb = jnp.asarray(data.x_train[:64]), jnp.asarray(data.y_train[:64])
        batch = (xb, yb)

        def loss(p, x, y):
            return D.cross_entropy(D.mlp_logits(p, x), y)

        ox, fo_opt = optax.adam(1e-3), fo.adam(1e-3)
        flat = fo.flat.flatten_params(params)
        comps["optax tree"] = (optax_step(loss, ox), params, ox.init(params), "optax tree")
        comps["fo tree"] = (fo.make_train_step(loss, fo_opt), params, fo_opt.init(params), "optax tree")
        comps["fo flat"] = (fo.make_train_step(loss, fo_opt), flat, fo_opt.init(flat), "optax tree")
    else:
        raise ValueError(model)

    if a.variants:
        keep = set(a.variants.split(","))
        keep |= {comps[k][3] for k in keep if k in comps}  # and their baselines
        comps = {k: v for k, v in comps.items() if k in keep}
    runners, stats = {}, {}
    for name, (fn, p, s, _) in comps.items():
        stats[name], runners[name] = H.runner(fn, (jax.tree.map(lambda v: v.copy(), p), s), batch)
    times = H.run_interleaved(runners, warmup=3, steps=a.steps, rounds=4 if not a.quick else 2)
    n = sum(v.size for v in jax.tree.leaves(params))
    rows = []
    for name, (_, _, _, base) in comps.items():
        s = H.summary(times[name])
        b = H.summary(times[base])["median"]
        rows.append(
            {
                "model": model,
                "leaves": len(jax.tree.leaves(comps[name][1])),
                "params": n,
                "variant": name,
                "compile_s": stats[name].compile_s,
                **H.in_ms(s),
                "step_ratio": s["median"] / b,
                "compile_ratio": stats[name].compile_s / stats[base].compile_s,
                "vs": base,
                "mem_mib": stats[name].memory / 2**20,
            }
        )
    return rows


COLUMNS = [
    ("model", "model"),
    ("leaves", "leaves"),
    ("params", "params"),
    ("variant", "variant"),
    ("compile_s", "compile s"),
    ("median_ms", "step ms"),
    ("p10_ms", "p10"),
    ("p90_ms", "p90"),
    ("vs", "vs"),
    ("step_ratio", "step ratio"),
    ("compile_ratio", "compile ratio"),
    ("mem_mib", "mem MiB"),
]


def main(argv=None):
    a = parse(argv)
    if a.fusion != "env":
        H.set_fusion_flag(a.fusion == "on")
    import jax

    print(f"# bench_train: {H.machine()}")
    print(
        f"# optax {__import__('optax').__version__}; XLA:CPU multi-output fusion "
        f"{'on' if H.fusion_flag_on() else 'off'}; resmlp {a.layers} layers x {a.width}, batch {a.batch}; "
        f"{a.steps} timed steps"
    )
    rows = []
    key = jax.random.PRNGKey(0)
    for model in a.models.split(","):
        key, sub = jax.random.split(key)
        rows += run_model(model, a, sub)
        print(f"# done {model}", file=sys.stderr, flush=True)
    print(H.fmt_rows(COLUMNS, rows))
    H.write_json(a.json, {"machine": H.machine(), "fusion": H.fusion_flag_on(), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
