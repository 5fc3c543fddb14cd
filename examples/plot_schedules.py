"""Plot every schedule of the library: one panel per schedule, in one PNG.

Each panel shows ``schedule(count)`` for ``count = 0 .. 999`` with the
arguments written in its title (peak 1.0 where there is one), plus a panel
for ``reduce_on_plateau`` driven by a synthetic loss. The README shows the
result (``docs/schedules.png``).

Run from the repository root::

    python -m examples.plot_schedules [--out docs]
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo

N = 1000


def panels():
    """(title, schedule) for every schedule; the momentum of one-cycle gets its own panel."""
    _, mom_1c = fo.onecycle_schedules(N, 1.0)  # its learning rate is the cosine_onecycle panel
    return [
        ("constant_schedule(1.0)", fo.constant_schedule(1.0)),
        ("linear_schedule(1, 0.1, 600, begin=200)", fo.linear_schedule(1.0, 0.1, 600, 200)),
        ("polynomial_schedule(1, 0, power=2, 800)", fo.polynomial_schedule(1.0, 0.0, 2.0, 800)),
        ("step_decay_schedule(1, 250, 0.5)", fo.step_decay_schedule(1.0, 250, 0.5)),
        ("exponential_decay(1, 200, 0.5)", fo.exponential_decay(1.0, 200, 0.5)),
        ("exponential_decay(..., staircase=True)", fo.exponential_decay(1.0, 200, 0.5, staircase=True)),
        ("inverse_time_decay(1, 100, 1.0)", fo.inverse_time_decay(1.0, 100, 1.0)),
        ("piecewise_constant {300: .3, 700: .3}", fo.piecewise_constant_schedule(1.0, {300: 0.3, 700: 0.3})),
        ("piecewise_interpolate cosine", fo.piecewise_interpolate_schedule("cosine", 1.0, {300: 0.3, 700: 0.3})),
        ("warmup_constant_schedule(0, 1, 200)", fo.warmup_constant_schedule(0.0, 1.0, 200)),
        ("warmup_exponential_decay(0, 1, 100, 200, .5)", fo.warmup_exponential_decay_schedule(0.0, 1.0, 100, 200, 0.5)),
        ("cosine_decay_schedule(1, 800, alpha=0.1)", fo.cosine_decay_schedule(1.0, 800, 0.1)),
        ("warmup_cosine_decay(0, 1, 100, 1000)", fo.warmup_cosine_decay_schedule(0.0, 1.0, 100, N)),
        (
            "sgdr_schedule (3 listed cycles)",
            fo.sgdr_schedule(
                [
                    dict(init_value=0.0, peak_value=p, warmup_steps=20, decay_steps=d)
                    for p, d in ((1.0, 200), (0.8, 300), (0.6, 500))
                ]
            ),
        ),
        ("cosine_restarts(1, 100, t_mult=2)", fo.cosine_restarts_schedule(1.0, 100, t_mult=2)),
        ("cosine_restarts(..., t_mult=1, m_mult=.8)", fo.cosine_restarts_schedule(1.0, 200, m_mult=0.8)),
        ("linear_onecycle_schedule(1000, 1)", fo.linear_onecycle_schedule(N, 1.0)),
        ("cosine_onecycle_schedule(1000, 1)", fo.cosine_onecycle_schedule(N, 1.0)),
        ("onecycle_schedules: momentum of the pair", mom_1c),
        ("cyclic triangular (100 up, 150 down)", fo.cyclic_schedule(0.1, 1.0, 100, 150)),
        ("cyclic triangular2", fo.cyclic_schedule(0.1, 1.0, 100, 150, mode="triangular2")),
        ("cyclic exp_range (gamma=0.998)", fo.cyclic_schedule(0.1, 1.0, 100, 150, mode="exp_range", gamma=0.998)),
        ("warmup_stable_decay linear", fo.warmup_stable_decay_schedule(1.0, 100, N, 0.2)),
        ("warmup_stable_decay 1-sqrt", fo.warmup_stable_decay_schedule(1.0, 100, N, 0.2, cooldown_type="1-sqrt")),
        ("inverse_sqrt_schedule(1, 100)", fo.inverse_sqrt_schedule(1.0, 100)),
        (
            "join_schedules [warmup, exp decay]",
            fo.join_schedules([fo.linear_schedule(0.0, 1.0, 100), fo.exponential_decay(1.0, 300, 0.3)], [100]),
        ),
        (
            "multiply_schedules [cosine, cyclic]",
            fo.multiply_schedules([fo.cosine_decay_schedule(1.0, N), fo.cyclic_schedule(0.5, 1.0, 50)]),
        ),
    ]


def plateau_curve():
    """The scale of reduce_on_plateau(factor=0.5, patience=3, accumulation_size=20) on a noisy,
    plateauing synthetic loss (one evaluation per 20 steps)."""
    rng = np.random.default_rng(0)
    t = np.arange(N)
    loss = 0.3 + np.exp(-t / 150) + 0.03 * rng.standard_normal(N)
    tx = fo.reduce_on_plateau(factor=0.5, patience=3, accumulation_size=20)
    grads = jnp.ones(())

    def step(state, v):
        _, state = tx.update(grads, state, value=v)
        return state, state.scale

    _, scales = jax.lax.scan(step, tx.init(grads), jnp.asarray(loss, jnp.float32))
    return loss, np.asarray(scales)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = panels()
    cols = 5
    rows = -(-(len(items) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), sharex=True)
    axes = axes.ravel()
    counts = jnp.arange(N, dtype=jnp.int32)
    # one compiled call evaluates every schedule (faster than op-by-op dispatch)
    values = jax.jit(lambda c: [sched(c) for _, sched in items])(counts)
    for ax, (title, _), v in zip(axes, items, values):
        ax.plot(np.asarray(v), lw=1.2)
        ax.set_title(title, fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax = axes[len(items)]
    loss, scales = plateau_curve()
    ax.plot(loss, lw=0.6, color="0.6", label="loss")
    ax.plot(scales, lw=1.2, label="scale")
    ax.set_title("reduce_on_plateau(0.5, patience=3, acc=20)", fontsize=7.5)
    ax.legend(fontsize=6)
    ax.tick_params(labelsize=7)
    for ax in axes[len(items) + 1 :]:
        ax.axis("off")
    for ax in axes[-cols:]:
        ax.set_xlabel("count", fontsize=7)
    fig.suptitle("functional_opt schedules: value(count), count = 0..999", fontsize=11)
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.04, top=0.94, wspace=0.18, hspace=0.32)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "schedules.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{len(items) + 1} panels written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
