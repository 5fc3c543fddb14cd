"""Shared pieces of the examples: the digits data set, a small MLP, a training loop.

The data is scikit-learn's 8x8 handwritten digits (1,797 images, shipped
inside the package: no download). Everything is seeded and deterministic.

API used by the example scripts:

* ``load_digits_data(seed=0, test_fraction=0.25)`` -> ``Data`` (float32, standardized).
* ``init_mlp(key, sizes=(64, 64, 10))`` -> params ``{"dense_0": {"kernel", "bias"}, ...}``.
* ``mlp_logits(params, x, *, hidden_hook=None)``: ReLU MLP; ``hidden_hook(i, h)``
  may transform each hidden activation (dropout, batch norm, ...).
* ``cross_entropy(logits, labels)``: mean softmax cross entropy with integer labels.
* ``accuracy(params, x, y, apply=mlp_logits)``.
* ``minibatches(data, steps, batch_size=64, seed=0)``: the training minibatches ``(x, y)``,
  drawn by a seeded permutation of the train split (reshuffled when it runs out).
* ``train(optimizer, data, *, steps, batch_size, seed, loss_fn=None, params=None, progress=None)``
  -> ``TrainResult`` (params, opt_state, losses per step, seconds, steps_per_s), one
  jit-compiled, donated step built by ``functional_opt.make_train_step``.
* ``with progress_bar(total, desc="training", enabled=True) as bar``: a tqdm bar, or ``None``;
  ``train(..., progress=ticks(bar))`` advances it.
* ``moving_average(x, k=25)``: the smoothed loss curve of the plots.
* ``interop_main(train, argv, ...)``: the command line of the flax / equinox examples
  (one adamw run with functional_opt, the same with optax, checked to agree).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo


class Data(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_data(seed: int = 0, test_fraction: float = 0.25) -> Data:
    """The 8x8 digits, split by a seeded permutation and standardized on the train split."""
    from sklearn.datasets import load_digits

    ds = load_digits()
    x = ds.data.astype(np.float64)
    y = ds.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = idx[:n_test], idx[n_test:]
    mean = x[train].mean(0)
    std = x[train].std(0) + 1e-6
    x = ((x - mean) / std).astype(np.float32)
    return Data(x[train], y[train], x[test], y[test])


def init_mlp(key: jax.Array, sizes=(64, 64, 10)) -> dict:
    """He-initialised dense layers ``dense_i = {"kernel": [in, out], "bias": [out]}``."""
    params = {}
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        w = jax.random.normal(k, (n_in, n_out), jnp.float32) * jnp.sqrt(2.0 / n_in)
        params[f"dense_{i}"] = {"kernel": w, "bias": jnp.zeros((n_out,), jnp.float32)}
    return params


def mlp_logits(params: dict, x: jax.Array, *, hidden_hook: Callable | None = None) -> jax.Array:
    """A ReLU MLP; ``hidden_hook(i, h) -> h`` is applied to each hidden layer's output."""
    n = len(params)
    h = x
    for i in range(n):
        layer = params[f"dense_{i}"]
        h = h @ layer["kernel"] + layer["bias"]
        if i < n - 1:
            h = jax.nn.relu(h)
            if hidden_hook is not None:
                h = hidden_hook(i, h)
    return h


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross entropy with integer labels (log-sum-exp stabilised)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def accuracy(params: Any, x: np.ndarray, y: np.ndarray, apply: Callable = mlp_logits) -> float:
    return float(jnp.mean(jnp.argmax(apply(params, x), -1) == y))


class TrainResult(NamedTuple):
    params: Any
    opt_state: Any
    losses: np.ndarray
    seconds: float
    steps_per_s: float


def default_loss(params, batch, key):
    del key
    x, y = batch
    return cross_entropy(mlp_logits(params, x), y)


def minibatches(data: Data, steps: int, batch_size: int = 64, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``steps`` minibatches ``(x, y)`` of the train split, in the order of a seeded permutation (reshuffled when
    fewer than ``batch_size`` examples are left)."""
    rng = np.random.default_rng(seed)
    n = len(data.x_train)
    order, pos = rng.permutation(n), 0
    for _ in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        yield data.x_train[idx], data.y_train[idx]


def train(
    optimizer: fo.GradientTransformation,
    data: Data,
    *,
    steps: int = 300,
    batch_size: int = 64,
    seed: int = 0,
    loss_fn: Callable | None = None,
    params: Any = None,
    progress: Callable | None = None,
    on_step: Callable | None = None,
) -> TrainResult:
    """Train with minibatches drawn by a seeded permutation; one jitted, donated step.

    ``loss_fn(params, (x, y), key) -> scalar`` (default: MLP cross entropy).
    The loss is passed to the optimizer as ``value=`` (for plateau schedules
    and loss guards; other transformations ignore it).
    ``progress(i)`` is called after each step (e.g. a tqdm ``update``), and
    ``on_step(i, loss, opt_state)`` too (e.g. to show the current learning rate).
    """
    loss_fn = loss_fn or default_loss
    key = jax.random.PRNGKey(seed)
    if params is None:
        params = init_mlp(key)
    opt_state = optimizer.init(params)

    # forward, backward, update (value=loss passed on), jitted, params and state donated
    step = fo.make_train_step(loss_fn, optimizer)
    losses = np.zeros(steps, np.float64)
    # compile outside the timed region
    params = jax.tree.map(jnp.array, params)
    t0 = None
    for i, batch in enumerate(minibatches(data, steps, batch_size, seed)):
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, batch, sub)
        if i == 0:
            jax.block_until_ready(loss)
            t0 = time.perf_counter()
        losses[i] = float(loss)
        if on_step is not None:
            on_step(i, losses[i], opt_state)
        if progress is not None:
            progress(i)
    seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    sps = (steps - 1) / seconds if steps > 1 and seconds > 0 else float("nan")
    return TrainResult(params, opt_state, losses, seconds, sps)


@contextlib.contextmanager
def progress_bar(total: int, desc: str = "training", enabled: bool = True) -> Iterator[Any]:
    """A tqdm progress bar over ``total`` steps, closed on exit; ``None`` when not ``enabled`` or without tqdm (an
    optional extra). ``ticks(bar)`` is the ``progress`` callback of ``train`` that advances it."""
    bar = None
    if enabled:
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=desc, unit="step", leave=False)
        except ImportError:
            pass
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def ticks(bar: Any) -> Callable | None:
    """``train``'s ``progress`` callback: one step of ``bar`` per training step (``None`` without a bar)."""
    return None if bar is None else lambda i: bar.update(1)


def moving_average(x: np.ndarray, k: int = 25) -> np.ndarray:
    """The mean of each ``k`` consecutive values (``x`` itself when shorter than ``k``): the plots' loss curves."""
    return np.convolve(x, np.ones(k) / k, mode="valid") if len(x) >= k else x


# ---------------------------------------------------------------- the flax / equinox examples
# Each trains the same small MLP with its framework's own model and train step, once with
# fo.adamw and once with optax.adamw (same initialisation, same minibatches), and checks that
# the two runs agree.

LR, WEIGHT_DECAY, BATCH = 3e-3, 1e-2, 64
QUICK_STEPS = 20
TOL = 2e-5  # largest |loss difference| and |parameter difference| accepted against optax (CPU: ~7e-6 at 300 steps)

# weight decay on the weights only: every path that does not end in "bias" (flax "Dense_0.kernel", NNX
# "hidden.kernel.value" -- the pattern omits the ".value" --, equinox "layers.0.weight")
DECAY_MASK = fo.labels_by_regex([(".*bias", False)], default=True)


class Run(NamedTuple):
    """One training run of a flax / equinox example."""

    losses: np.ndarray  # training loss per step
    accuracy: float  # test accuracy after training
    params: Any  # the trained parameters (their arrays; other leaves are dropped or None)
    opt_state: Any  # the optimizer state, as tx.update returned it


def max_abs_difference(a: Any, b: Any) -> float:
    """The largest ``|a - b|`` over the array leaves of two trees of the same structure."""
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def compare_with_optax(
    train: Callable[..., Run], make_fo: Callable[[], Any], make_optax: Callable[[], Any], *, steps: int, seed: int = 0
) -> tuple[Run, Run]:
    """The same training run ``train(tx, data, steps=, seed=)`` with our transformation and optax's."""
    data = load_digits_data(seed=0)
    return train(make_fo(), data, steps=steps, seed=seed), train(make_optax(), data, steps=steps, seed=seed)


def interop_main(
    train: Callable[..., Run], argv: list[str] | None, *, description: str, model: str, decayed: str
) -> int:
    """The command line ``[--steps 300] [--quick]`` of the flax / equinox examples.

    Runs ``train`` with ``fo.adamw`` and with ``optax.adamw`` (the same mask ``DECAY_MASK``, the same
    initialisation and minibatches), prints both and their largest differences, and returns 0 when these are
    within ``TOL``, else 1. The two agree to ~1e-5: optax rounds its bias corrections ``1 - b**t`` to float32,
    ours are exact. The tolerance holds on CPU; on GPU and TPU, float32 matrix products run at reduced precision
    by default and amplify the rounding differences, so compare there with
    ``JAX_DEFAULT_MATMUL_PRECISION=highest``.
    """
    import optax

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, for smoke tests")
    args = ap.parse_args(argv)
    steps = QUICK_STEPS if args.quick else args.steps

    ours, theirs = compare_with_optax(
        train,
        lambda: fo.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK),
        lambda: optax.adamw(LR, weight_decay=WEIGHT_DECAY, mask=DECAY_MASK),
        steps=steps,
    )
    d_loss = float(np.max(np.abs(ours.losses - theirs.losses)))
    d_params = max_abs_difference(ours.params, theirs.params)
    print(f"{model} on the digits, {steps} steps of adamw (lr {LR}, weight decay {WEIGHT_DECAY} on {decayed})")
    print(f"  functional_opt: final loss {ours.losses[-1]:.5f}  test accuracy {ours.accuracy:.4f}")
    print(f"  optax:          final loss {theirs.losses[-1]:.5f}  test accuracy {theirs.accuracy:.4f}")
    print(f"  max |loss difference| {d_loss:.2e}  max |parameter difference| {d_params:.2e}  (tolerance {TOL:.0e})")
    return 0 if max(d_loss, d_params) <= TOL else 1
