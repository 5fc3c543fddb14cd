"""Penalties, coupled vs decoupled weight decay, and dropout."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import descend

RNG = np.random.default_rng(2)
TREE = {
    "s": np.float32(-1.5),
    "v": RNG.normal(size=3).astype(np.float32),
    "m": RNG.normal(size=(2, 3)).astype(np.float32),
}


def jtree(tree=TREE):
    return jax.tree.map(jnp.asarray, tree)


def all_leaves64(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def test_penalties_against_numpy():
    leaves = all_leaves64(TREE)
    l1 = sum(np.abs(x).sum() for x in leaves)
    l2 = 0.5 * sum((x**2).sum() for x in leaves)
    np.testing.assert_allclose(float(fo.l1_penalty(jtree())), l1, rtol=1e-6)
    np.testing.assert_allclose(float(fo.l2_penalty(jtree())), l2, rtol=1e-6)
    np.testing.assert_allclose(float(fo.elastic_net_penalty(jtree(), l1_ratio=0.3)), 0.3 * l1 + 0.7 * l2, rtol=1e-6)
    # masks: a tree of bools, or a function of the params; None leaves are skipped
    mask = {"s": False, "v": True, "m": False}
    np.testing.assert_allclose(
        float(fo.l2_penalty(jtree(), mask=mask)), 0.5 * (TREE["v"].astype(np.float64) ** 2).sum(), rtol=1e-6
    )
    by_ndim = lambda p: jax.tree.map(lambda x: jnp.ndim(x) == 2, p)
    np.testing.assert_allclose(
        float(fo.l1_penalty(jtree(), mask=by_ndim)), np.abs(TREE["m"].astype(np.float64)).sum(), rtol=1e-6
    )
    with_none = {**jtree(), "frozen": None}
    np.testing.assert_allclose(float(fo.l1_penalty(with_none)), l1, rtol=1e-6)
    # gradients: lam * sign(w) and lam * w
    g = jax.grad(fo.l2_penalty)(jtree())
    chex.assert_trees_all_close(g, jtree(), rtol=1e-6)
    g1 = jax.grad(fo.l1_penalty)(jtree())
    chex.assert_trees_all_close(g1, jax.tree.map(np.sign, TREE))


def test_penalty_low_precision_accumulates_in_float32():
    big = {"w": jnp.full((4096,), 1.0, jnp.bfloat16)}
    out = fo.l2_penalty(big)
    assert out.dtype == jnp.float32 and float(out) == 2048.0  # bf16 accumulation would stall at 256
    with pytest.raises(ValueError, match="l1_ratio"):
        fo.elastic_net_penalty(big, l1_ratio=1.5)
    with pytest.raises(ValueError, match="mask"):
        fo.l1_penalty(big, mask={"other": True})


A = np.array([0.1, 10.0, 1.0])  # curvatures: Adam's per-coordinate scaling matters
C = np.array([1.0, -2.0, 0.5])


def quad_loss(w):
    return 0.5 * jnp.sum(jnp.asarray(A, jnp.float32) * (w - jnp.asarray(C, jnp.float32)) ** 2)


W0 = jnp.zeros(3, jnp.float32)  # every run: 12 steps from zero


def np_adam(lam, decoupled, lr=0.1, b1=0.9, b2=0.999, eps=1e-8, steps=12):
    w = np.zeros(3)
    m = np.zeros(3)
    v = np.zeros(3)
    for t in range(1, steps + 1):
        g = A * (w - C) + (0.0 if decoupled else lam * w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        w = w - lr * (step + (lam * w if decoupled else 0.0))
    return w


def test_l2_penalty_equals_weight_decay_under_sgd_but_not_under_adam():
    lam, lr = 0.3, 0.1
    coupled = lambda w: quad_loss(w) + lam * fo.l2_penalty(w)
    w_pen, _ = descend(fo.sgd(lr), coupled, W0, 12)
    w_dec, _ = descend(fo.chain(fo.add_decayed_weights(lam), fo.sgd(lr)), quad_loss, W0, 12)
    w_np = np.zeros(3)
    for _ in range(12):
        w_np = w_np - lr * (A * (w_np - C) + lam * w_np)
    np.testing.assert_allclose(w_pen, w_np, rtol=1e-5)
    np.testing.assert_allclose(w_dec, w_np, rtol=1e-5)
    # Adam: the penalty's gradient is rescaled by 1/sqrt(nu), the decoupled decay is not
    a_pen, _ = descend(fo.adam(lr), coupled, W0, 12)
    a_dec, _ = descend(fo.adamw(lr, weight_decay=lam), quad_loss, W0, 12)
    np.testing.assert_allclose(a_pen, np_adam(lam, decoupled=False), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a_dec, np_adam(lam, decoupled=True), rtol=1e-4, atol=1e-6)
    assert np.max(np.abs(a_pen - a_dec)) > 1e-2


def test_dropout_expectation_and_values():
    n, rate = 200_000, 0.3
    x = jnp.ones((n,), jnp.float32)
    y = np.asarray(fo.dropout(jax.random.PRNGKey(42), rate, x), np.float64)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - rate))}
    kept = (y != 0).mean()
    # binomial: std of the kept fraction is sqrt(q (1 - q) / n); 5 sigma, a 1-in-3e6 false alarm
    assert abs(kept - (1 - rate)) < 5 * math.sqrt(rate * (1 - rate) / n)
    # E[y] = 1, Var[y] = rate / (1 - rate) per element
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(rate / (1 - rate) / n)
    g = jax.grad(lambda x: jnp.sum(fo.dropout(jax.random.PRNGKey(42), rate, x)))(x)
    np.testing.assert_allclose(np.asarray(g), y, rtol=1e-6)  # dy/dx = mask / (1 - rate) = y for x = 1


def test_dropout_edges():
    x = jnp.asarray(RNG.normal(size=(5, 4)), jnp.bfloat16)
    key = jax.random.PRNGKey(0)
    assert bool(jnp.all(fo.dropout(key, 0.0, x) == x))
    assert bool(jnp.all(fo.dropout(key, 0.5, x, deterministic=True) == x))
    assert fo.dropout(key, 0.5, x).dtype == jnp.bfloat16
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="rate"):
            fo.dropout(key, bad, x)
    with pytest.raises(TypeError, match="deterministic"):
        fo.dropout(key, 0.5, x, deterministic=jnp.array(True))
    # traced rates: 0 is the identity, 1 zeroes everything with zero (not NaN) gradient
    f = jax.jit(lambda r, x: fo.dropout(key, r, x))
    xf = x.astype(jnp.float32)
    np.testing.assert_array_equal(np.asarray(f(jnp.float32(0.0), xf)), np.asarray(xf))
    assert bool(jnp.all(f(jnp.float32(1.0), xf) == 0))
    g = jax.grad(lambda x: jnp.sum(f(jnp.float32(1.0), x)))(xf)
    assert bool(jnp.all(g == 0))
    kept = jax.vmap(lambda r: jnp.mean(fo.dropout(key, r, jnp.ones(20_000)) != 0))(jnp.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(np.asarray(kept), [0.9, 0.5, 0.1], atol=5 * 0.5 / math.sqrt(20_000))


def test_prefix_mask_equals_full_mask():
    # the one mask reader: a prefix mask (optax's semantics), as fo.masked reads it
    p = {
        "enc": {"w": jnp.arange(6.0).reshape(2, 3) - 2.0, "b": jnp.full(3, 0.5)},
        "head": {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.asarray(-0.7)},
    }
    prefix = {"enc": False, "head": True}
    full = {"enc": {"w": False, "b": False}, "head": {"w": True, "b": True}}
    for penalty in (fo.l1_penalty, fo.l2_penalty, fo.elastic_net_penalty):
        got = penalty(p, mask=prefix)
        assert float(got) == float(penalty(p, mask=full)) == float(penalty(p, mask=lambda _: prefix))
        assert float(got) == float(penalty(p["head"]))
    np.testing.assert_allclose(float(fo.l2_penalty(p, mask=prefix)), 0.5 * (1 + 4 + 9 + 0.49), rtol=1e-6)
    assert float(fo.l2_penalty(p, mask=True)) == float(fo.l2_penalty(p))
    assert float(fo.l2_penalty(p, mask=False)) == 0.0
    with pytest.raises(TypeError, match="bools"):
        fo.l2_penalty(p, mask={"enc": 0, "head": 1})
