"""Private pytree math: zeros, casts, moving averages, norms, unzip."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from functional_opt import _tree, _hparams


def test_zeros_like_on_arrays_and_shape_dtype_structs():
    tree = {"a": jnp.ones((2, 3), jnp.bfloat16), "b": None, "c": jax.ShapeDtypeStruct((4,), jnp.float16)}
    z = _tree.zeros_like(tree)
    assert z["b"] is None
    assert z["a"].dtype == jnp.bfloat16 and z["a"].shape == (2, 3)
    assert z["c"].dtype == jnp.float16 and z["c"].shape == (4,)
    assert _tree.zeros_like(tree, jnp.float32)["a"].dtype == jnp.float32


def test_ema_leaf_matches_formula_and_keeps_moment_dtype():
    m = jnp.array([1.0, -2.0], jnp.bfloat16)
    g = jnp.array([3.0, 4.0], jnp.float32)
    out = _tree.ema_leaf(m, g, _hparams.one_minus(0.9, None))
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), 0.9 * np.array([1.0, -2.0]) + 0.1 * np.array([3.0, 4.0]),
                               rtol=1e-2)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 1001])
def test_global_norm_balanced_sum(n):
    rng = np.random.default_rng(n)
    leaves = [rng.normal(size=(i % 3 + 1,)) for i in range(n)]
    tree = [jnp.asarray(x, jnp.float32) for x in leaves]
    ref = np.sqrt(sum(float(np.sum(x ** 2)) for x in leaves))
    np.testing.assert_allclose(float(_tree.global_norm(tree)), ref, rtol=1e-5)


def test_unzip_and_abs_sq():
    tree = {"a": jnp.ones(2), "b": (jnp.zeros(1), None)}
    treedef = jax.tree.structure(tree)
    pairs = jax.tree.map(lambda x: (x + 1, x * 2), tree)
    one, two = _tree.unzip(pairs, treedef, 2)
    chex.assert_trees_all_close(one, jax.tree.map(lambda x: x + 1, tree))
    chex.assert_trees_all_close(two, jax.tree.map(lambda x: x * 2, tree))
    assert _tree.unzip({}, jax.tree.structure({}), 3) == ({}, {}, {})
    np.testing.assert_allclose(np.asarray(_tree.abs_sq(jnp.array([3 + 4j]))), [25.0])


def test_bias_correction_tree():
    m = {"a": jnp.full(2, 0.1)}
    out = _tree.bias_correction(m, _hparams.log_of(0.9, None), jnp.asarray(1, jnp.int32))
    np.testing.assert_allclose(np.asarray(out["a"]), 1.0, rtol=1e-6)
    # decay 0 means no correction at all
    out0 = _tree.bias_correction(m, _hparams.log_of(0.0, None), jnp.asarray(1, jnp.int32))
    np.testing.assert_allclose(np.asarray(out0["a"]), 0.1, rtol=1e-6)
