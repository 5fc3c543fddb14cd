"""SAM against Foret et al.'s Algorithm 1 in numpy float64, ASAM, the two-pass step helper, optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

STEPS = 10
A = {"s": 1.5, "v": np.array([0.5, 2.0, 4.0]), "m": np.linspace(0.2, 3.0, 6).reshape(2, 3)}


def loss(p, x):
    return sum(jnp.sum(A[k] * (p[k] - x) ** 2 + 0.1 * jnp.sin(3 * p[k])) for k in A)


def np_grad(p, x):
    return {k: 2 * A[k] * (p[k] - x) + 0.3 * np.cos(3 * p[k]) for k in A}


def np_sam_momentum(p, lr, mom, rho, adaptive, steps, x=0.3, eps=1e-12):
    buf = {k: 0.0 for k in A}
    for _ in range(steps):
        g = np_grad(p, x)
        if adaptive:
            tg = {k: np.abs(p[k]) * g[k] for k in A}
            n = np.sqrt(sum(np.sum(tg[k] ** 2) for k in A))
            e = {k: rho * p[k] ** 2 * g[k] / (n + eps) for k in A}
        else:
            n = np.sqrt(sum(np.sum(g[k] ** 2) for k in A))
            e = {k: rho * g[k] / (n + eps) for k in A}
        gs = np_grad({k: p[k] + e[k] for k in A}, x)
        buf = {k: mom * buf[k] + gs[k] for k in A}
        p = {k: p[k] - lr * buf[k] for k in A}
    return p


P0 = {"s": np.float64(0.8), "v": np.array([1.0, -0.5, 0.3]), "m": np.linspace(-1, 1, 6).reshape(2, 3)}


@pytest.mark.parametrize("adaptive,rho", [(False, 0.05), (True, 0.5)])
def test_sam_train_step_matches_algorithm(adaptive, rho):
    opt = fo.sam(fo.sgd(0.02, momentum=0.9), rho=rho, adaptive=adaptive)
    step = jax.jit(fo.sam_train_step(loss, opt))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), P0)
    state = opt.init(params)
    for _ in range(STEPS):
        params, state, _ = step(params, state, 0.3)
    ref = np_sam_momentum(P0, 0.02, 0.9, rho, adaptive, STEPS)
    chex.assert_trees_all_close(params, jax.tree.map(np.float32, ref), rtol=2e-5, atol=2e-6)


def test_sam_matches_optax_opaque_mode():
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    rho, lr = 0.05, 0.02
    ours = fo.sam(fo.sgd(lr), rho=rho, eps=0.0)
    ref = contrib.sam(optax.sgd(lr), optax.chain(contrib.normalize(), optax.sgd(rho)), sync_period=2, opaque_mode=True)
    grad_fn = jax.jit(jax.grad(lambda p: loss(p, 0.3)))
    po = pr = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), P0)
    so, sr = ours.init(po), ref.init(pr)
    step_o = jax.jit(lambda g, s, p: ours.update(g, s, p, grad_fn=grad_fn))
    step_r = jax.jit(lambda g, s, p: ref.update(g, s, p, grad_fn=lambda q, i: grad_fn(q)))
    for _ in range(STEPS):
        uo, so = step_o(grad_fn(po), so, po)
        ur, sr = step_r(grad_fn(pr), sr, pr)
        po, pr = fo.apply_updates(po, uo), optax.apply_updates(pr, ur)
    chex.assert_trees_all_close(po, pr, rtol=1e-5, atol=1e-6)


def test_sam_errors_and_zero_gradient():
    opt = fo.sam(fo.sgd(0.1))
    p = jnp.ones(2)
    with pytest.raises(ValueError, match="grad_fn"):
        opt.update(p, opt.init(p), p)
    with pytest.raises(ValueError, match="rho"):
        fo.sam(fo.sgd(0.1), rho=-1.0)
    with pytest.raises(TypeError, match="optimizer"):
        fo.sam(3.0)
    e = fo.sam_perturbation(jnp.zeros(2), p)
    np.testing.assert_array_equal(e, np.zeros(2))
