"""flax NNX: a small MLP trained on the digits with ``nnx.Optimizer`` and ``fo.adamw``, checked against optax.

``nnx.Optimizer(model, tx, wrt=nnx.Param)`` accepts any functional_opt
transformation as ``tx``: the optimizer state is a pytree of arrays, and
``optimizer.update(model, grads, value=loss)`` forwards ``value=`` to
``tx.update`` (read by ``fo.reduce_on_plateau``, ignored by the others).
Weight decay is masked to the kernels with ``fo.labels_by_regex``: NNX state
paths end in ``.value`` (``hidden.bias.value``) and the pattern is written
without it (``".*bias"``).

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the two agree to ~1e-5 (optax rounds its
bias corrections ``1 - b**t`` to float32, ours are exact; the script prints
the largest differences and exits with status 1 if they exceed ``TOL``). The
tolerance holds on CPU; on GPU and TPU, float32 matrix products run at reduced
precision by default and amplify the rounding differences, so compare there
with ``JAX_DEFAULT_MATMUL_PRECISION=highest``.

Run from the repository root::

    python -m examples.flax_nnx_digits [--steps 300] [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import functional_opt as fo
from examples import _digits

LR, WEIGHT_DECAY, BATCH = 3e-3, 1e-2, 64
QUICK_STEPS = 20
TOL = 2e-5  # largest |loss difference| and |parameter difference| accepted against optax (CPU: ~7e-6 at 300 steps)

# weight decay on the kernels only; NNX paths end in ".value", the pattern omits it
DECAY_MASK = fo.labels_by_regex([(".*bias", False)], default=True)


class MLP(nnx.Module):
    """64 -> 64 (ReLU) -> 10."""

    def __init__(self, *, rngs: nnx.Rngs, width: int = 64):
        self.hidden = nnx.Linear(64, width, rngs=rngs)
        self.out = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.hidden(x)))


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(lambda m: _digits.cross_entropy(m(x), y))(model)
    optimizer.update(model, grads, value=loss)  # value= reaches tx.update (reduce_on_plateau reads it)
    return loss


class Run(NamedTuple):
    losses: np.ndarray  # training loss per step
    accuracy: float  # test accuracy after training
    params: Any  # the trained parameters, nested dicts of arrays
    opt_state: Any  # the optimizer state, as tx.update returned it (arrays, no nnx.Variable)


def train(tx: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = BATCH) -> Run:
    """Train a fresh ``MLP(rngs=nnx.Rngs(seed))`` with ``nnx.Optimizer(model, tx, wrt=nnx.Param)``."""
    model = MLP(rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    order, pos, n = rng.permutation(len(data.x_train)), 0, len(data.x_train)
    losses = np.zeros(steps)
    for i in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        losses[i] = float(train_step(model, optimizer, data.x_train[idx], data.y_train[idx]))
    accuracy = float(jnp.mean(jnp.argmax(model(data.x_test), -1) == data.y_test))
    return Run(losses, accuracy, nnx.to_pure_dict(nnx.state(model, nnx.Param)), unwrap(optimizer.opt_state))


def unwrap(tree: Any) -> Any:
    """``tree`` with every ``nnx.Variable`` replaced by its array (the optimizer state as ``tx`` returned it)."""
    return jax.tree.map(lambda v: v[...], tree, is_leaf=lambda x: isinstance(x, nnx.Variable))


def max_abs_difference(a: Any, b: Any) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def compare(make_fo: Callable[[], Any], make_optax: Callable[[], Any], *, steps: int, seed: int = 0):
    """The same training run with our transformation and optax's: ``(fo_run, optax_run)``."""
    data = _digits.load_digits_data(seed=0)
    return train(make_fo(), data, steps=steps, seed=seed), train(make_optax(), data, steps=steps, seed=seed)


def main(argv: list[str] | None = None) -> int:
    import optax

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, for smoke tests")
    args = ap.parse_args(argv)
    steps = QUICK_STEPS if args.quick else args.steps

    ours, theirs = compare(
        lambda: fo.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK),
        lambda: optax.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK),
        steps=steps,
    )
    d_loss = float(np.max(np.abs(ours.losses - theirs.losses)))
    d_params = max_abs_difference(ours.params, theirs.params)
    print(f"flax NNX MLP on the digits, {steps} steps of adamw (lr {LR}, weight decay {WEIGHT_DECAY} on kernels)")
    print(f"  functional_opt: final loss {ours.losses[-1]:.5f}  test accuracy {ours.accuracy:.4f}")
    print(f"  optax:          final loss {theirs.losses[-1]:.5f}  test accuracy {theirs.accuracy:.4f}")
    print(f"  max |loss difference| {d_loss:.2e}  max |parameter difference| {d_params:.2e}  (tolerance {TOL:.0e})")
    return 0 if max(d_loss, d_params) <= TOL else 1


if __name__ == "__main__":
    raise SystemExit(main())
