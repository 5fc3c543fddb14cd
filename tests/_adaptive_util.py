"""Shared harness for the adaptive-family tests (issue 6).

A fixed tree with a scalar, a vector and a matrix leaf; a gradient oracle
``grad(params, t)`` evaluated in numpy float64 (a noisy quadratic, so the
trajectory depends on the optimizer); runners that drive functional_opt,
optax and torch.optim with it and return the parameter trajectory in float64.
The numpy references in the tests are written against the papers' formulas.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

KEYS = ("s", "v", "m")


def params0():
    return {"s": np.array(0.7), "v": np.array([0.5, -1.2, 2.0]), "m": np.array([[1.0, -0.3, 0.2], [0.4, 1.5, -2.0]])}


_RNG = np.random.default_rng(1234)
_NOISE = [{k: _RNG.normal(size=np.shape(v)) for k, v in params0().items()} for _ in range(64)]
_SCALE = {"s": 1.0, "v": np.array([0.5, 1.0, 2.0]), "m": np.array([[1.0, 3.0, 0.2], [0.7, 1.0, 1.5]])}


def grad(params, t, noise=0.5):
    """Gradient of ``0.5 * sum(scale * (p - 0.25)**2)`` plus fixed noise at step ``t``."""
    return {k: _SCALE[k] * (np.asarray(params[k], np.float64) - 0.25) + noise * _NOISE[t % 64][k] for k in KEYS}


def loss(params):
    return float(sum(0.5 * np.sum(_SCALE[k] * (np.asarray(params[k], np.float64) - 0.25) ** 2) for k in KEYS))


def to_jax(tree, dtype=jnp.float32):
    return {k: jnp.asarray(v, dtype) for k, v in tree.items()}


def to_np(tree):
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def run(opt, steps, *, with_value=False, noise=0.5):
    """Drive a functional_opt or optax optimizer with one jitted step.

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


def run_reference(step_fn, steps, *, noise=0.5):
    """Drive a numpy float64 reference ``step_fn(params, grads, t) -> params`` (t 1-based)."""
    params = params0()
    out = []
    for t in range(steps):
        params = step_fn(params, grad(params, t, noise), t + 1)
        out.append({k: np.asarray(v, np.float64).copy() for k, v in params.items()})
    return out


def run_torch(make, steps, *, noise=0.5):
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


def assert_close(traj_a, traj_b, rtol=1e-5, atol=1e-6):
    assert len(traj_a) == len(traj_b)
    for t, (a, b) in enumerate(zip(traj_a, traj_b)):
        chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol, custom_message=f"step {t + 1}")


def leafwise(fn, *trees):
    """Apply ``fn`` to the matching leaves of dict trees; returns a tuple of dicts when fn returns tuples."""
    outs = {k: fn(*(tr[k] for tr in trees)) for k in KEYS}
    first = next(iter(outs.values()))
    if isinstance(first, tuple):
        return tuple({k: outs[k][i] for k in KEYS} for i in range(len(first)))
    return outs


def zeros():
    return {k: np.zeros_like(v) for k, v in params0().items()}


# Betas whose ``1 - b`` is exact in float32, so optax's float32 ``1 - b``
# agrees with our float64-formed one and the differential tests can be tight.
B1, B2 = 0.875, 1 - 2.0**-9
