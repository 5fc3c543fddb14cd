"""flax linen: a small MLP trained on the digits with ``TrainState(tx=fo.adamw(...))``, checked against optax.

``flax.training.train_state.TrainState`` only needs ``tx.init`` and
``tx.update(grads, opt_state, params)``, so a functional_opt transformation
drops in where an optax one was: ``TrainState.create(apply_fn=model.apply,
params=params, tx=fo.adamw(...))``; ``state.apply_gradients(grads=grads)``
steps it. Weight decay is masked to the kernels with
``fo.labels_by_regex([(".*bias", False)], default=True)``.

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the script exits with status 1 unless the
two agree to ``_digits.TOL`` (~1e-5; ``_digits.interop_main`` says why, and
how to compare on GPU and TPU).

Run from the repository root::

    python -m examples.flax_linen_digits [--steps 300] [--quick]
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np
from flax.training.train_state import TrainState

from examples import _digits


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


def train(tx: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = _digits.BATCH) -> _digits.Run:
    """Train a fresh ``MLP`` (initialised from ``PRNGKey(seed)``) with ``TrainState.create(..., tx=tx)``."""
    model = MLP()
    params = model.init(jax.random.PRNGKey(seed), data.x_train[:1])["params"]
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    losses = []
    for x, y in _digits.minibatches(data, steps, batch_size, seed):
        state, loss = train_step(state, x, y)
        losses.append(float(loss))
    accuracy = _digits.accuracy({"params": state.params}, data.x_test, data.y_test, apply=state.apply_fn)
    return _digits.Run(np.asarray(losses), accuracy, state.params, state.opt_state)


def main(argv: list[str] | None = None) -> int:
    return _digits.interop_main(
        train, argv, description=__doc__.splitlines()[0], model="flax linen MLP", decayed="kernels"
    )


if __name__ == "__main__":
    raise SystemExit(main())
