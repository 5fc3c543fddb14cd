"""Tests for functional_opt/transforms/trust_ratio.py (scale_by_trust_ratio)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo


def ref_ratio(u, w, tc=1.0, eps=0.0, min_norm=0.0):
    wn = max(np.linalg.norm(np.ravel(w)), min_norm)
    un = max(np.linalg.norm(np.ravel(u)), min_norm)
    if wn == 0 or un == 0:
        return 1.0
    return tc * wn / (un + eps)


def tree():
    rng = np.random.default_rng(0)
    return {"s": np.float64(-0.7), "v": rng.normal(size=4), "m": rng.normal(size=(3, 2))}


@pytest.mark.parametrize("kw", [{}, {"trust_coefficient": 0.01, "eps": 0.1}, {"min_norm": 5.0}])
def test_values_per_leaf(kw):
    w, u = tree(), jax.tree.map(lambda x: 0.3 * x + 0.1, tree())
    t = fo.scale_by_trust_ratio(**kw)
    p32 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), w)
    out, _ = t.update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), u), t.init(p32), p32)
    expected = {
        k: ref_ratio(u[k], w[k], kw.get("trust_coefficient", 1.0), kw.get("eps", 0.0), kw.get("min_norm", 0.0)) * u[k]
        for k in w
    }
    chex.assert_trees_all_close(jax.tree.map(np.asarray, out), expected, rtol=1e-5)


def test_zero_norm_fallback_and_mask():
    t = fo.scale_by_trust_ratio(mask={"a": True, "b": True, "c": False})
    p = {"a": jnp.zeros(3), "b": jnp.ones(3), "c": jnp.full(3, 10.0)}
    u = {"a": jnp.ones(3), "b": jnp.zeros(3), "c": jnp.ones(3)}
    out, _ = t.update(u, t.init(p), p)
    chex.assert_trees_all_close(out, u)  # zero param norm, zero update norm, masked


def test_needs_params_and_validation():
    t = fo.scale_by_trust_ratio()
    with pytest.raises(ValueError, match="needs params"):
        t.update(jnp.ones(2), t.init(None))
    with pytest.raises(ValueError, match="trust_coefficient"):
        fo.scale_by_trust_ratio(trust_coefficient=0.0)
    with pytest.raises(ValueError, match="min_norm"):
        fo.scale_by_trust_ratio(min_norm=-1.0)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    w, u = tree(), jax.tree.map(lambda x: -0.2 * x + 0.05, tree())
    w = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), w)
    u = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), u)
    ours = fo.scale_by_trust_ratio(min_norm=0.1, trust_coefficient=0.5, eps=1e-3)
    theirs = optax.scale_by_trust_ratio(min_norm=0.1, trust_coefficient=0.5, eps=1e-3)
    a, _ = ours.update(u, ours.init(w), w)
    b, _ = theirs.update(u, theirs.init(w), w)
    chex.assert_trees_all_close(a, b, rtol=1e-6)
