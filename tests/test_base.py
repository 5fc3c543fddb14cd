"""GradientTransformation, chain, identity, stateless, apply_updates."""

import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo


def test_named_tuple_fields_in_order():
    t = fo.identity()
    assert isinstance(t, tuple) and t._fields == ("init", "update")
    init, update = t
    assert init is t.init and update is t.update


def test_identity_and_chain_with_identity_is_noop():
    p = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    g = jax.tree.map(lambda x: x * 0.5 - 0.1, p)
    adam = fo.adam(0.1)
    c = fo.chain(adam, fo.identity())
    u1, s1 = adam.update(g, adam.init(p), p)
    u2, s2 = c.update(g, c.init(p), p)
    chex.assert_trees_all_close(u1, u2)
    chex.assert_trees_all_close(s1, s2[0])
    assert s2[1] == fo.EmptyState()


def test_chain_applies_left_to_right_and_is_associative():
    p = jnp.ones(3)
    g = jnp.array([1.0, -2.0, 3.0])
    a, b, c = fo.scale(2.0), fo.trace(0.5), fo.scale_by_learning_rate(0.1)
    left = fo.chain(fo.chain(a, b), c)
    right = fo.chain(a, fo.chain(b, c))
    sl, sr = left.init(p), right.init(p)
    for _ in range(3):
        ul, sl = left.update(g, sl, p)
        ur, sr = right.update(g, sr, p)
        chex.assert_trees_all_close(ul, ur)
    # scale(2) then lr 0.1 with sign flip: first update is -0.2 * g
    u, _ = left.update(g, left.init(p), p)
    chex.assert_trees_all_close(u, -0.2 * g)


def test_chain_passes_extra_args_and_rejects_foreign_state():
    seen = {}

    def init(params):
        return fo.EmptyState()

    def update(updates, state, params=None, **extra):
        seen.update(extra)
        return updates, state

    c = fo.chain(fo.GradientTransformation(init, update), fo.sgd(0.1))
    c.update(jnp.ones(2), c.init(jnp.ones(2)), value=jnp.asarray(3.0))
    assert "value" in seen
    with pytest.raises(ValueError, match="state"):
        c.update(jnp.ones(2), fo.adam(0.1).init(jnp.ones(2))[0])
    with pytest.raises(TypeError, match="chain argument 1"):
        fo.chain(fo.identity(), "not a transform")


def test_stateless():
    t = fo.stateless(lambda u, p: jax.tree.map(lambda x, y: x + y, u, p))
    u, s = t.update(jnp.ones(2), t.init(None), jnp.full(2, 2.0))
    chex.assert_trees_all_close(u, jnp.full(2, 3.0))
    with pytest.raises(TypeError, match="f must be"):
        fo.stateless(3)


def test_apply_updates_keeps_dtype_and_none():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": None, "c": jnp.ones(2, jnp.float16), "d": jnp.ones(1)}
    updates = {
        "a": jnp.full(2, 1e-3, jnp.float32),
        "b": None,
        "c": jnp.full(2, 0.5, jnp.float32),
        "d": jnp.full(1, 0.25),
    }
    new = fo.apply_updates(params, updates)
    assert new["b"] is None
    assert new["a"].dtype == jnp.bfloat16 and new["c"].dtype == jnp.float16 and new["d"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(new["c"], np.float32), 1.5)
    np.testing.assert_allclose(np.asarray(new["d"]), 1.25)


def test_apply_updates_structure_mismatch_raises():
    with pytest.raises((ValueError, TypeError)):
        fo.apply_updates({"a": jnp.ones(2)}, {"b": jnp.ones(2)})


def test_package_ships_py_typed_and_imports_no_private_jax():
    root = pathlib.Path(fo.__file__).parent
    assert (root / "py.typed").is_file()  # PEP 561 marker (package-data in pyproject.toml)
    private = [str(f.relative_to(root)) for f in root.rglob("*.py") if "jax._src" in f.read_text()]
    assert not private, f"private jax imports in {private}"


def test_optax_base_names_and_helpers():
    for name in ("Params", "Updates", "OptState", "Schedule", "ScalarOrSchedule", "MaskOrFn", "TransformInitFn"):
        assert hasattr(fo, name), name
    assert fo.init_empty_state({"w": jnp.ones(2)}) == fo.EmptyState()
    assert issubclass(fo.GradientTransformationExtraArgs, fo.GradientTransformation)
    t = fo.stateless_with_tree_map(lambda u, p: u * 2 if p is None else u + p)
    u = {"a": jnp.ones(2), "b": jnp.full(3, 2.0)}
    chex.assert_trees_all_close(t.update(u, t.init(None))[0], jax.tree.map(lambda x: 2 * x, u))
    chex.assert_trees_all_close(t.update(u, t.init(None), u)[0], jax.tree.map(lambda x: 2 * x, u))
    np.testing.assert_allclose(fo.global_norm(updates={"a": jnp.full(4, 0.5)}), 1.0)
    optax = pytest.importorskip("optax")
    ref = optax.stateless_with_tree_map(lambda u, p: u * 2 if p is None else u + p)
    chex.assert_trees_all_close(t.update(u, t.init(u), u)[0], ref.update(u, ref.init(u), u)[0])
    np.testing.assert_allclose(fo.global_norm(updates=u), optax.tree.norm(u), rtol=1e-6)
    assert isinstance(fo.identity(), optax.GradientTransformationExtraArgs)
