"""ADOPT against the official rule in numpy float64, and optax.contrib.scale_by_adopt."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

STEPS = 12


def grads_seq(seed=0):
    rng = np.random.default_rng(seed)
    gs = [{"s": rng.normal(), "v": rng.normal(size=3), "m": rng.normal(size=(2, 3))} for _ in range(STEPS)]
    gs[3]["v"][0] = 1e-9  # a near-zero entry: the clip binds
    return gs


def np_adopt(gs, b1=0.9, b2=0.9999, eps=1e-6, clip=True, nesterov=False):
    """iShohei220/adopt: step 0 only sets v = g^2; later steps normalize by the old v, then update v."""
    m = v = None
    out = []
    for step, g in enumerate(gs):
        g = np.asarray(g, np.float64)
        if step == 0:
            m, v = np.zeros_like(g), g * g
            out.append(np.zeros_like(g))
            continue
        r = g / np.maximum(np.sqrt(v), eps)
        if clip:
            r = np.clip(r, -(step**0.25), step**0.25)
        m = b1 * m + (1 - b1) * r
        out.append(b1 * m + (1 - b1) * r if nesterov else m)
        v = b2 * v + (1 - b2) * g * g
    return out


@pytest.mark.parametrize("clip,nesterov,b2", [(True, False, 0.9999), (False, False, 0.5), (True, True, 0.9)])
def test_scale_by_adopt_matches_reference(clip, nesterov, b2):
    gs = grads_seq()
    t = fo.scale_by_adopt(b2=b2, use_clipping=clip, nesterov=nesterov)
    state = t.init(jax.tree.map(lambda x: jnp.zeros(np.shape(x)), gs[0]))
    step = jax.jit(t.update)
    refs = {k: np_adopt([g[k] for g in gs], b2=b2, clip=clip, nesterov=nesterov) for k in gs[0]}
    for i, g in enumerate(gs):
        u, state = step(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state)
        for k in g:
            np.testing.assert_allclose(u[k], refs[k][i], rtol=2e-5, atol=1e-6, err_msg=f"{k} step {i}")


def test_adopt_matches_optax():
    contrib = pytest.importorskip("optax.contrib")
    gs = grads_seq(1)
    p = jax.tree.map(lambda x: jnp.ones(np.shape(x)), gs[0])
    for kw in ({}, {"nesterov": True}):
        ours, ref = fo.adopt(0.01, **kw), contrib.adopt(0.01, **kw)
        so, sr = ours.init(p), ref.init(p)
        fo_step, ox_step = jax.jit(ours.update), jax.jit(ref.update)
        for g in gs:
            g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g)
            uo, so = fo_step(g, so, p)
            ur, sr = ox_step(g, sr, p)
            chex.assert_trees_all_close(uo, ur, rtol=1e-5, atol=1e-8)


def test_adopt_validation():
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_adopt(b2=1.5)
    with pytest.raises(TypeError, match="clip_value_fn"):
        fo.scale_by_adopt(clip_value_fn=1.0)


def test_complex_params_clip_each_part():
    # nu = |g|**2 (real); r = g / |g_0|, its real and imaginary parts clipped to count**0.25 = 1
    t = fo.scale_by_adopt(b1=0.0)
    s = t.init(jnp.zeros(1, jnp.complex64))
    assert s.nu.dtype == jnp.float32
    _, s = t.update(jnp.array([0.3 + 0.4j], jnp.complex64), s)
    u, s = t.update(jnp.array([1.0 - 0.2j], jnp.complex64), s)
    assert u.dtype == jnp.complex64 and s.nu.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(u), [1.0 - 0.4j], rtol=1e-5)
