"""equinox: an ``eqx.nn.MLP`` trained on the digits with ``fo.adamw``, checked against optax.

The equinox idiom works unchanged: the optimizer sees only the model's
floating-point arrays, ``eqx.filter(model, eqx.is_inexact_array)``, a copy of
the model whose other leaves (the activation function, ...) are ``None``;
functional_opt treats ``None`` leaves as empty subtrees in ``init``,
``update`` and masks, and ``eqx.apply_updates`` skips them::

    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    model = eqx.apply_updates(model, updates)

Weight decay is masked to the weights with ``fo.labels_by_regex`` (paths
``layers.0.weight``, ``layers.0.bias``, ...).

The same run (same initialisation, same minibatches) is repeated with
``optax.adamw`` and the same mask; the two agree to ~1e-5 (optax rounds its
bias corrections ``1 - b**t`` to float32, ours are exact; the script prints
the largest differences and exits with status 1 if they exceed ``TOL``). The
tolerance holds on CPU; on GPU and TPU, float32 matrix products run at reduced
precision by default and amplify the rounding differences, so compare there
with ``JAX_DEFAULT_MATMUL_PRECISION=highest``.

Run from the repository root::

    python -m examples.equinox_digits [--steps 300] [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo
from examples import _digits

LR, WEIGHT_DECAY, BATCH = 3e-3, 1e-2, 64
QUICK_STEPS = 20
TOL = 2e-5  # largest |loss difference| and |parameter difference| accepted against optax (CPU: ~7e-6 at 300 steps)

# weight decay on the weights only (the biases' paths end in "bias")
DECAY_MASK = fo.labels_by_regex([(".*bias", False)], default=True)


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


class Run(NamedTuple):
    losses: np.ndarray  # training loss per step
    accuracy: float  # test accuracy after training
    model: eqx.nn.MLP  # the trained model
    opt_state: Any


def train(opt: Any, data: _digits.Data, *, steps: int, seed: int = 0, batch_size: int = BATCH) -> Run:
    """Train a fresh ``make_model(seed)`` with ``opt`` (a functional_opt or optax transformation)."""
    model = make_model(seed)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    rng = np.random.default_rng(seed)
    order, pos, n = rng.permutation(len(data.x_train)), 0, len(data.x_train)
    losses = np.zeros(steps)
    for i in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        model, opt_state, loss = train_step(model, opt_state, data.x_train[idx], data.y_train[idx], opt)
        losses[i] = float(loss)
    accuracy = float(jnp.mean(jnp.argmax(jax.vmap(model)(data.x_test), -1) == data.y_test))
    return Run(losses, accuracy, model, opt_state)


def max_abs_difference(a: Any, b: Any) -> float:
    a, b = eqx.filter(a, eqx.is_inexact_array), eqx.filter(b, eqx.is_inexact_array)
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
    d_params = max_abs_difference(ours.model, theirs.model)
    print(f"equinox MLP on the digits, {steps} steps of adamw (lr {LR}, weight decay {WEIGHT_DECAY} on weights)")
    print(f"  functional_opt: final loss {ours.losses[-1]:.5f}  test accuracy {ours.accuracy:.4f}")
    print(f"  optax:          final loss {theirs.losses[-1]:.5f}  test accuracy {theirs.accuracy:.4f}")
    print(f"  max |loss difference| {d_loss:.2e}  max |parameter difference| {d_params:.2e}  (tolerance {TOL:.0e})")
    return 0 if max(d_loss, d_params) <= TOL else 1


if __name__ == "__main__":
    raise SystemExit(main())
