"""Compare learning-rate schedules on real data (scikit-learn's 8x8 digits).

Trains the same small MLP (64-64-10, ReLU) once per schedule -- constant,
step decay, exponential decay, cyclical (triangular2), warmup-cosine,
one-cycle with the inverse momentum cycle, warmup-stable-decay, cosine warm
restarts and reduce-on-plateau -- with SGD + momentum 0.9 (default) or Adam,
then prints a table (final train loss on the whole train split, test
accuracy, the learning rate at the last step) and writes a PNG of the loss
curves and the schedules. Seeded and reproducible.

Run from the repository root::

    python -m examples.compare_schedules [--optimizer momentum|adam] [--steps 1500] [--out examples/out] [--quick]
"""

from __future__ import annotations

import argparse
import os

import jax.numpy as jnp
import numpy as np

import functional_opt as fo
from examples import _digits

PEAK_LR = {"momentum": 0.1, "adam": 3e-3}


def schedules(total: int, lr: float):
    """(name, learning-rate schedule or float, momentum schedule or None, use reduce_on_plateau)."""
    t = max(total, 8)
    lr_1c, mom_1c = fo.onecycle_schedules(t, lr * 2, pct_start=0.25, base_momentum=0.85, max_momentum=0.95)
    return [
        ("constant", lr, None, False),
        ("step decay (x0.1 every T/3)", fo.step_decay_schedule(lr, max(t // 3, 1), 0.1), None, False),
        ("exponential decay (to 1%)", fo.exponential_decay(lr, t, 0.01), None, False),
        (
            "cyclical (triangular2)",
            fo.cyclic_schedule(lr / 10, lr * 2, max(t // 8, 1), mode="triangular2"),
            None,
            False,
        ),
        ("warmup-cosine", fo.warmup_cosine_decay_schedule(0.0, lr, max(t // 20, 1), t), None, False),
        ("one-cycle + momentum cycle", lr_1c, mom_1c, False),
        (
            "WSD (1-sqrt cooldown)",
            fo.warmup_stable_decay_schedule(lr, max(t // 20, 1), t, 0.2, cooldown_type="1-sqrt"),
            None,
            False,
        ),
        ("cosine restarts (T_mult 2)", fo.cosine_restarts_schedule(lr, max(t // 7, 1), t_mult=2), None, False),
        ("reduce on plateau", lr, None, True),
    ]


def make_optimizer(kind: str, learning_rate, momentum_schedule, plateau: bool, steps: int):
    if kind == "adam":
        opt = fo.adam(learning_rate, b1=momentum_schedule if momentum_schedule is not None else 0.9)
    else:
        opt = fo.sgd(learning_rate, momentum=momentum_schedule if momentum_schedule is not None else 0.9)
    if plateau:
        # minibatch losses are noisy: average 25 of them per evaluation
        opt = fo.chain(opt, fo.reduce_on_plateau(factor=0.5, patience=2, accumulation_size=min(25, max(steps // 6, 1))))
    return opt


def final_lr(learning_rate, opt_state, plateau: bool, steps: int) -> float:
    lr = float(learning_rate(steps - 1)) if callable(learning_rate) else float(learning_rate)
    if plateau:
        lr *= float(opt_state[1].scale)
    return lr


def run(kind: str, steps: int, batch_size: int, seed: int, progress: bool = True, n_schedules: int | None = None):
    data = _digits.load_digits_data(seed=seed)
    rows = []
    table = schedules(steps, PEAK_LR[kind])[:n_schedules]
    with _digits.progress_bar(steps * len(table), enabled=progress) as bar:
        for name, lr, mom, plateau in table:
            opt = make_optimizer(kind, lr, mom, plateau, steps)
            r = _digits.train(opt, data, steps=steps, batch_size=batch_size, seed=seed, progress=_digits.ticks(bar))
            logits = _digits.mlp_logits(r.params, jnp.asarray(data.x_train))
            train_loss = float(_digits.cross_entropy(logits, jnp.asarray(data.y_train)))
            curve = np.asarray(lr(jnp.arange(steps))) if callable(lr) else np.full(steps, lr)
            rows.append(
                dict(
                    name=name,
                    result=r,
                    train_loss=train_loss,
                    test_acc=_digits.accuracy(r.params, data.x_test, data.y_test),
                    final_lr=final_lr(lr, r.opt_state, plateau, steps),
                    lr_curve=curve,
                )
            )
    return rows


def format_table(rows) -> str:
    lines = [f"{'schedule':<30}{'train loss':>12}{'test acc':>10}{'final lr':>11}"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        lines.append(f"{row['name']:<30}{row['train_loss']:>12.4f}{row['test_acc']:>10.3f}{row['final_lr']:>11.2e}")
    return "\n".join(lines)


def plot(rows, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5))
    k = 25
    for row in rows:
        ax0.plot(_digits.moving_average(row["result"].losses, k), label=row["name"])
        ax1.plot(row["lr_curve"], label=row["name"])
    ax0.set_yscale("log")
    ax0.set_xlabel("step")
    ax0.set_ylabel(f"train loss (moving average of {k} steps)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("learning rate (before plateau scaling)")
    ax0.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--optimizer", choices=sorted(PEAK_LR), default="momentum")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    steps = 30 if args.quick else args.steps
    # --quick: the five schedules of the tutorial's comparison only (each one compiles its own step)
    rows = run(
        args.optimizer,
        steps,
        args.batch_size,
        args.seed,
        progress=not (args.no_progress or args.quick),
        n_schedules=5 if args.quick else None,
    )
    opt_name = "SGD + momentum 0.9" if args.optimizer == "momentum" else "Adam"
    title = f"Schedules with {opt_name}, peak lr {PEAK_LR[args.optimizer]:g}, {steps} steps of batch {args.batch_size}"
    print(f"\n{title}, seed {args.seed}")
    print(format_table(rows))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "schedules_training.png")
    plot(rows, path, title)
    print(f"loss curves and schedules written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
