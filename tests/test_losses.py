"""Regression / similarity losses against float64 numpy references, finite differences and optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(0)
P = RNG.normal(size=(4, 5)) * 2
T = RNG.normal(size=(4, 5))


def ref_squared(p, t):
    return (p - t) ** 2


def ref_huber(p, t, d):
    e = np.abs(p - t)
    return np.where(e <= d, 0.5 * e**2, d * e - 0.5 * d**2)


def ref_log_cosh(p, t):
    e = np.abs(p - t)
    # log cosh e = e + log(1 + exp(-2e)) - log 2, exact and stable in float64
    return e + np.log1p(np.exp(-2 * e)) - np.log(2.0)


def ref_cos(p, t, eps=0.0):
    pn = np.sqrt(np.maximum((p * p).sum(-1), eps))
    tn = np.sqrt(np.maximum((t * t).sum(-1), eps))
    return (p * t).sum(-1) / (pn * tn)


def fd_grad(f, x, h=1e-6):
    """Central finite differences of a scalar float64 numpy function."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


CASES = {
    "squared_error": (lambda p, t: fo.squared_error(p, t), ref_squared),
    "l2_loss": (lambda p, t: fo.l2_loss(p, t), lambda p, t: 0.5 * ref_squared(p, t)),
    "huber_loss": (lambda p, t: fo.huber_loss(p, t, delta=0.7), lambda p, t: ref_huber(p, t, 0.7)),
    "log_cosh": (lambda p, t: fo.log_cosh(p, t), ref_log_cosh),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_finite_difference_gradients(name):
    fn, ref = CASES[name]
    out = fn(jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32))
    assert out.dtype == jnp.float32 and out.shape == P.shape
    np.testing.assert_allclose(np.asarray(out), ref(P, T), rtol=2e-6, atol=1e-6)
    w = RNG.normal(size=P.shape)
    g = jax.grad(lambda p: jnp.sum(fn(p, jnp.asarray(T, jnp.float32)) * w))(jnp.asarray(P, jnp.float32))
    np.testing.assert_allclose(np.asarray(g), fd_grad(lambda p: np.sum(ref(p, T) * w), P), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_targets_default_to_zero(name):
    fn, ref = CASES[name]
    np.testing.assert_allclose(np.asarray(fn(jnp.asarray(P, jnp.float32), None)), ref(P, 0.0), rtol=2e-6, atol=1e-6)


def test_extreme_values_are_finite_and_exact():
    e = jnp.array([-1e4, -30.0, 0.0, 1e-4, 30.0, 1e4], jnp.float32)
    lc = fo.log_cosh(e)
    np.testing.assert_allclose(np.asarray(lc), ref_log_cosh(np.asarray(e, np.float64), 0.0), rtol=1e-6, atol=1e-9)
    g = jax.grad(lambda x: jnp.sum(fo.log_cosh(x)))(e)
    np.testing.assert_allclose(np.asarray(g), np.tanh(np.asarray(e, np.float64)), rtol=1e-6, atol=1e-7)
    gh = jax.grad(lambda x: jnp.sum(fo.huber_loss(x, delta=2.0)))(e)
    np.testing.assert_allclose(np.asarray(gh), np.clip(np.asarray(e, np.float64), -2, 2), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", ["huber_loss", "log_cosh", "l2_loss"])
def test_low_precision_inputs(name, dtype):
    fn, ref = CASES[name]
    p = jnp.asarray(P, dtype)
    t = jnp.asarray(T, dtype)
    out = fn(p, t)
    assert out.dtype == dtype
    rounded_ref = ref(np.asarray(p, np.float64), np.asarray(t, np.float64))
    np.testing.assert_allclose(np.asarray(out, np.float64), rounded_ref, rtol=1e-2, atol=1e-2)
    g = jax.grad(lambda x: jnp.sum(fn(x, t).astype(jnp.float32)))(p)
    assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g)))
    # large errors: float16 max is 65504, log_cosh / huber of 1e4 stay representable
    if name != "l2_loss":
        big = fn(jnp.asarray([1e4, -1e4], dtype), None)
        assert bool(jnp.all(jnp.isfinite(big)))


def test_cosine_similarity_and_distance():
    p, t = P, T
    out = fo.cosine_similarity(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32))
    np.testing.assert_allclose(np.asarray(out), ref_cos(p, t), rtol=1e-5, atol=1e-6)
    d = fo.cosine_distance(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32))
    np.testing.assert_allclose(np.asarray(d), 1 - ref_cos(p, t), rtol=1e-5, atol=1e-6)
    w = RNG.normal(size=4)
    g = jax.grad(lambda x: jnp.sum(fo.cosine_distance(x, jnp.asarray(t, jnp.float32)) * w))(jnp.asarray(p, jnp.float32))
    np.testing.assert_allclose(
        np.asarray(g), fd_grad(lambda x: np.sum((1 - ref_cos(x, t)) * w), p), rtol=1e-3, atol=1e-5
    )
    # a zero vector: NaN without epsilon, similarity 0 with epsilon
    z = jnp.zeros((1, 5))
    assert bool(jnp.isnan(fo.cosine_similarity(z, jnp.ones((1, 5)))[0]))
    assert float(fo.cosine_similarity(z, jnp.ones((1, 5)), epsilon=1e-12)[0]) == 0.0
    # where: only the first three coordinates count
    mask = np.arange(5) < 3
    mw = fo.cosine_similarity(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32), where=jnp.asarray(mask))
    np.testing.assert_allclose(np.asarray(mw), ref_cos(p[:, :3], t[:, :3]), rtol=1e-5, atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="delta"):
        fo.huber_loss(jnp.ones(2), delta=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        fo.cosine_distance(jnp.ones(2), jnp.ones(2), epsilon=-1.0)
    with pytest.raises(TypeError, match="predictions"):
        fo.squared_error(jnp.arange(3))


def test_traced_delta_vmaps():
    deltas = jnp.array([0.5, 1.0, 2.0])
    out = jax.vmap(lambda d: fo.huber_loss(jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32), delta=d))(deltas)
    for i, d in enumerate([0.5, 1.0, 2.0]):
        np.testing.assert_allclose(np.asarray(out[i]), ref_huber(P, T, d), rtol=2e-6, atol=1e-6)


def test_against_optax():
    optax = pytest.importorskip("optax")
    p, t = jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32)
    pairs = [
        (fo.squared_error(p, t), optax.losses.squared_error(p, t)),
        (fo.l2_loss(p, t), optax.losses.l2_loss(p, t)),
        (fo.huber_loss(p, t, delta=0.7), optax.losses.huber_loss(p, t, delta=0.7)),
        (fo.log_cosh(p, t), optax.losses.log_cosh(p, t)),
        (fo.cosine_distance(p, t, epsilon=1e-8), optax.losses.cosine_distance(p, t, epsilon=1e-8)),
        (fo.cosine_similarity(p, t), optax.losses.cosine_similarity(p, t)),
    ]
    for ours, theirs in pairs:
        chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_targets_of_another_shape_raise_instead_of_broadcasting():
    p, t = jnp.ones(4), jnp.ones((4, 1))
    for f in (fo.squared_error, fo.l2_loss, fo.huber_loss, fo.log_cosh):
        with pytest.raises(ValueError, match="shape"):
            f(p, t)
        with pytest.raises(ValueError, match="shape"):
            f(t, p)  # (4, 1) against (4,) would be (4, 4) too
    # targets may broadcast to the predictions' shape without enlarging it (optax's squared_error
    # and l2_loss want equal shapes; its huber_loss and log_cosh broadcast freely)
    for f in (fo.squared_error, fo.l2_loss, fo.huber_loss, fo.log_cosh):
        np.testing.assert_allclose(f(p, jnp.float32(0.5)), f(p, jnp.full(4, 0.5)))
        assert f(jnp.ones((4, 3)), jnp.ones((4, 1))).shape == (4, 3)
        with pytest.raises(ValueError, match="shape"):
            f(jnp.ones((4, 3)), jnp.ones((2, 3)))
    optax = pytest.importorskip("optax")
    for f in (optax.losses.squared_error, optax.losses.l2_loss):
        with pytest.raises(ValueError):
            f(p, t)
