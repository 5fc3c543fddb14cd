"""Sophia-H against the paper's Algorithm 3 in numpy float64 (on a loss with a diagonal Hessian)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt.transforms.sophia import hutchinson_diag_hessian

STEPS = 12
C = {"s": 1.5, "v": np.array([0.5, 2.0, 4.0]), "m": np.linspace(0.2, 3.0, 6).reshape(2, 3)}


def loss(p):
    # separable: the Hessian is diagonal, c + 3 p^2, so one Hutchinson sample is exact
    return sum(jnp.sum(0.5 * C[k] * p[k] ** 2 + 0.25 * p[k] ** 4) for k in C)


def np_grad(p):
    return {k: C[k] * p[k] + p[k] ** 3 for k in C}


def np_hdiag(p):
    return {k: C[k] + 3 * p[k] ** 2 for k in C}


def np_sophia(p, lr, b1, b2, eps, gamma, clip, k, wd):
    mu = {n: 0.0 for n in C}
    h = {n: 0.0 for n in C}
    for c in range(STEPS):
        g = np_grad(p)
        mu = {n: b1 * mu[n] + (1 - b1) * g[n] for n in C}
        if c % k == 0:
            est = np_hdiag(p)
            h = {n: b2 * h[n] + (1 - b2) * est[n] for n in C}
        p = {n: p[n] - lr * (np.clip(mu[n] / np.maximum(gamma * h[n], eps), -clip, clip) + wd * p[n]) for n in C}
    return p


@pytest.mark.parametrize("k,gamma,clip", [(3, 0.5, 1.0), (1, 0.01, 1.0), (2, 1.0, 0.05)])
def test_sophia_matches_paper(k, gamma, clip):
    p0 = {"s": np.float64(0.8), "v": np.array([1.0, -0.5, 0.3]), "m": np.linspace(-1, 1, 6).reshape(2, 3)}
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.8, 1e-8, 0.1
    opt = fo.sophia(lr, b1=b1, b2=b2, eps=eps, gamma=gamma, clip_threshold=clip, update_interval=k, weight_decay=wd)
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), p0)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        u, state = opt.update(jax.grad(loss)(params), state, params, obj_fn=loss)
        return fo.apply_updates(params, u), state

    for _ in range(STEPS):
        params, state = step(params, state)
    ref = np_sophia(p0, lr, b1, b2, eps, gamma, clip, k, wd)
    chex.assert_trees_all_close(params, jax.tree.map(np.float32, ref), rtol=2e-5, atol=2e-6)


def test_hutchinson_is_unbiased():
    h = jnp.array([[2.0, 0.7, -0.3], [0.7, 1.0, 0.4], [-0.3, 0.4, 3.0]])
    f = lambda x: 0.5 * x @ h @ x
    keys = jax.random.split(jax.random.PRNGKey(1), 1000)
    est = jax.vmap(lambda k: hutchinson_diag_hessian(f, jnp.ones(3), k))(keys)
    np.testing.assert_allclose(est.mean(0), np.diag(h), atol=0.1)
    assert float(est.std(0).min()) > 0.1  # single samples do carry the off-diagonal noise


def test_sophia_needs_obj_fn():
    t = fo.scale_by_sophia()
    p = jnp.ones(2)
    with pytest.raises(ValueError, match="obj_fn"):
        t.update(p, t.init(p), p)
    with pytest.raises(ValueError, match="gamma"):
        fo.scale_by_sophia(gamma=0.0)
    with pytest.raises(ValueError, match="update_interval"):
        fo.scale_by_sophia(update_interval=0)
