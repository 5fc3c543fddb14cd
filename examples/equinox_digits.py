"""equinox: an ``eqx.nn.MLP`` trained on the digits with ``fo.adamw``, checked against optax.

The equinox idiom works unchanged: the optimizer sees only the model's
floating-point arrays, ``eqx.filter(model, eqx.is_inexact_array)``, a copy of
the model whose other leaves (the activation function, ...) are ``None``;
functional_opt treats ``None`` leaves as empty subtrees in ``init``,
``update`` and masks, and ``eqx.apply_updates`` skips them::

    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    model = eqx.apply_updates(model, updates)

Weight decay is masked to the weights with
``fo.labels_by_regex([(".*bias", False)], default=True)`` (paths
``layers.0.weight``, ``layers.0.bias``, ...).

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the script exits with status 1 unless the
two agree to ``_digits.TOL`` (~1e-5; ``_digits.interop_main`` says why, and
how to compare on GPU and TPU).

Run from the repository root::

    python -m examples.equinox_digits [--steps 300] [--quick]
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import numpy as np

from examples import _digits


def make_model(seed: int = 0) -> eqx.nn.MLP:
    """64 -> 64 (ReLU) -> 10."""
    return eqx.nn.MLP(64, 10, width_size=64, depth=1, key=jax.random.PRNGKey(seed))


@eqx.filter_jit
def train_step(model: eqx.nn.MLP, opt_state: Any, x: jax.Array, y: jax.Array, opt: Any):
    def loss_fn(model):
        return _digits.cross_entropy(jax.vmap(model)(x), y)

    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    return eqx.apply_updates(model, updates), opt_state, loss


def train(opt: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = _digits.BATCH) -> _digits.Run:
    """Train a fresh ``make_model(seed)`` with ``opt`` (a functional_opt or optax transformation)."""
    model = make_model(seed)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    losses = []
    for x, y in _digits.minibatches(data, steps, batch_size, seed):
        model, opt_state, loss = train_step(model, opt_state, x, y, opt)
        losses.append(float(loss))
    accuracy = _digits.accuracy(model, data.x_test, data.y_test, apply=lambda m, x: jax.vmap(m)(x))
    return _digits.Run(np.asarray(losses), accuracy, eqx.filter(model, eqx.is_inexact_array), opt_state)


def main(argv: list[str] | None = None) -> int:
    return _digits.interop_main(
        train, argv, description=__doc__.splitlines()[0], model="equinox MLP", decayed="weights"
    )


if __name__ == "__main__":
    raise SystemExit(main())
