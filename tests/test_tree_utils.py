"""fo.tree_utils / fo.tree: tree math against numpy float64 and optax on random trees; state lookups on our states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

tu = fo.tree_utils
RNG = np.random.default_rng(0)


def _tree(dtype=np.float32):
    return {
        "a": jnp.asarray(RNG.normal(size=(3, 2)).astype(dtype)),
        "b": [jnp.asarray(RNG.normal(size=(4,)).astype(dtype)), jnp.asarray(np.asarray(RNG.normal(), dtype))],
    }


def _flat64(tree):
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(tree)])


X, Y, Z = _tree(), _tree(), _tree()


def _close(got, want, rtol=1e-6, atol=1e-6):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64), rtol=rtol, atol=atol)


def test_arithmetic_against_numpy():
    fx, fy, fz = _flat64(X), _flat64(Y), _flat64(Z)
    np.testing.assert_allclose(_flat64(tu.tree_add(X, Y, Z)), fx + fy + fz, rtol=1e-6)
    np.testing.assert_allclose(_flat64(tu.tree_sub(X, Y)), fx - fy, rtol=1e-6)
    np.testing.assert_allclose(_flat64(tu.tree_mul(X, Y)), fx * fy, rtol=1e-6)
    np.testing.assert_allclose(_flat64(tu.tree_div(X, Y)), fx / fy, rtol=1e-5)
    np.testing.assert_allclose(_flat64(tu.tree_scale(-0.5, X)), -0.5 * fx, rtol=1e-6)
    np.testing.assert_allclose(_flat64(tu.tree_add_scale(X, 0.3, Y)), fx + 0.3 * fy, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_flat64(tu.tree_clip(X, -0.5, 0.2)), np.clip(fx, -0.5, 0.2))
    np.testing.assert_allclose(_flat64(tu.tree_where(False, X, Y)), fy)
    assert jax.tree.structure(tu.tree_add(X, Y)) == jax.tree.structure(X)


def test_reductions_against_numpy():
    fx, fy = _flat64(X), _flat64(Y)
    np.testing.assert_allclose(tu.tree_vdot(X, Y), fx @ fy, rtol=1e-5)
    np.testing.assert_allclose(tu.tree_sum(X), fx.sum(), rtol=1e-5, atol=1e-6)
    assert float(tu.tree_max(X)) == fx.max() and float(tu.tree_min(X)) == fx.min()
    np.testing.assert_allclose(tu.tree_norm(X), np.linalg.norm(fx), rtol=1e-6)
    np.testing.assert_allclose(tu.tree_norm(X, squared=True), fx @ fx, rtol=1e-6)
    np.testing.assert_allclose(tu.tree_norm(X, ord=1), np.abs(fx).sum(), rtol=1e-6)
    np.testing.assert_allclose(tu.tree_norm(X, ord="inf"), np.abs(fx).max())
    np.testing.assert_allclose(tu.tree_norm(X, ord=jnp.inf, squared=True), np.abs(fx).max() ** 2, rtol=1e-6)
    assert tu.tree_size(X) == fx.size == 11
    assert bool(tu.tree_allclose(X, tu.tree_add_scale(X, 1e-9, Y))) and not bool(tu.tree_allclose(X, Y))
    with pytest.raises(ValueError, match="ord"):
        tu.tree_norm(X, ord=3)


def test_complex_vdot_conj_real_norm():
    a = {"z": jnp.asarray(RNG.normal(size=3) + 1j * RNG.normal(size=3), jnp.complex64)}
    b = {"z": jnp.asarray(RNG.normal(size=3) + 1j * RNG.normal(size=3), jnp.complex64)}
    za, zb = np.asarray(a["z"], np.complex128), np.asarray(b["z"], np.complex128)
    np.testing.assert_allclose(tu.tree_vdot(a, b), np.vdot(za, zb), rtol=1e-5)
    np.testing.assert_allclose(tu.tree_norm(a), np.linalg.norm(za), rtol=1e-6)
    np.testing.assert_allclose(tu.tree_conj(a)["z"], za.conj(), rtol=1e-6)
    np.testing.assert_allclose(tu.tree_real(a)["z"], za.real, rtol=1e-6)


def test_moments_against_numpy():
    fx, fy = _flat64(X), _flat64(Y)
    np.testing.assert_allclose(
        _flat64(tu.tree_update_moment(X, Y, 0.9, 2)), 0.1 * fx**2 + 0.9 * fy, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        _flat64(tu.tree_update_infinity_moment(X, Y, 0.9, 1e-3)), np.maximum(np.abs(fx) + 1e-3, 0.9 * fy), rtol=1e-6
    )
    np.testing.assert_allclose(
        _flat64(tu.tree_update_moment_per_elem_norm(X, Y, 0.5, 3)), 0.5 * fx**3 + 0.5 * fy, rtol=1e-5, atol=1e-7
    )
    z = jnp.asarray([3 + 4j, 1 - 1j], jnp.complex64)
    got = tu.tree_update_moment_per_elem_norm(z, jnp.zeros(2), 0.5, 3)
    np.testing.assert_allclose(got, 0.5 * np.abs(np.asarray(z, np.complex128)) ** 3, rtol=1e-6)
    for t in (1, 2, 10, 1000):  # bias correction: m / (1 - b^t), float64 reference
        np.testing.assert_allclose(_flat64(tu.tree_bias_correction(X, 0.999, t)), fx / (1 - 0.999**t), rtol=2e-6)
    assert tu.tree_update_moment({"a": None, "b": jnp.ones(1)}, {"a": None, "b": jnp.ones(1)}, 0.5, 2)["a"] is None


def test_against_optax_on_random_trees():
    optax = pytest.importorskip("optax")
    ot = optax.tree_utils
    cases = [  # (the arithmetic is checked against numpy above; here dtypes, structures, draws)
        ("tree_add", (X, Y, Z)),
        ("tree_vdot", (X, Y)),
        ("tree_norm", (X,)),
        ("tree_batch_shape", (X, (2, 3))),
        ("tree_update_moment_per_elem_norm", (X, Y, 0.9, 2)),
        ("tree_bias_correction", (X, 0.9, 3)),
        ("tree_ones_like", (X, jnp.int32)),
        ("tree_cast", (X, jnp.bfloat16)),
        ("tree_random_like", (jax.random.key(3), X)),
    ]
    for name, args in cases:
        got, want = getattr(tu, name)(*args), getattr(ot, name)(*args)
        assert jax.tree.structure(got) == jax.tree.structure(want), name
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert jnp.shape(g) == jnp.shape(w) and jnp.result_type(g) == jnp.result_type(w), name
        _close(got, want, rtol=2e-6, atol=1e-6)
    for handler in (None, "promote", "highest", "lowest"):
        mixed = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(1, jnp.float32)} if handler else X
        assert tu.tree_dtype(mixed, handler) == ot.tree_dtype(mixed, handler)
    keys = tu.tree_split_key_like(jax.random.key(1), X)
    np.testing.assert_array_equal(
        _flat64(tu.tree_unwrap_random_key_data(keys)),
        _flat64(ot.tree_unwrap_random_key_data(ot.tree_split_key_like(jax.random.key(1), X))),
    )


def test_dtype_errors_and_casts():
    with pytest.raises(ValueError, match=r"\['b'\]"):
        tu.tree_dtype({"a": jnp.ones(1), "b": jnp.ones(1, jnp.int32)})
    with pytest.raises(ValueError, match="promote"):
        tu.tree_dtype({"a": jnp.ones(1, jnp.bfloat16), "b": jnp.ones(1, jnp.float16)}, "highest")
    cast = tu.tree_cast_like(X, tu.tree_cast(X, jnp.float16))
    assert {x.dtype for x in jax.tree.leaves(cast)} == {jnp.dtype(jnp.float16)}


def test_zeros_like_keeps_structure_none_and_abstract_leaves():
    tree = {"w": jnp.ones((2, 3)), "frozen": None, "s": jax.ShapeDtypeStruct((4,), jnp.bfloat16)}
    z = tu.tree_zeros_like(tree)
    assert z["frozen"] is None and z["s"].dtype == jnp.bfloat16 and float(jnp.abs(z["w"]).sum()) == 0


def test_tree_namespace_is_the_same_functions():
    assert fo.tree.add is tu.tree_add and fo.tree.get is tu.tree_get and fo.tree.zeros_like is tu.tree_zeros_like
    optax = pytest.importorskip("optax")
    assert {n for n in dir(optax.tree) if not n.startswith("_")} <= set(fo.tree.__all__)


# --- state utilities on this library's states ---

P = {"w": jnp.ones(3)}


def test_get_on_chain_and_ambiguity_like_optax():
    state = fo.chain(fo.add_noise(1.0, 0.9, key=0), fo.scale_by_adam()).init(P)
    found = tu.tree_get_all_with_path(state, "count")
    assert [jax.tree_util.keystr(p) for p, _ in found] == ["[0]AddNoiseState.count", "[1]ScaleByAdamState.count"]
    assert isinstance(found[0][0][-1], tu.NamedTupleKey)
    with pytest.raises(KeyError, match="multiple values"):
        tu.tree_get(state, "count")
    adam_count = tu.tree_get(state, "count", filtering=lambda p, v: p[-1].tuple_name == "ScaleByAdamState")
    assert int(adam_count) == 0
    assert tu.tree_get(state, "ScaleByAdamState") is state[1]
    assert tu.tree_get(state, "nothing_here", default=7) == 7
    optax = pytest.importorskip("optax")
    ostate = optax.chain(optax.add_noise(1.0, 0.9, key=0), optax.scale_by_adam()).init(P)
    theirs = optax.tree_utils.tree_get_all_with_path(ostate, "count")
    assert [jax.tree_util.keystr(p) for p, _ in theirs] == [jax.tree_util.keystr(p) for p, _ in found]


def test_get_and_set_learning_rate_of_inject_hyperparams():
    opt = fo.inject_hyperparams(fo.adam)(learning_rate=0.1)
    state = opt.init(P)
    assert float(tu.tree_get(state, "learning_rate")) == pytest.approx(0.1)
    new = tu.tree_set(state, learning_rate=jnp.asarray(0.5))
    assert float(tu.tree_get(new, "learning_rate")) == 0.5 and type(new) is type(state)
    u, _ = opt.update({"w": jnp.ones(3)}, new, P)  # the state still works, with the new rate
    np.testing.assert_allclose(u["w"], -0.5 * np.ones(3), rtol=1e-5)
    with pytest.raises(KeyError, match="no values"):
        tu.tree_set(state, not_a_field=1.0)
    mon = fo.monitor(fo.inject_hyperparams(fo.sgd)(learning_rate=0.2)).init(P)
    assert float(tu.tree_get(mon, "learning_rate")) == pytest.approx(0.2)
    assert tu.tree_get(mon, "grad_norm", filtering=lambda p, v: "leaf" not in jax.tree_util.keystr(p)).shape == ()


def test_set_by_state_name_and_filtering():
    state = fo.chain(fo.scale_by_adam(), fo.trace(0.9)).init(P)
    new = tu.tree_set(state, lambda p, v: p[-1].tuple_name == "ScaleByAdamState", count=jnp.asarray(5, jnp.int32))
    assert int(new[0].count) == 5 and int(new[1].count if hasattr(new[1], "count") else 0) == 0
    fresh = fo.scale_by_adam().init(P)._replace(count=jnp.asarray(9, jnp.int32))
    swapped = tu.tree_set(state, ScaleByAdamState=fresh)
    assert swapped[0] is fresh


def test_map_params_like_optax():
    opt = fo.adam(1e-3)
    state = opt.init(P)
    specs = tu.tree_map_params(opt, lambda p: ("spec", p.shape), state, transform_non_params=lambda _: None)
    adam_state = specs[0]
    assert adam_state.mu == {"w": ("spec", (3,))} and adam_state.nu == {"w": ("spec", (3,))}
    assert adam_state.count is None
    doubled = tu.tree_map_params(opt.init, lambda p, q: p + q, state, {"w": jnp.ones(3)})
    np.testing.assert_array_equal(doubled[0].mu["w"], np.ones(3))
