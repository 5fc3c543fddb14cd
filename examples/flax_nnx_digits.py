"""flax NNX: a small MLP trained on the digits with ``nnx.Optimizer`` and ``fo.adamw``, checked against optax.

``nnx.Optimizer(model, tx, wrt=nnx.Param)`` accepts any functional_opt
transformation as ``tx``: the optimizer state is a pytree of arrays, and
``optimizer.update(model, grads, value=loss)`` forwards ``value=`` to
``tx.update`` (read by ``fo.reduce_on_plateau``, ignored by the others).
Weight decay is masked to the kernels with
``fo.labels_by_regex([(".*bias", False)], default=True)``: NNX state
paths end in ``.value`` (``hidden.bias.value``) and the pattern is written
without it (``".*bias"``).

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the script exits with status 1 unless the
two agree to ``_digits.TOL`` (~1e-5; ``_digits.interop_main`` says why, and
how to compare on GPU and TPU).

Run from the repository root::

    python -m examples.flax_nnx_digits [--steps 300] [--quick]
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx

from examples import _digits


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


def train(tx: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = _digits.BATCH) -> _digits.Run:
    """Train a fresh ``MLP(rngs=nnx.Rngs(seed))`` with ``nnx.Optimizer(model, tx, wrt=nnx.Param)``."""
    model = MLP(rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    losses = [float(train_step(model, optimizer, x, y)) for x, y in _digits.minibatches(data, steps, batch_size, seed)]
    accuracy = _digits.accuracy(model, data.x_test, data.y_test, apply=lambda m, x: m(x))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    return _digits.Run(np.asarray(losses), accuracy, params, unwrap(optimizer.opt_state))


def unwrap(tree: Any) -> Any:
    """``tree`` with every ``nnx.Variable`` replaced by its array (the optimizer state as ``tx`` returned it)."""
    return jax.tree.map(lambda v: v[...], tree, is_leaf=lambda x: isinstance(x, nnx.Variable))


def main(argv: list[str] | None = None) -> int:
    return _digits.interop_main(
        train, argv, description=__doc__.splitlines()[0], model="flax NNX MLP", decayed="kernels"
    )


if __name__ == "__main__":
    raise SystemExit(main())
