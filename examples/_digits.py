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
* ``train(optimizer, data, *, steps, batch_size, seed, loss_fn=None, params=None, progress=None)``
  -> ``TrainResult`` (params, opt_state, losses per step, seconds, steps_per_s), one
  jit-compiled, donated step built by ``functional_opt.make_train_step``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    rng = np.random.default_rng(seed)
    n = len(data.x_train)
    order = rng.permutation(n)
    pos = 0
    losses = np.zeros(steps, np.float64)
    # compile outside the timed region
    params = jax.tree.map(jnp.array, params)
    t0 = None
    for i in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, (data.x_train[idx], data.y_train[idx]), sub)
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
