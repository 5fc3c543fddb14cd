"""Every optimizer of the registry on the digits MLP and on Rosenbrock: a ranked table and a PNG.

For each entry of ``tests/registry.py`` (the same list the contract tests
cover) this script

1. trains the small digits MLP (scikit-learn's 8x8 digits, no download) for a
   few hundred minibatch steps at each learning rate of a small grid, keeping
   the rate with the lowest final training loss;
2. runs the Rosenbrock function ``(1 - x)^2 + 100 (y - x^2)^2`` from
   ``(-1.5, 2)``, again keeping the best rate of the grid;

then prints a table ranked by test accuracy and writes
``rosenbrock_trajectories.png`` (one small panel per optimizer) under ``--out``.

Optimizers that need more than the gradient get it: ``obj_fn=`` (Sophia) is
the current batch loss, ``grad_fn=`` (SAM) its gradient, ``value=`` the loss.

Run from the repository root::

    python -m examples.optimizer_zoo [--out examples/out] [--quick]

``--quick`` is a smoke run: one rate, a handful of steps. Each (optimizer,
problem) is one jit-compiled ``lax.scan``; the learning rate is a traced
argument, so the grid costs no recompilation.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo
from examples._digits import accuracy, cross_entropy, init_mlp, load_digits_data, mlp_logits
from tests.registry import REGISTRY

LR_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
START = (-1.5, 2.0)


def rosenbrock(p):
    x, y = p["xy"][0], p["xy"][1]
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _extras(entry, loss_of_params, loss_value):
    """The registry entry's extra arguments, with the loss-dependent ones bound to this problem."""
    out = {}
    for k, v in entry.extra.items():
        if k == "obj_fn":
            out[k] = loss_of_params
        elif k == "grad_fn":
            out[k] = jax.grad(loss_of_params)
        elif k == "value":
            out[k] = loss_value
        else:
            out[k] = v
    return out


def _run(entry, lr, params, loss_fn, batches):
    """Optimize ``loss_fn(params, batch)`` over the stacked ``batches`` with one jitted ``lax.scan``.

    Returns ``(final params, losses per step, params path including the start)``.
    """

    def train(params, lr, batches):
        opt = entry.make(lr)

        def body(carry, batch):
            params, state = carry
            obj = lambda p: loss_fn(p, batch)
            loss, grads = jax.value_and_grad(obj)(params)
            u, state = opt.update(grads, state, params, **_extras(entry, obj, loss))
            params = fo.apply_updates(params, u)
            return (params, state), (loss, params)

        (params, _), (losses, path) = jax.lax.scan(body, (params, opt.init(params)), batches)
        return params, losses, path

    if entry.vmap_lr:
        fn = _JIT_CACHE.setdefault((entry.name, loss_fn), jax.jit(train))
        out = fn(params, jnp.asarray(lr, jnp.float32), batches)
    else:
        out = jax.jit(train, static_argnums=1)(params, lr, batches)
    final, losses, path = out
    path = jax.tree.map(lambda p0, ps: np.concatenate([np.asarray(p0)[None], np.asarray(ps)]), params, path)
    return final, np.asarray(losses), path


_JIT_CACHE: dict = {}


def _best(results):
    """The (lr, result) pair whose final loss is lowest (NaN counts as +inf)."""

    def key(item):
        v = float(np.mean(item[1][1][-max(1, len(item[1][1]) // 10) :]))
        return v if math.isfinite(v) else math.inf

    return min(results, key=key)


def digits_problem(steps, batch_size, hidden, seed=0):
    data = load_digits_data(seed=seed)
    rng = np.random.default_rng(seed)
    idx = []
    order, pos = rng.permutation(len(data.x_train)), 0
    for _ in range(steps):
        if pos + batch_size > len(order):
            order, pos = rng.permutation(len(data.x_train)), 0
        idx.append(order[pos : pos + batch_size])
        pos += batch_size
    idx = np.stack(idx)
    batches = (jnp.asarray(data.x_train[idx]), jnp.asarray(data.y_train[idx]))
    params = init_mlp(jax.random.PRNGKey(seed), (64, hidden, 10))
    loss_fn = lambda p, b: cross_entropy(mlp_logits(p, b[0]), b[1])
    return data, params, loss_fn, batches


def run_zoo(names, *, quick, out):
    steps, rsteps = (4, 8) if quick else (300, 500)
    grid = (1e-2,) if quick else LR_GRID
    data, p0, dloss, batches = digits_problem(steps, 64, 16 if quick else 64)
    r0 = {"xy": jnp.asarray(START, jnp.float32)}
    rloss = lambda p, b: rosenbrock(p)
    rows, paths = [], {}
    for name in names:
        entry = REGISTRY[name]
        t0 = time.perf_counter()
        d = _best([(lr, _run(entry, lr, p0, dloss, batches)) for lr in grid])
        r = _best([(lr, _run(entry, lr, r0, rloss, jnp.zeros(rsteps))) for lr in grid])
        acc = accuracy(d[1][0], data.x_test, data.y_test)
        acc = acc if all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(d[1][0])) else float("nan")
        paths[name] = r[1][2]["xy"]
        rows.append(
            dict(
                name=name,
                lr=d[0],
                loss=float(np.mean(d[1][1][-max(1, steps // 10) :])),
                acc=acc,
                rlr=r[0],
                f=float(r[1][1][-1]),
                dist=float(np.linalg.norm(paths[name][-1] - 1.0)),
                s=time.perf_counter() - t0,
            )
        )
    rows.sort(key=lambda r: (-(r["acc"] if math.isfinite(r["acc"]) else -1.0), r["loss"]))
    print(
        f"{'rank':>4}  {'optimizer':<28} {'lr':>7} {'train loss':>10} {'test acc':>8}   "
        f"{'rosen lr':>8} {'f(final)':>10} {'|p - (1,1)|':>11} {'sec':>5}"
    )
    for i, r in enumerate(rows, 1):
        print(
            f"{i:>4}  {r['name']:<28} {r['lr']:>7.0e} {r['loss']:>10.4f} {r['acc']:>8.3f}   "
            f"{r['rlr']:>8.0e} {r['f']:>10.3g} {r['dist']:>11.3g} {r['s']:>5.1f}"
        )
    png = os.path.join(out, "rosenbrock_trajectories.png")
    plot_trajectories(paths, png)
    print(f"wrote {png}")
    return rows


def plot_trajectories(paths, filename):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
    xs, ys = np.meshgrid(np.linspace(-2, 2, 120), np.linspace(-1, 3, 120))
    zs = np.log10((1 - xs) ** 2 + 100 * (ys - xs**2) ** 2 + 1e-3)
    n = len(paths)
    cols = min(6, n)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (name, path) in zip(axes.flat, sorted(paths.items())):
        ax.set_axis_on()
        ax.contour(xs, ys, zs, levels=12, linewidths=0.4, cmap="Greys")
        path = np.clip(np.nan_to_num(path, nan=5.0), -5, 5)
        ax.plot(path[:, 0], path[:, 1], lw=0.8, color="tab:red")
        ax.plot([1], [1], "k*", ms=5)
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1, 3)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(filename, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="smoke run: one rate, a few steps")
    ap.add_argument("--only", nargs="*", default=None, help="registry names to run (default: all)")
    args = ap.parse_args(argv)
    names = sorted(REGISTRY) if not args.only else args.only
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        ap.error(f"unknown registry names {unknown}; known: {sorted(REGISTRY)}")
    t0 = time.perf_counter()
    run_zoo(names, quick=args.quick, out=args.out)
    print(f"done: {len(names)} optimizers in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
