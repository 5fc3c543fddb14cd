"""Shared golden-trajectory harness: a numpy float64 gradient oracle and a jax runner.

A tree with a scalar, a vector and a matrix leaf; ``grad_np(params, t)`` is
the gradient of a quadratic plus a fixed per-step perturbation, evaluated in
float64 on the current parameters, so the trajectory depends on the
optimizer. The tests write each reference update rule out in numpy and
compare whole trajectories with :func:`assert_traj_close`.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np

import functional_opt as fo

SHAPES = {"s": (), "v": (4,), "m": (3, 2)}
STEPS = 12


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in SHAPES.items()}


def grad_np(params, t, seed=1):
    # gradient of a quadratic plus a fixed per-step perturbation
    rng = np.random.default_rng(seed + 1000 * t)
    return {k: (i + 1.0) * (params[k] - 0.3) + 0.5 * rng.normal(size=SHAPES[k]) for i, k in enumerate(SHAPES)}


def run_jax(opt, params_np, steps=STEPS, dtype=jnp.float32):
    params = {k: jnp.asarray(v, dtype) for k, v in params_np.items()}
    state = opt.init(params)
    step = jax.jit(opt.update)
    traj = []
    for t in range(steps):
        g = grad_np({k: np.asarray(v, np.float64) for k, v in params.items()}, t)
        u, state = step({k: jnp.asarray(v, dtype) for k, v in g.items()}, state, params)
        params = fo.apply_updates(params, u)
        traj.append({k: np.asarray(v, np.float64) for k, v in params.items()})
    return traj, state


def assert_traj_close(traj, ref, rtol=2e-5, atol=2e-6):
    assert len(traj) == len(ref)
    for t, (a, b) in enumerate(zip(traj, ref)):
        chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol, custom_message=f"step {t}")


