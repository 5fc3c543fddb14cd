"""Compare the tutorial's four optimizers on real data (scikit-learn's 8x8 digits).

Trains the same small MLP (64-64-10, ReLU) once per optimizer -- gradient
descent, momentum, RMSProp and Adam, exactly as the tutorial writes them --
with one jit-compiled, donated training step, then prints a table
(optimizer, final train loss, test accuracy, steps/s) and writes a PNG of the
loss curves. Seeded and reproducible.

Run from the repository root::

    python -m examples.compare_optimizers [--steps 1500] [--out examples/out] [--quick]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import functional_opt as fo
from examples import _digits

# (name, factory, learning rate): rates chosen per optimizer from a coarse sweep
OPTIMIZERS = [
    ("gradient descent", lambda: fo.gradient_descent(0.05)),
    ("momentum (lr in buffer)", lambda: fo.momentum(0.05, decay=0.9)),
    ("RMSProp", lambda: fo.rmsprop(1e-3, decay=0.9, eps=1e-8)),
    ("Adam", lambda: fo.adam(1e-3)),
]


def run(steps: int, batch_size: int, seed: int, progress: bool = True):
    data = _digits.load_digits_data(seed=seed)
    results = []
    with _digits.progress_bar(steps * len(OPTIMIZERS), enabled=progress) as bar:
        for name, make in OPTIMIZERS:
            r = _digits.train(make(), data, steps=steps, batch_size=batch_size, seed=seed, progress=_digits.ticks(bar))
            results.append(
                (
                    name,
                    r,
                    _digits.accuracy(r.params, data.x_train, data.y_train),
                    _digits.accuracy(r.params, data.x_test, data.y_test),
                )
            )
    return results


def format_table(results) -> str:
    lines = [f"{'optimizer':<26}{'final train loss':>18}{'train acc':>11}{'test acc':>10}{'steps/s':>10}"]
    lines.append("-" * len(lines[0]))
    for name, r, tr_acc, te_acc in results:
        final = float(np.mean(r.losses[-20:]))
        lines.append(f"{name:<26}{final:>18.4f}{tr_acc:>11.3f}{te_acc:>10.3f}{r.steps_per_s:>10.0f}")
    return "\n".join(lines)


def plot(results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r, _, _ in results:
        ax.plot(_digits.moving_average(r.losses), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss (moving average of 25 steps)")
    ax.set_title("The tutorial's optimizers on 8x8 digits (MLP 64-64-10)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    steps = 30 if args.quick else args.steps
    results = run(steps, args.batch_size, args.seed, progress=not args.no_progress)
    print(f"\nThe tutorial's four optimizers, {steps} steps of batch {args.batch_size}, seed {args.seed}")
    print(format_table(results))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "loss_curves.png")
    plot(results, path)
    print(f"loss curves written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
