"""Tests for functional_opt/transforms/lion.py (scale_by_lion)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo


def test_transform_golden_numpy():
    rng = np.random.default_rng(3)
    gs = [{"s": rng.normal(), "v": rng.normal(size=4), "m": rng.normal(size=(3, 2))} for _ in range(12)]
    b1, b2 = 0.8, 0.95
    t = fo.scale_by_lion(b1=b1, b2=b2)
    state = t.init(jax.tree.map(lambda x: jnp.zeros(np.shape(x)), gs[0]))
    mu = jax.tree.map(lambda x: np.zeros(np.shape(x)), gs[0])
    for g in gs:
        u, state = t.update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state)
        expected = jax.tree.map(lambda m, gg: np.sign(b1 * m + (1 - b1) * gg), mu, g)
        mu = jax.tree.map(lambda m, gg: b2 * m + (1 - b2) * gg, mu, g)
        chex.assert_trees_all_close(jax.tree.map(np.asarray, u), expected)
        chex.assert_trees_all_close(jax.tree.map(np.asarray, state.mu), mu, rtol=1e-5, atol=1e-6)
    assert int(state.count) == 12


def test_mu_dtype_and_validation():
    t = fo.scale_by_lion(mu_dtype=jnp.bfloat16)
    s = t.init({"w": jnp.zeros(3)})
    assert s.mu["w"].dtype == jnp.bfloat16
    u, s = t.update({"w": jnp.ones(3)}, s)
    assert u["w"].dtype == jnp.float32 and s.mu["w"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_lion(b2=1.5)
    with pytest.raises(TypeError, match="mu_dtype"):
        fo.scale_by_lion(mu_dtype=jnp.int32)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    rng = np.random.default_rng(4)
    ours, theirs = fo.scale_by_lion(), optax.scale_by_lion()
    s1, s2 = ours.init(jnp.zeros(5)), theirs.init(jnp.zeros(5))
    for _ in range(10):
        g = jnp.asarray(rng.normal(size=5), jnp.float32)
        a, s1 = ours.update(g, s1)
        b, s2 = theirs.update(g, s2)
        chex.assert_trees_all_close(a, b)
    chex.assert_trees_all_close(s1.mu, s2.mu, rtol=1e-4, atol=1e-7)  # optax forms 1 - b2 in float32


@pytest.mark.parametrize(("mode", "smooth_beta"), [("smooth", 2.5), ("refined", 1.0)])
def test_modes_match_numpy_and_optax(mode, smooth_beta):
    rng = np.random.default_rng(3)
    gs = [rng.normal(size=(3, 2)) * 2 for _ in range(4)]
    t = fo.scale_by_lion(b1=0.8, b2=0.9, mode=mode, smooth_beta=smooth_beta)
    s = t.init(jnp.zeros((3, 2)))
    mu = np.zeros((3, 2))
    ref = None
    optax = None
    try:
        import optax

        ref = optax.scale_by_lion(b1=0.8, b2=0.9, mode=mode, smooth_beta=smooth_beta)
        sr = ref.init(jnp.zeros((3, 2)))
    except ImportError:
        pass
    for g in gs:
        c = 0.8 * mu + 0.2 * g
        want = np.tanh(smooth_beta * c) if mode == "smooth" else np.where(np.abs(c) < 1, c, np.sign(c))
        mu = 0.9 * mu + 0.1 * g
        u, s = t.update(jnp.asarray(g, jnp.float32), s)
        np.testing.assert_allclose(u, want, rtol=1e-5, atol=1e-6)
        if ref is not None:
            ur, sr = ref.update(jnp.asarray(g, jnp.float32), sr)
            np.testing.assert_allclose(u, ur, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        fo.scale_by_lion(mode="soft")
