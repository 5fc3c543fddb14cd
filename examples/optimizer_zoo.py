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

Each optimizer's grid is centred on its documented default scale
(:data:`CENTRE_LR`: about 0.1 for SGD, 1e-3 for the Adam family, 1e-4 for
Lion, 1.0 for the parameter-free methods such as D-Adaptation and Prodigy),
``centre x (1/10, 1/3, 1, 3)`` (on Rosenbrock, whose gradients are far
larger, also ``centre x 1e-3`` and ``x 1e-2``), so each is tested where it is
meant to run.
The whole grid of one optimizer on one problem is ONE :func:`fo.tune.sweep`:
every learning rate trains side by side in one jit-compiled, vmapped
``lax.scan`` (the learning rate is a traced array hyperparameter). An entry
whose learning rate cannot be traced (``vmap_lr=False`` in the registry)
falls back to one compiled run per rate; the table marks it ``loop``.

Optimizers that need more than the gradient get it: ``obj_fn=`` (Sophia) is
the current batch loss, ``grad_fn=`` (SAM) its gradient, ``value=`` the loss.

Run from the repository root::

    python -m examples.optimizer_zoo [--out examples/out] [--quick]

``--quick`` is a smoke run: one rate (the centre), a handful of steps.
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
from examples._digits import cross_entropy, init_mlp, load_digits_data, minibatches, mlp_logits
from tests.registry import REGISTRY

START = (-1.5, 2.0)
GRID_FACTORS = (0.1, 1 / 3, 1.0, 3.0)
# Rosenbrock's gradients at the start are in the hundreds, far from a network's scale: its grid reaches
# further down (plain SGD needs about 1e-4 there). The points are 2-vectors, so the extra rates are free.
ROSEN_FACTORS = (1e-3, 1e-2, *GRID_FACTORS)

# The documented (or customary, where the docs give none) default learning-rate scale of each
# optimizer family; the grid is centre x GRID_FACTORS. Entries not listed fall back by name in
# `centre_lr` (wrappers and chains take their inner optimizer's scale).
CENTRE_LR = {
    # plain and momentum SGD
    "gradient_descent": 0.1,
    "sgd": 0.1,
    "sgd_nesterov": 0.1,
    "momentum": 0.1,
    "noisy_sgd": 0.1,
    "lars": 0.1,
    # Adam family
    "rmsprop": 1e-3,
    "rmsprop_centered_momentum": 1e-3,
    "amsgrad": 1e-3,
    "amsgrad_optax": 1e-3,
    "adabelief": 1e-3,
    "adamax": 2e-3,
    "adamaxw": 2e-3,
    "yogi": 1e-2,
    "adan": 1e-3,
    "ademamix": 1e-3,
    "adopt": 1e-3,
    "lamb": 1e-3,
    "novograd": 1e-2,
    # sign methods: steps of size lr on every coordinate
    "sign_sgd": 1e-3,
    "signum": 1e-3,
    "lion": 1e-4,
    # accumulators
    "adagrad": 1e-2,
    "adagrad_torch": 1e-2,
    "sm3": 1e-1,
    "adadelta": 1.0,  # documented default
    # step-size adapting and parameter-free: the rate is a multiplier on a self-tuned step
    "rprop": 1e-2,  # the initial step size; the docstring quotes torch's default 0.01
    "polyak_sgd": 1.0,  # `scaling`, documented default 1.0
    "prodigy": 1.0,
    "dadapt_adamw": 1.0,
    "schedule_free_sgd": 1.0,  # documented default
    "schedule_free_adamw": 2.5e-3,  # documented default
    # memory-light, orthogonalized and second-order
    "adafactor": 1e-2,  # relative to the parameter scale
    "adafactor_paper": 1.0,  # multiplies the relative step min(1e-2, 1/sqrt(t))
    "fromage": 1e-2,
    "muon": 2e-2,
    "shampoo": 1e-2,
    "sophia": 1e-3,
}


def centre_lr(name):
    """The centre of ``name``'s learning-rate grid: :data:`CENTRE_LR`, else by family from the name."""
    if name in CENTRE_LR:
        return CENTRE_LR[name]
    if "adam" in name or "lamb" in name:
        return 1e-3
    if "sgd" in name:
        return 0.1
    return 1e-2


def lr_grid(name, quick, factors=GRID_FACTORS):
    """``centre_lr(name) x factors`` (3 significant digits); ``quick``: the centre alone."""
    c = centre_lr(name)
    return (c,) if quick else tuple(float(f"{c * f:.3g}") for f in factors)


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


def _train(entry, lr, params, loss_fn, batches):
    """Optimize ``loss_fn(params, batch)`` over the stacked ``batches`` with one ``lax.scan``.

    Returns ``(final params, losses per step, params path after each step)``.
    """
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


def _finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _grid_search(entry, grid, metrics_fn, params, loss_fn, batches):
    """Train at every rate of ``grid``; returns ``(best rate, its metrics as numpy, "sweep" | "loop")``.

    ``metrics_fn(final params, losses, path) -> dict`` must hold ``"loss"`` (the rate is chosen
    by its lowest value; diverged runs rank last).
    """

    def train_fn(hp, key):
        return metrics_fn(*_train(entry, hp["learning_rate"], params, loss_fn, batches))

    if entry.vmap_lr:
        res = fo.tune.sweep(train_fn, fo.tune.grid(learning_rate=list(grid)))
        best = res.best("loss")
        return grid[best.index], {m: np.asarray(v[best.index, 0]) for m, v in res.metrics.items()}, "sweep"

    # the learning rate must stay a Python number: one compiled run per rate
    def run_at(lr):
        return jax.device_get(jax.jit(lambda: metrics_fn(*_train(entry, lr, params, loss_fn, batches)))())

    runs = [(lr, run_at(lr)) for lr in grid]

    def key(item):
        v = float(item[1]["loss"])
        return v if math.isfinite(v) else math.inf

    lr, m = min(runs, key=key)
    return lr, {k: np.asarray(v) for k, v in m.items()}, "loop"


def digits_problem(steps, batch_size, hidden, seed=0):
    data = load_digits_data(seed=seed)
    xs, ys = zip(*minibatches(data, steps, batch_size, seed))
    batches = (jnp.asarray(np.stack(xs)), jnp.asarray(np.stack(ys)))
    params = init_mlp(jax.random.PRNGKey(seed), (64, hidden, 10))
    loss_fn = lambda p, b: cross_entropy(mlp_logits(p, b[0]), b[1])
    return data, params, loss_fn, batches


def run_zoo(names, *, quick, out):
    steps, rsteps = (4, 8) if quick else (300, 500)
    data, p0, dloss, batches = digits_problem(steps, 64, 16 if quick else 64)
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    tail = max(1, steps // 10)

    def digits_metrics(params, losses, path):
        acc = jnp.mean(jnp.argmax(mlp_logits(params, x_test), -1) == y_test)
        # final training loss: the mean of the last tenth of the minibatch losses
        return {"loss": jnp.mean(losses[-tail:]), "acc": jnp.where(_finite(params), acc, jnp.nan)}

    def rosen_metrics(params, losses, path):
        return {"loss": losses[-1], "path": path["xy"]}

    r0 = {"xy": jnp.asarray(START, jnp.float32)}
    rloss = lambda p, b: rosenbrock(p)
    rows, paths = [], {}
    for name in names:
        entry = REGISTRY[name]
        grid = lr_grid(name, quick)
        t0 = time.perf_counter()
        dlr, d, how = _grid_search(entry, grid, digits_metrics, p0, dloss, batches)
        rgrid = lr_grid(name, quick, ROSEN_FACTORS)
        rlr, r, _ = _grid_search(entry, rgrid, rosen_metrics, r0, rloss, jnp.zeros(rsteps))
        paths[name] = np.concatenate([np.asarray(START)[None], r["path"]])
        rows.append(
            dict(
                name=name,
                how=how,
                lr=dlr,
                loss=float(d["loss"]),
                acc=float(d["acc"]),
                rlr=rlr,
                f=float(r["loss"]),
                dist=float(np.linalg.norm(paths[name][-1] - 1.0)),
                s=time.perf_counter() - t0,
            )
        )
    rows.sort(key=lambda r: (-(r["acc"] if math.isfinite(r["acc"]) else -1.0), r["loss"]))
    print(
        f"{'rank':>4}  {'optimizer':<28} {'grid':>5} {'lr':>7} {'train loss':>10} {'test acc':>8}   "
        f"{'rosen lr':>8} {'f(final)':>10} {'|p - (1,1)|':>11} {'sec':>5}"
    )
    for i, r in enumerate(rows, 1):
        print(
            f"{i:>4}  {r['name']:<28} {r['how']:>5} {r['lr']:>7.1e} {r['loss']:>10.4f} {r['acc']:>8.3f}   "
            f"{r['rlr']:>8.1e} {r['f']:>10.3g} {r['dist']:>11.3g} {r['s']:>5.1f}"
        )
    print(
        "grid: each optimizer's rates are centre x (1/10, 1/3, 1, 3) around its documented scale (Rosenbrock: also "
        "x 1e-3, x 1e-2), run as one "
        "fo.tune.sweep ('sweep'), or one compiled run per rate ('loop') where the rate cannot be traced"
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
    ap.add_argument("--quick", action="store_true", help="smoke run: one rate (the grid centre), a few steps")
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
