"""Regularization on real data: six ways to train the digits MLP, side by side.

Trains the same MLP (64-128-10, ReLU) with Adam on scikit-learn's 8x8 digits
six times: no regularization, an L2 penalty in the loss (coupled), decoupled
weight decay (AdamW), proximal L1 (``chain(adam, prox_l1)``, exact zeros),
dropout on the hidden layer, and batch normalization of the hidden layer
(running statistics threaded through a small training loop of its own).
Prints train/test accuracy, the generalization gap and the fraction of
weights that are exactly zero, and writes a JSON file and a bar chart.
Penalties and decays act on the kernels only (biases and batch-norm scales
are masked out). Seeded and reproducible.

Run from the repository root::

    python -m examples.regularization [--steps 2000] [--out examples/out] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo
from examples import _digits

SIZES = (64, 128, 10)
LR = 1e-3
L2 = 1e-3  # coupled penalty coefficient: loss + L2 * 0.5 * |W|^2
WEIGHT_DECAY = 0.5  # decoupled: W <- W - LR * (adam + WEIGHT_DECAY * W)
L1 = 0.1  # proximal L1: soft-threshold by LR * L1 after each Adam step
DROPOUT = 0.3


def kernels_only(params):
    """Mask: True on dense kernels, False on biases (and anything else)."""
    return {k: {n: n == "kernel" for n in v} for k, v in params.items()}


def zero_fraction(params) -> float:
    leaves = [np.asarray(layer["kernel"]) for layer in params.values()]
    return float(sum(int(np.sum(w == 0)) for w in leaves) / sum(w.size for w in leaves))


def _variants():
    def penalized(params, batch, key):
        return _digits.default_loss(params, batch, key) + L2 * fo.l2_penalty(params, mask=kernels_only)

    def with_dropout(params, batch, key):
        x, y = batch
        hook = lambda i, h: fo.dropout(jax.random.fold_in(key, i), DROPOUT, h)
        return _digits.cross_entropy(_digits.mlp_logits(params, x, hidden_hook=hook), y)

    return [
        ("none", fo.adam(LR), None),
        ("L2 penalty (coupled)", fo.adam(LR), penalized),
        ("weight decay (AdamW)", fo.adamw(LR, weight_decay=WEIGHT_DECAY, mask=kernels_only), None),
        ("proximal L1", fo.chain(fo.adam(LR), fo.prox_l1(L1, LR, mask=kernels_only)), None),
        (f"dropout {DROPOUT}", fo.adam(LR), with_dropout),
    ]


def _bn_apply(params, stats, x, training):
    """The MLP with batch norm after each hidden ReLU; returns (logits, new_stats)."""
    new_stats = list(stats)

    def hook(i, h):
        h, new_stats[i] = fo.batch_norm(params["bn"][i], stats[i], h, training=training)
        return h

    return _digits.mlp_logits(params["mlp"], x, hidden_hook=hook), tuple(new_stats)


def train_batch_norm(data, *, steps, batch_size, seed):
    """Adam on MLP + batch norm: the running statistics are threaded like optimizer state."""
    key = jax.random.PRNGKey(seed)
    bn, stats = zip(*[fo.batch_norm_init(n) for n in SIZES[1:-1]])
    params = {"mlp": _digits.init_mlp(key, SIZES), "bn": list(bn)}
    stats = tuple(stats)
    opt = fo.adam(LR)
    opt_state = opt.init(params)

    def loss_fn(params, stats, x, y):
        logits, new_stats = _bn_apply(params, stats, x, training=True)
        return _digits.cross_entropy(logits, y), new_stats

    @jax.jit
    def step(params, opt_state, stats, x, y):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y)
        updates, opt_state = opt.update(grads, opt_state, params, value=loss)
        return fo.apply_updates(params, updates), opt_state, stats, loss

    rng = np.random.default_rng(seed)  # the same minibatch order as _digits.train
    n = len(data.x_train)
    order, pos = rng.permutation(n), 0
    losses = np.zeros(steps)
    for i in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        params, opt_state, stats, loss = step(params, opt_state, stats, data.x_train[idx], data.y_train[idx])
        losses[i] = float(loss)
    apply = jax.jit(lambda p, x: _bn_apply(p, stats, x, training=False)[0])
    return params, apply, losses


def run(steps: int, batch_size: int = 64, seed: int = 0) -> list[dict]:
    data = _digits.load_digits_data(seed=seed)
    init = _digits.init_mlp(jax.random.PRNGKey(seed), SIZES)
    results = []
    for name, opt, loss_fn in _variants():
        t0 = time.perf_counter()
        r = _digits.train(opt, data, steps=steps, batch_size=batch_size, seed=seed, loss_fn=loss_fn,
                          params=jax.tree.map(jnp.array, init))
        apply = _digits.mlp_logits
        results.append(_row(name, r.params, apply, r.losses, data, zero_fraction(r.params), time.perf_counter() - t0))
    t0 = time.perf_counter()
    params, apply, losses = train_batch_norm(data, steps=steps, batch_size=batch_size, seed=seed)
    results.append(_row("batch norm", params, apply, losses, data, zero_fraction(params["mlp"]), time.perf_counter() - t0))
    return results


def _row(name, params, apply, losses, data, zeros, seconds):
    tr = _digits.accuracy(params, data.x_train, data.y_train, apply=apply)
    te = _digits.accuracy(params, data.x_test, data.y_test, apply=apply)
    final = float(np.mean(losses[-min(20, len(losses)):]))
    return {"variant": name, "train_acc": tr, "test_acc": te, "gap": tr - te, "final_loss": final,
            "zero_fraction": zeros, "seconds": seconds}


def format_table(results) -> str:
    head = f"{'variant':<24}{'train acc':>10}{'test acc':>10}{'gap':>8}{'train loss':>12}{'exact zeros':>13}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['variant']:<24}{r['train_acc']:>10.4f}{r['test_acc']:>10.4f}{r['gap']:>8.4f}"
                     f"{r['final_loss']:>12.4f}{r['zero_fraction']:>12.1%}")
    return "\n".join(lines)


def plot(results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["variant"] for r in results]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(x - 0.2, [r["train_acc"] for r in results], 0.4, label="train")
    ax.bar(x + 0.2, [r["test_acc"] for r in results], 0.4, label="test")
    lo = min(min(r["test_acc"], r["train_acc"]) for r in results)
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Regularization on 8x8 digits (MLP {'-'.join(map(str, SIZES))}, Adam)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    args = ap.parse_args(argv)
    steps = 40 if args.quick else args.steps
    results = run(steps, args.batch_size, args.seed)
    print(f"\nRegularization: Adam(lr={LR}), {steps} steps of batch {args.batch_size}, seed {args.seed}; "
          f"L2 {L2}, weight decay {WEIGHT_DECAY}, L1 {L1}, dropout {DROPOUT}")
    print(format_table(results))
    prox = next(r for r in results if r["variant"] == "proximal L1")
    print(f"proximal L1 set {prox['zero_fraction']:.1%} of the kernel weights exactly to zero "
          "(gradient-based penalties set none).")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "regularization.json"), "w") as f:
        json.dump(results, f, indent=1)
    path = os.path.join(args.out, "regularization.png")
    plot(results, path)
    print(f"table in {args.out}/regularization.json, chart in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
