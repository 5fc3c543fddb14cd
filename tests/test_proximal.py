"""prox_l1: soft-thresholding against numpy ISTA and scikit-learn's Lasso."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(3)
TARGET = {
    "s": np.float32(0.05),
    "v": np.array([2.0, -0.03, 0.5], np.float32),
    "m": RNG.normal(size=(2, 3)).astype(np.float32) * 0.3,
}


def loss(p):
    return sum(0.5 * jnp.sum((x - jnp.asarray(t)) ** 2) for x, t in zip(jax.tree.leaves(p), jax.tree.leaves(TARGET)))


def soft(z, tau):
    return np.sign(z) * np.maximum(np.abs(z) - tau, 0.0)


def test_ista_against_numpy_and_exact_zeros():
    lr, l1, steps = 0.3, 0.2, 15
    opt = fo.chain(fo.sgd(lr), fo.prox_l1(l1, lr))
    p = jax.tree.map(lambda t: jnp.ones_like(jnp.asarray(t)), TARGET)
    s = opt.init(p)
    step = jax.jit(lambda p, s: (lambda u, s: (fo.apply_updates(p, u), s))(*opt.update(jax.grad(loss)(p), s, p)))
    ref = jax.tree.map(lambda t: np.ones(np.shape(t)), TARGET)
    for _ in range(steps):
        p, s = step(p, s)
        ref = jax.tree.map(lambda w, t: soft(w - lr * (w - t), lr * l1), ref, TARGET)
    chex.assert_trees_all_close(p, jax.tree.map(np.float32, ref), rtol=1e-5, atol=1e-6)
    for ours, r in zip(jax.tree.leaves(p), jax.tree.leaves(ref)):
        np.testing.assert_array_equal(np.asarray(ours) == 0, r == 0)  # the same *exact* zeros
    assert sum(int(np.sum(np.asarray(x) == 0)) for x in jax.tree.leaves(p)) >= 2
    # the subgradient of l1_penalty in the loss never lands exactly on 0
    sub = fo.sgd(lr)
    q = jax.tree.map(lambda t: jnp.ones_like(jnp.asarray(t)), TARGET)
    ss = sub.init(q)
    for _ in range(steps):
        g = jax.grad(lambda q: loss(q) + l1 * fo.l1_penalty(q))(q)
        u, ss = sub.update(g, ss, q)
        q = fo.apply_updates(q, u)
    assert sum(int(np.sum(np.asarray(x) == 0)) for x in jax.tree.leaves(q)) == 0


def test_converges_to_sklearn_lasso():
    sklearn = pytest.importorskip("sklearn.linear_model")
    n, d, alpha = 60, 8, 0.1
    X = RNG.normal(size=(n, d))
    w_true = np.array([1.5, 0, 0, -2.0, 0, 0.3, 0, 0])
    y = X @ w_true + 0.1 * RNG.normal(size=n)
    ref = sklearn.Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    lr = 1.0 / np.linalg.eigvalsh(X.T @ X / n).max()  # 1/L: ISTA converges
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    opt = fo.chain(fo.sgd(lr), fo.prox_l1(alpha, lr))

    def body(carry, _):
        w, s = carry
        g = jax.grad(lambda w: 0.5 * jnp.mean((Xj @ w - yj) ** 2))(w)
        u, s = opt.update(g, s, w)
        return (fo.apply_updates(w, u), s), None

    w0 = jnp.zeros(d, jnp.float32)
    (w, _), _ = jax.lax.scan(body, (w0, opt.init(w0)), None, length=2000)
    np.testing.assert_allclose(np.asarray(w), ref, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(w) == 0, ref == 0)


def test_schedules_mask_none_and_validation():
    lr_fn = lambda c: 0.5 / (1.0 + c)
    opt = fo.chain(fo.sgd(lr_fn), fo.prox_l1(0.4, lr_fn, mask={"w": True, "b": False, "frozen": None}))
    p = {"w": jnp.array([1.0, -0.2, 0.05]), "b": jnp.array([0.01]), "frozen": None}
    s = opt.init(p)
    assert isinstance(s[1], fo.ProxL1State)
    w, b = np.array([1.0, -0.2, 0.05]), np.array([0.01])
    for t in range(4):
        g = {"w": jnp.full(3, 0.1), "b": jnp.full(1, 0.1), "frozen": None}
        u, s = opt.update(g, s, p)
        p = fo.apply_updates(p, u)
        w, b = soft(w - lr_fn(t) * 0.1, lr_fn(t) * 0.4), b - lr_fn(t) * 0.1
    np.testing.assert_allclose(np.asarray(p["w"]), w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(p["b"]), b, rtol=1e-6)
    assert p["frozen"] is None and int(s[1].count) == 4
    with pytest.raises(ValueError, match="l1"):
        fo.prox_l1(-1.0, 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        fo.prox_l1(1.0, -0.1)
    t = fo.prox_l1(1.0, 0.1)
    with pytest.raises(ValueError, match="needs params"):
        t.update(jnp.ones(2), t.init(jnp.ones(2)))


def test_traced_hyperparameters_and_low_precision():
    p = jnp.array([0.3, -0.05, 1.0], jnp.bfloat16)
    t = lambda l1: fo.prox_l1(l1, 1.0)
    out = jax.vmap(lambda l1: fo.apply_updates(p, t(l1).update(jnp.zeros(3, jnp.bfloat16), t(l1).init(p), p)[0]))(
        jnp.array([0.0, 0.1, 0.5])
    )
    assert out.dtype == jnp.bfloat16
    ref = np.stack([soft(np.asarray(p, np.float64), tau) for tau in (0.0, 0.1, 0.5)])
    np.testing.assert_allclose(np.asarray(out, np.float64), ref, rtol=1e-2, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(out) == 0, ref == 0)
