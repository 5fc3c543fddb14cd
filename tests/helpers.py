"""Shared test helpers: one place for driving an optimizer and for the reference harnesses.

* Drivers: :func:`run` (a Python loop around one jitted update) and
  :func:`run_scan` (one jitted ``lax.scan``), each compiling the update once.
* The noisy-quadratic harness (:func:`params0`, :func:`grad`, :func:`run_noisy`,
  :func:`run_reference`, :func:`run_torch`): a fixed scalar/vector/matrix tree,
  the gradient of a quadratic plus fixed noise, computed inside the jitted step
  for functional_opt and optax and in float64 for the numpy and torch
  references.
* The golden harness (:func:`init_params`, :func:`grad_np`, :func:`run_golden`):
  the gradient is computed in numpy float64 on the current parameters and fed
  to the jitted update, so a reference written in numpy sees the same inputs.
* :func:`assert_traj_close` compares two parameter trajectories step by step.
* :class:`Fixtures`: seeded params and gradient sequences (the wrapper tests).
* :func:`evaluate` / :func:`assert_matches` / :func:`evaluate_optax`: schedules
  evaluated on counts and compared with a float64 reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo

# ---------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------


class Run(NamedTuple):
    """What :func:`run` returns."""

    params: Any  # the final params (moved by every update when ``apply=True``)
    state: Any  # the final optimizer state
    updates: list  # the update of every step, in order


def _zeros_like(tree: Any) -> Any:
    return jax.tree.map(lambda g: jnp.zeros(jnp.shape(g), jnp.float32), tree)


def run(
    tx: Any,
    params: Any,
    grads: Sequence[Any],
    *,
    apply: bool = True,
    jit: bool = True,
    **extra_args: Any,
) -> Run:
    """Drive ``tx`` over the gradient trees ``grads``: one ``update`` per tree.

    Args:
        tx: a ``GradientTransformation`` (ours or optax's).
        params: passed to ``init`` and to every ``update``. ``None``: ``init``
            sees float32 zeros shaped like ``grads[0]``, ``update`` gets
            ``params=None`` and nothing is applied.
        grads: the gradient of each step; numpy leaves become jax arrays
            (float64 ones float32, as jax does without x64).
        apply: add each update to the params (``fo.apply_updates``).
        jit: one jitted update, compiled once for all the steps; ``False``
            runs op by op.
        extra_args: passed to every ``update``.
    """
    given = params is not None
    state = tx.init(params if given else _zeros_like(grads[0]))

    def step(params, state, g):
        u, state = tx.update(g, state, params, **extra_args)
        return (fo.apply_updates(params, u) if apply and given else params), state, u

    step = jax.jit(step) if jit else step
    updates = []
    for g in grads:
        params, state, u = step(params, state, jax.tree.map(jnp.asarray, g))
        updates.append(u)
    return Run(params, state, updates)


def run_scan(tx: Any, params: Any, grads: Sequence[Any], values: Sequence[float] | None = None, **extra_args: Any):
    """Drive ``tx`` in one jitted ``lax.scan`` over the gradient trees ``grads`` (and per-step loss ``values``).

    Updates are not applied (``params`` is passed to every update unchanged).
    Returns ``(states, updates)``, each stacked over the steps.
    """
    with_value = values is not None
    stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *grads)
    xs = (stacked, jnp.asarray(values, jnp.float32) if with_value else jnp.zeros(len(grads)))

    def body(state, x):
        g, v = x
        kw = {"value": v} if with_value else {}
        u, state = tx.update(g, state, params, **kw, **extra_args)
        return state, (state, u)

    return jax.jit(lambda state, xs: jax.lax.scan(body, state, xs)[1])(tx.init(params), xs)


def descend(
    tx: Any, loss: Callable[[Any], Any], params: Any, steps: int, *, jit: bool = False, **extra_args: Any
) -> tuple[Any, Any]:
    """``steps`` steps of ``tx`` on ``loss``, the gradient taken at the current params: ``(params, state)``.

    ``jit=False`` (the default) runs op by op, so it can itself be traced (``jax.vmap``, ``jax.jit``)
    with a traced hyperparameter inside ``tx``; ``extra_args`` are passed to every update.
    """

    def step(params, state):
        u, state = tx.update(jax.grad(loss)(params), state, params, **extra_args)
        return fo.apply_updates(params, u), state

    step = jax.jit(step) if jit else step
    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params, state


def assert_traj_close(traj: Sequence[Any], ref: Sequence[Any], rtol: float = 2e-5, atol: float = 2e-6) -> None:
    """Two trajectories (lists of trees) agree at every step (the message names the first step that does not)."""
    assert len(traj) == len(ref), (len(traj), len(ref))
    for t, (a, b) in enumerate(zip(traj, ref)):
        chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol, custom_message=f"step {t + 1}")


# ---------------------------------------------------------------------------
# The noisy-quadratic harness (oracle inside the jitted step)
# ---------------------------------------------------------------------------

KEYS = ("s", "v", "m")

# Betas whose ``1 - b`` is exact in float32, so optax's float32 ``1 - b``
# agrees with our float64-formed one and the differential tests can be tight.
B1, B2 = 0.875, 1 - 2.0**-9


def params0() -> dict[str, np.ndarray]:
    return {"s": np.array(0.7), "v": np.array([0.5, -1.2, 2.0]), "m": np.array([[1.0, -0.3, 0.2], [0.4, 1.5, -2.0]])}


_RNG = np.random.default_rng(1234)
_NOISE = [{k: _RNG.normal(size=np.shape(v)) for k, v in params0().items()} for _ in range(64)]
_SCALE = {"s": 1.0, "v": np.array([0.5, 1.0, 2.0]), "m": np.array([[1.0, 3.0, 0.2], [0.7, 1.0, 1.5]])}


def grad(params: dict, t: int, noise: float = 0.5) -> dict[str, np.ndarray]:
    """Gradient of ``0.5 * sum(scale * (p - 0.25)**2)`` plus fixed noise at step ``t``."""
    return {k: _SCALE[k] * (np.asarray(params[k], np.float64) - 0.25) + noise * _NOISE[t % 64][k] for k in KEYS}


def loss(params: dict) -> float:
    return float(sum(0.5 * np.sum(_SCALE[k] * (np.asarray(params[k], np.float64) - 0.25) ** 2) for k in KEYS))


def to_jax(tree: dict, dtype: Any = jnp.float32) -> dict:
    return {k: jnp.asarray(v, dtype) for k, v in tree.items()}


def to_np(tree: dict) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def zeros() -> dict[str, np.ndarray]:
    return {k: np.zeros_like(v) for k, v in params0().items()}


def leafwise(fn: Callable, *trees: dict) -> Any:
    """Apply ``fn`` to the matching leaves of dict trees; returns a tuple of dicts when fn returns tuples."""
    outs = {k: fn(*(tr[k] for tr in trees)) for k in KEYS}
    first = next(iter(outs.values()))
    if isinstance(first, tuple):
        return tuple({k: outs[k][i] for k in KEYS} for i in range(len(first)))
    return outs


def run_noisy(opt: Any, steps: int, *, with_value: bool = False, noise: float = 0.5) -> list[dict]:
    """Drive a functional_opt or optax optimizer with one jitted step on the noisy quadratic.

    The gradient oracle is the same as :func:`grad`, evaluated in float32 on
    the optimizer's own (float32) parameters inside the step. Returns the
    list of params after each step, in float64.
    """
    noise_arr = {k: jnp.asarray(np.stack([n[k] for n in _NOISE]), jnp.float32) for k in KEYS}
    scale = to_jax(_SCALE)

    @jax.jit
    def step(params, state, t):
        g = {k: scale[k] * (params[k] - 0.25) + noise * noise_arr[k][t % 64] for k in KEYS}
        kw = {}
        if with_value:
            kw["value"] = sum(0.5 * jnp.sum(scale[k] * (params[k] - 0.25) ** 2) for k in KEYS)
        u, state = opt.update(g, state, params, **kw)
        return jax.tree.map(lambda p, x: p + x, params, u), state

    params = to_jax(params0())
    state = opt.init(params)
    traj = []
    for t in range(steps):
        params, state = step(params, state, jnp.int32(t))
        traj.append(params)
    traj = jax.device_get(traj)
    return [{k: np.asarray(p[k], np.float64) for k in KEYS} for p in traj]


def run_reference(step_fn: Callable, steps: int, *, noise: float = 0.5) -> list[dict]:
    """Drive a numpy float64 reference ``step_fn(params, grads, t) -> params`` (t 1-based)."""
    params = params0()
    out = []
    for t in range(steps):
        params = step_fn(params, grad(params, t, noise), t + 1)
        out.append({k: np.asarray(v, np.float64).copy() for k, v in params.items()})
    return out


def run_torch(make: Callable, steps: int, *, noise: float = 0.5) -> list[dict]:
    """Drive a ``torch.optim`` optimizer ``make(list_of_tensors)`` in float64."""
    import torch

    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params0().items()}
    opt = make([tensors[k] for k in KEYS])
    out = []
    for t in range(steps):
        p_np = {k: tensors[k].detach().numpy().copy() for k in KEYS}
        g = grad(p_np, t, noise)
        for k in KEYS:
            tensors[k].grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
        out.append({k: tensors[k].detach().numpy().astype(np.float64).copy() for k in KEYS})
    return out


def assert_close(traj_a: Sequence[Any], traj_b: Sequence[Any], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """:func:`assert_traj_close` with the noisy-quadratic harness's tighter default tolerances."""
    assert_traj_close(traj_a, traj_b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# The golden harness (numpy float64 oracle on the current params)
# ---------------------------------------------------------------------------

SHAPES = {"s": (), "v": (4,), "m": (3, 2)}
STEPS = 12


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in SHAPES.items()}


def grad_np(params: dict, t: int, seed: int = 1) -> dict[str, np.ndarray]:
    """The gradient of a quadratic plus a fixed per-step perturbation, in float64."""
    rng = np.random.default_rng(seed + 1000 * t)
    return {k: (i + 1.0) * (params[k] - 0.3) + 0.5 * rng.normal(size=SHAPES[k]) for i, k in enumerate(SHAPES)}


def run_golden(
    opt: Any, params_np: dict, steps: int = STEPS, dtype: Any = jnp.float32, grad_fn: Callable = grad_np
) -> tuple[list[dict], Any]:
    """``steps`` jitted updates fed ``grad_fn(params, t)`` (default :func:`grad_np`) in float64 at the
    current params, then cast to ``dtype``: ``(trajectory in float64, final state)``."""
    params = {k: jnp.asarray(v, dtype) for k, v in params_np.items()}
    state = opt.init(params)
    step = jax.jit(opt.update)
    traj = []
    for t in range(steps):
        g = grad_fn({k: np.asarray(v, np.float64) for k, v in params.items()}, t)
        u, state = step({k: jnp.asarray(v, dtype) for k, v in g.items()}, state, params)
        params = fo.apply_updates(params, u)
        traj.append({k: np.asarray(v, np.float64) for k, v in params.items()})
    return traj, state


# ---------------------------------------------------------------------------
# Seeded fixtures (the wrapper tests)
# ---------------------------------------------------------------------------


class Fixtures:
    """``params()`` and ``grads_seq(p, n)`` drawing from one seeded generator, in call order."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def params(self, dtype: Any = jnp.float32) -> dict[str, jax.Array]:
        return {
            "s": jnp.asarray(0.3, dtype),
            "v": jnp.asarray(self.rng.normal(size=3), dtype),
            "m": jnp.asarray(self.rng.normal(size=(2, 3)), dtype),
        }

    def grads_seq(self, p: Any, n: int = 10, bad: Sequence[int] = ()) -> list:
        """``n`` random gradients shaped like ``p``; steps in ``bad`` get a NaN (odd) or Inf (even) entry."""
        out = []
        for i in range(n):
            g = jax.tree.map(lambda x: jnp.asarray(self.rng.normal(size=jnp.shape(x)), x.dtype), p)
            if i in bad:
                g = {**g, "m": g["m"].at[0, 1].set(jnp.nan if i % 2 else jnp.inf)}
            out.append(g)
        return out


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------

COUNTS = np.arange(0, 130, dtype=np.int64)


def evaluate(schedule: Callable, counts: np.ndarray = COUNTS) -> np.ndarray:
    """Values of ``schedule`` at int32 ``counts`` (vectorised call) as float64 numpy."""
    return np.asarray(schedule(jnp.asarray(counts, jnp.int32)), np.float64)


def assert_matches(
    schedule: Callable, reference: Callable, counts: np.ndarray = COUNTS, rtol: float = 2e-6, atol: float = 1e-7
) -> None:
    """``schedule(count)`` equals the float64 ``reference(count)`` at every count."""
    got = evaluate(schedule, counts)
    want = np.array([reference(int(c)) for c in counts], np.float64)
    chex.assert_trees_all_close(got, want, rtol=rtol, atol=atol)


def evaluate_optax(schedule: Callable, counts: np.ndarray = COUNTS) -> np.ndarray:
    """Values of an optax schedule at ``counts``, vmapped over int32 scalar counts in one jitted call."""
    values = jax.jit(jax.vmap(lambda c: jnp.asarray(schedule(c), jnp.float32)))(jnp.asarray(counts, jnp.int32))
    return np.asarray(values, np.float64)
