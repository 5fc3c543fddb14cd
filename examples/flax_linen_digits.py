"""flax linen: a small MLP trained on the digits with ``TrainState(tx=fo.adamw(...))``, checked against optax.

``flax.training.train_state.TrainState`` only needs ``tx.init`` and
``tx.update(grads, opt_state, params)``, so a functional_opt transformation
drops in where an optax one was: ``TrainState.create(apply_fn=model.apply,
params=params, tx=fo.adamw(...))``; ``state.apply_gradients(grads=grads)``
steps it. Weight decay is masked to the kernels with ``fo.labels_by_regex``.

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the two agree to ~1e-5 (optax rounds its
bias corrections ``1 - b**t`` to float32, ours are exact; the script prints
the largest differences and exits with status 1 if they exceed ``TOL``). The
tolerance holds on CPU; on GPU and TPU, float32 matrix products run at reduced
precision by default and amplify the rounding differences, so compare there
with ``JAX_DEFAULT_MATMUL_PRECISION=highest``.

Run from the repository root::

    python -m examples.flax_linen_digits [--steps 300] [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.training.train_state import TrainState

import functional_opt as fo
from examples import _digits

LR, WEIGHT_DECAY, BATCH = 3e-3, 1e-2, 64
QUICK_STEPS = 20
TOL = 2e-5  # largest |loss difference| and |parameter difference| accepted against optax (CPU: ~7e-6 at 300 steps)

# weight decay on the kernels only: paths are "Dense_0.bias", "Dense_0.kernel", ...
DECAY_MASK = fo.labels_by_regex([(".*bias", False)], default=True)


class MLP(nn.Module):
    """64 -> 64 (ReLU) -> 10."""

    width: int = 64

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(10)(nn.relu(nn.Dense(self.width)(x)))


@jax.jit
def train_step(state: TrainState, x: jax.Array, y: jax.Array) -> tuple[TrainState, jax.Array]:
    def loss_fn(params):
        return _digits.cross_entropy(state.apply_fn({"params": params}, x), y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


class Run(NamedTuple):
    losses: np.ndarray  # training loss per step
    accuracy: float  # test accuracy after training
    state: TrainState  # the final train state (params, opt_state, step)


def train(tx: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = BATCH) -> Run:
    """Train a fresh ``MLP`` (initialised from ``PRNGKey(seed)``) with ``TrainState.create(..., tx=tx)``."""
    model = MLP()
    params = model.init(jax.random.PRNGKey(seed), data.x_train[:1])["params"]
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    rng = np.random.default_rng(seed)
    order, pos, n = rng.permutation(len(data.x_train)), 0, len(data.x_train)
    losses = np.zeros(steps)
    for i in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        state, loss = train_step(state, data.x_train[idx], data.y_train[idx])
        losses[i] = float(loss)
    logits = state.apply_fn({"params": state.params}, data.x_test)
    return Run(losses, float(jnp.mean(jnp.argmax(logits, -1) == data.y_test)), state)


def max_abs_difference(a: Any, b: Any) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main(argv: list[str] | None = None) -> int:
    import optax

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, for smoke tests")
    args = ap.parse_args(argv)
    steps = QUICK_STEPS if args.quick else args.steps

    data = _digits.load_digits_data(seed=0)
    ours = train(fo.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK), data, steps=steps)
    theirs = train(optax.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK), data, steps=steps)
    d_loss = float(np.max(np.abs(ours.losses - theirs.losses)))
    d_params = max_abs_difference(ours.state.params, theirs.state.params)
    print(f"flax linen MLP on the digits, {steps} steps of adamw (lr {LR}, weight decay {WEIGHT_DECAY} on kernels)")
    print(f"  functional_opt: final loss {ours.losses[-1]:.5f}  test accuracy {ours.accuracy:.4f}")
    print(f"  optax:          final loss {theirs.losses[-1]:.5f}  test accuracy {theirs.accuracy:.4f}")
    print(f"  max |loss difference| {d_loss:.2e}  max |parameter difference| {d_params:.2e}  (tolerance {TOL:.0e})")
    return 0 if max(d_loss, d_params) <= TOL else 1


if __name__ == "__main__":
    raise SystemExit(main())
