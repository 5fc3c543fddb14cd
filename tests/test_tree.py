"""Private pytree math: zeros, casts, moving averages, norms, the lifting primitive."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from functional_opt import _hparams, _tree


def test_zeros_like_on_arrays_and_shape_dtype_structs():
    tree = {"a": jnp.ones((2, 3), jnp.bfloat16), "b": None, "c": jax.ShapeDtypeStruct((4,), jnp.float16)}
    z = _tree.zeros_like(tree)
    assert z["b"] is None
    assert z["a"].dtype == jnp.bfloat16 and z["a"].shape == (2, 3)
    assert z["c"].dtype == jnp.float16 and z["c"].shape == (4,)
    assert _tree.zeros_like(tree, jnp.float32)["a"].dtype == jnp.float32


def _ema_rule(omb):
    def leaf(g, m):
        m = _tree.ema(m, g, omb)
        return 2 * m, m

    return leaf


def test_map_moments_computes_in_f32_and_casts_back_to_stored_dtypes():
    m = {"a": jnp.array([1.0, -2.0], jnp.bfloat16), "b": None, "c": jnp.array(0.5, jnp.float32)}
    g = {"a": jnp.array([3.0, 4.0], jnp.bfloat16), "b": None, "c": jnp.array(1.0, jnp.float32)}
    u, (m_new,) = _tree.map_moments("t", _ema_rule(_hparams.one_minus(0.9, None)), g, m=m)
    assert m_new["a"].dtype == jnp.bfloat16 and u["a"].dtype == jnp.bfloat16 and u["b"] is None
    ref = 0.9 * np.array([1.0, -2.0]) + 0.1 * np.array([3.0, 4.0])
    np.testing.assert_allclose(np.asarray(m_new["a"], np.float32), ref, rtol=1e-2)
    np.testing.assert_allclose(float(m_new["c"]), 0.9 * 0.5 + 0.1, rtol=1e-7)
    np.testing.assert_allclose(float(u["c"]), 2 * (0.9 * 0.5 + 0.1), rtol=1e-7)


def test_map_moments_keeps_complex_updates_and_real_moments():
    g = jnp.array([1 + 2j, -1j], jnp.complex64)
    nu = jnp.zeros(2, jnp.float32)

    def leaf(g, nu):
        nu = _tree.ema(nu, _tree.abs_sq(g), 0.5)
        return g / jnp.sqrt(nu + 1.0), nu

    u, (nu_new,) = _tree.map_moments("t", leaf, g, nu=nu)
    assert u.dtype == jnp.complex64 and nu_new.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(nu_new), [2.5, 0.5], rtol=1e-6)


def test_map_moments_names_the_transform_and_key_path_on_mismatch():
    with pytest.raises(ValueError, match=r"my_tx: shape mismatch at key path \['w'\].*state.mu"):
        _tree.map_moments("my_tx", lambda g, mu: (g, mu), {"w": jnp.ones(1)}, mu={"w": jnp.ones(3)})
    with pytest.raises(ValueError, match="my_tx.*state.mu"):
        _tree.map_moments("my_tx", lambda g, mu: (g, mu), {"w": jnp.ones(1)}, mu={"v": jnp.ones(1)})
    with pytest.raises(TypeError, match="my_tx.*int32"):
        _tree.map_moments("my_tx", lambda g: (g,), {"w": jnp.ones(1, jnp.int32)})
    with pytest.raises(ValueError, match="my_tx needs params"):
        _tree.map_moments("my_tx", lambda g, p: (g,), {"w": jnp.ones(1)}, params=None)


def test_map_moments_mask_passes_masked_out_leaves_through():
    g = {"enc": {"w": jnp.ones(2), "b": jnp.ones(1)}, "head": jnp.ones(3)}
    p = jax.tree.map(lambda x: 10 * x, g)
    u, _ = _tree.map_moments("t", lambda g, p: (g + p,), g, params=p, mask={"enc": False, "head": True})
    np.testing.assert_array_equal(u["enc"]["w"], 1.0)
    np.testing.assert_array_equal(u["head"], 11.0)


def test_resolve_prefix_and_mask_semantics():
    params = {"enc": {"w": jnp.ones(2), "b": None}, "head": (jnp.ones(1), jnp.ones(1))}
    assert _tree.resolve_mask("t", {"enc": False, "head": True}, params) == [False, True, True]
    assert _tree.resolve_mask("t", True, params) == [True, True, True]
    assert _tree.resolve_mask("t", None, params) == [True, True, True]
    assert _tree.resolve_mask("t", lambda p: {"enc": True, "head": (False, True)}, params) == [True, False, True]
    assert _tree.resolve_prefix("t", "labels", {"enc": "a", "head": "b"}, params) == ["a", "b", "b"]
    with pytest.raises(ValueError, match="t: mask must be a tree with the structure of the params or a prefix"):
        _tree.resolve_mask("t", {"enc": True}, params)
    with pytest.raises(TypeError, match="Python bools"):
        _tree.resolve_mask("t", {"enc": 1, "head": True}, params)


def test_decay_scalars_against_float64():
    k = _tree.decay_scalars(0.999, jnp.asarray(4, jnp.int32))
    np.testing.assert_allclose(float(k.omb), 1 - 0.999, rtol=1e-7)
    np.testing.assert_allclose(float(k.c), 1 / (1 - 0.999**5), rtol=1e-6)
    np.testing.assert_allclose(float(k.c_next), 1 / (1 - 0.999**6), rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 1001])
def test_global_norm_balanced_sum(n):
    rng = np.random.default_rng(n)
    leaves = [rng.normal(size=(i % 3 + 1,)) for i in range(n)]
    tree = [jnp.asarray(x, jnp.float32) for x in leaves]
    ref = np.sqrt(sum(float(np.sum(x**2)) for x in leaves))
    np.testing.assert_allclose(float(_tree.global_norm(tree)), ref, rtol=1e-5)


def test_abs_sq_is_real_for_complex():
    np.testing.assert_allclose(np.asarray(_tree.abs_sq(jnp.array([3 + 4j]))), [25.0])
    assert _tree.abs_sq(jnp.array([3 + 4j])).dtype == jnp.float32


def test_bias_correction_factor_and_zero_decay():
    np.testing.assert_allclose(float(_tree.decay_scalars(0.9, jnp.asarray(0, jnp.int32)).c), 10.0, rtol=1e-6)
    # decay 0 means no correction at all
    np.testing.assert_allclose(float(_tree.decay_scalars(0.0, jnp.asarray(0, jnp.int32)).c), 1.0, rtol=1e-6)
