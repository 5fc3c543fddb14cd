"""Clipping transforms against numpy float64 formulas, optax, and structural checks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(0)


def tree(scale=1.0):
    return {
        "s": np.float32(scale * 0.7),
        "v": (scale * RNG.normal(size=3)).astype(np.float32),
        "m": (scale * RNG.normal(size=(2, 3))).astype(np.float32),
    }


def to_jax(t):
    return jax.tree.map(jnp.asarray, t)


def np_global_clip(g, max_norm):
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(g)]
    n = np.sqrt(sum(np.sum(x * x) for x in leaves))
    f = 1.0 if n <= max_norm else max_norm / n
    return jax.tree.map(lambda x: np.asarray(x, np.float64) * f, g)


@pytest.mark.parametrize("max_norm", [0.5, 1.0, 100.0])
def test_clip_by_global_norm_values(max_norm):
    t = fo.clip_by_global_norm(max_norm)
    update = jax.jit(t.update)
    state = t.init(None)
    for step in range(10):
        g = tree(scale=0.2 * (step + 1))
        u, state = update(to_jax(g), state)
        chex.assert_trees_all_close(u, np_global_clip(g, max_norm), rtol=1e-6, atol=1e-7)
        n = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(u)))
        assert n <= max_norm * (1 + 1e-6)


def test_clip_by_global_norm_zero_safe_and_dtype():
    t = fo.clip_by_global_norm(0.0)
    zeros = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2), jnp.bfloat16)}
    u, _ = jax.jit(t.update)(zeros, t.init(None))
    chex.assert_trees_all_equal(u, zeros)
    chex.assert_trees_all_equal_shapes_and_dtypes(u, zeros)
    # max_norm = 0 with a nonzero gradient gives exact zeros, not NaN
    u, _ = t.update({"a": jnp.ones(3)}, t.init(None))
    chex.assert_trees_all_equal(u, {"a": jnp.zeros(3)})
    # zero norm with a positive max_norm is unchanged
    u, _ = fo.clip_by_global_norm(1.0).update(zeros, fo.EmptyState())
    chex.assert_trees_all_equal(u, zeros)
    # bf16 updates stay bf16; the norm is accumulated in float32
    g16 = {"a": jnp.full(4, 3.0, jnp.bfloat16)}
    u16, _ = fo.clip_by_global_norm(1.0).update(g16, fo.EmptyState())
    assert u16["a"].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u16["a"], np.float32), 0.5, rtol=1e-2)


def test_clip_by_global_norm_none_leaves_and_vmap():
    g = {"a": jnp.array([3.0, 4.0]), "frozen": None}
    u, _ = fo.clip_by_global_norm(1.0).update(g, fo.EmptyState())
    assert u["frozen"] is None
    np.testing.assert_allclose(u["a"], [0.6, 0.8], rtol=1e-6)
    max_norms = jnp.array([1.0, 2.5, 10.0])
    batched = jax.vmap(lambda m: fo.clip_by_global_norm(m).update(g["a"], fo.EmptyState())[0])(max_norms)
    np.testing.assert_allclose(batched, [[0.6, 0.8], [1.5, 2.0], [3.0, 4.0]], rtol=1e-6)


def _add_depth(jaxpr) -> int:
    """Longest chain of scalar ``add`` equations in a jaxpr (the reduction's depth)."""
    depth = {}
    best = 0
    for eqn in jaxpr.eqns:
        d_in = max([depth.get(v, 0) for v in eqn.invars if not hasattr(v, "val")] or [0])
        d = d_in + (1 if eqn.primitive.name == "add" and eqn.outvars[0].aval.shape == () else 0)
        for v in eqn.outvars:
            depth[v] = d
        best = max(best, d)
    return best


def test_clip_by_global_norm_reduction_is_balanced():
    t = fo.clip_by_global_norm(1.0)
    for n in (64, 1024):
        g = [jnp.ones(2) for _ in range(n)]
        jaxpr = jax.make_jaxpr(lambda g: t.update(g, fo.EmptyState())[0])(g).jaxpr
        depth = _add_depth(jaxpr)
        assert np.log2(n) <= depth <= np.ceil(np.log2(n)) + 2, (n, depth)  # a left fold would be n - 1


def test_clip_values():
    t = fo.clip(0.5)
    g = tree(2.0)
    u, _ = jax.jit(t.update)(to_jax(g), t.init(None))
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: np.clip(x, -0.5, 0.5), g))
    u, _ = t.update({"a": jnp.array([1.0, -1.0], jnp.bfloat16)}, fo.EmptyState())
    assert u["a"].dtype == jnp.bfloat16


def test_clip_by_block_rms_values():
    t = fo.clip_by_block_rms(0.4)
    for scale in (0.1, 1.0, 5.0):
        g = tree(scale)

        def ref(x):
            x = np.asarray(x, np.float64)
            r = np.sqrt(np.mean(x * x))
            return x * min(1.0, 0.4 / r)

        u, _ = t.update(to_jax(g), t.init(None))
        chex.assert_trees_all_close(u, jax.tree.map(ref, g), rtol=1e-6, atol=1e-7)
    u, _ = fo.clip_by_block_rms(0.0).update({"z": jnp.zeros(3), "o": jnp.ones(2)}, fo.EmptyState())
    chex.assert_trees_all_equal(u, {"z": jnp.zeros(3), "o": jnp.zeros(2)})


def np_unitwise_norm(x):
    x = np.asarray(x, np.float64)
    if x.ndim <= 1:
        return np.full(x.shape, np.sqrt(np.sum(x * x)))
    if x.ndim in (2, 3):
        return np.broadcast_to(np.sqrt(np.sum(x * x, axis=0, keepdims=True)), x.shape)
    return np.broadcast_to(np.sqrt(np.sum(x * x, axis=(0, 1, 2), keepdims=True)), x.shape)


def test_adaptive_grad_clip_values():
    clipping, eps = 0.05, 1e-3
    params = {**tree(), "k": RNG.normal(size=(2, 2, 3, 4)).astype(np.float32), "z": np.zeros(3, np.float32)}
    t = fo.adaptive_grad_clip(clipping, eps)
    update = jax.jit(t.update)
    for step in range(10):
        size = 0.02 * (step + 1)
        g = jax.tree.map(lambda p, size=size: (size * RNG.normal(size=np.shape(p))).astype(np.float32), params)

        def ref(g, p):
            gn, pn = np_unitwise_norm(g), np_unitwise_norm(p)
            mx = clipping * np.maximum(pn, eps)
            return np.where(gn <= mx, g, g * mx / gn)

        u, _ = update(to_jax(g), fo.EmptyState(), to_jax(params))
        chex.assert_trees_all_close(u, jax.tree.map(ref, g, params), rtol=2e-6, atol=1e-8)
    with pytest.raises(ValueError, match="needs params"):
        t.update(to_jax(params), fo.EmptyState())


def test_clip_by_per_example_global_norm_values():
    b, clip = 5, 1.0
    g = {"v": RNG.normal(size=(b, 3)).astype(np.float32), "m": RNG.normal(size=(b, 2, 2)).astype(np.float32)}
    t = fo.clip_by_per_example_global_norm(clip)
    u, _ = t.update(to_jax(g), t.init(None))
    norms = np.sqrt(sum(np.sum(np.asarray(x, np.float64).reshape(b, -1) ** 2, axis=1) for x in g.values()))
    f = np.minimum(1.0, clip / norms)
    ref = {k: np.tensordot(f, np.asarray(x, np.float64), axes=1) / b for k, x in g.items()}
    chex.assert_trees_all_close(u, ref, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="leading batch axis"):
        t.update({"a": jnp.ones((2, 3)), "b": jnp.ones((3, 3))}, fo.EmptyState())


@pytest.mark.parametrize(
    "make,arg",
    [
        (fo.clip, "max_delta"),
        (fo.clip_by_global_norm, "max_norm"),
        (fo.clip_by_block_rms, "threshold"),
        (fo.adaptive_grad_clip, "clipping"),
        (fo.clip_by_per_example_global_norm, "l2_norm_clip"),
        (lambda c: fo.per_example_global_norm_clip([jnp.ones((2, 3))], c), "l2_norm_clip"),
        (lambda c: fo.per_example_layer_norm_clip([jnp.ones((2, 3))], c), "global_l2_norm_clip"),
    ],
)
def test_bad_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make(-1.0)
    with pytest.raises(TypeError, match=arg):
        make("1.0")


def test_against_optax():
    optax = pytest.importorskip("optax")
    params = to_jax({**tree(), "k": RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)})
    pairs = [
        (fo.clip_by_global_norm(0.8), optax.clip_by_global_norm(0.8)),
        (fo.clip(0.3), optax.clip(0.3)),
        (fo.clip_by_block_rms(0.5), optax.clip_by_block_rms(0.5)),
        (fo.adaptive_grad_clip(0.02), optax.adaptive_grad_clip(0.02)),
    ]
    g = jax.tree.map(lambda p: jnp.asarray(RNG.normal(size=p.shape), jnp.float32), params)
    for ours, theirs in pairs:  # every pair clips some of these leaves
        u1, _ = ours.update(g, ours.init(params), params)
        u2, _ = theirs.update(g, theirs.init(params), params)
        chex.assert_trees_all_close(u1, u2, rtol=2e-6, atol=1e-7)
    per_ex = {"v": jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32)}
    u1, _ = fo.clip_by_per_example_global_norm(1.5).update(per_ex, fo.EmptyState())
    u2, _ = optax.per_example_global_norm_clip(jax.tree.leaves(per_ex), 1.5)
    np.testing.assert_allclose(u1["v"] * 4, u2[0], rtol=1e-6)


def test_property_global_norm_clip_is_a_radial_projection():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    clip_fn = jax.jit(lambda g, m: fo.clip_by_global_norm(m).update(g, fo.EmptyState())[0])

    @hypothesis.settings(max_examples=25, deadline=None)
    @hypothesis.given(
        seed=st.integers(0, 2**31 - 1),
        scale=st.floats(1e-3, 1e3),
        max_norm=st.floats(0.0, 10.0),
    )
    def check(seed, scale, max_norm):
        rng = np.random.default_rng(seed)
        g = {
            "s": np.float32(scale * rng.normal()),
            "v": (scale * rng.normal(size=3)).astype(np.float32),
            "m": (scale * rng.normal(size=(2, 3))).astype(np.float32),
        }
        u = clip_fn(to_jax(g), jnp.float32(max_norm))
        n_in = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in g.values()))
        n_out = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(u)))
        np.testing.assert_allclose(n_out, min(n_in, np.float32(max_norm)), rtol=1e-5, atol=1e-30)
        if n_out > 0:  # same direction
            for k in g:
                np.testing.assert_allclose(np.asarray(u[k]) * n_in / n_out, g[k], rtol=1e-4, atol=1e-6 * scale)

    check()


def test_per_leaf_clips_refuse_flat_buffers():
    flat = fo.flat.flatten_params({"a": jnp.ones(3), "b": jnp.ones((2, 2))})
    for t in (fo.clip_by_block_rms(1.0), fo.adaptive_grad_clip(0.1), fo.clip_by_per_example_global_norm(1.0)):
        with pytest.raises(ValueError, match="flat buffers"):
            t.update(flat, t.init(flat), flat)
    # the global norm is unchanged by the zero padding: clip_by_global_norm runs on buckets
    u, _ = fo.clip_by_global_norm(1.0).update(flat, fo.EmptyState())
    np.testing.assert_allclose(fo.global_norm(u), 1.0, rtol=1e-6)


def test_per_example_clip_functions_match_numpy_and_optax():
    b, clip = 6, 1.2
    g = [RNG.normal(size=(b, 3)).astype(np.float32), RNG.normal(size=(b, 2, 5)).astype(np.float32)]
    g[0][0] = 0.0
    g[1][0] = 0.0  # a zero example: never clipped, no 0/0
    s, n = fo.per_example_global_norm_clip(to_jax(g), clip)
    norms = np.sqrt(sum(np.sum(np.asarray(x, np.float64).reshape(b, -1) ** 2, axis=1) for x in g))
    f = np.minimum(1.0, clip / np.where(norms > 0, norms, 1.0))
    for si, gi in zip(s, g):
        np.testing.assert_allclose(si, np.tensordot(f, np.asarray(gi, np.float64), axes=1), rtol=1e-5, atol=1e-6)
    assert n.dtype == jnp.int32 and int(n) == int(np.sum(norms > clip))
    for uniform in (True, False):
        sums, counts = fo.per_example_layer_norm_clip(to_jax(g), clip, uniform=uniform)
        sizes = [x[0].size for x in g]
        for si, ni, gi, d in zip(sums, counts, g, sizes):
            c = clip / np.sqrt(len(g)) if uniform else clip * np.sqrt(d / sum(sizes))
            nk = np.sqrt(np.sum(np.asarray(gi, np.float64).reshape(b, -1) ** 2, axis=1))
            fk = np.minimum(1.0, c / np.where(nk > 0, nk, 1.0))
            np.testing.assert_allclose(si, np.tensordot(fk, np.asarray(gi, np.float64), axes=1), rtol=1e-5, atol=1e-6)
            assert int(ni) == int(np.sum(nk > c))
    ints = [jnp.array([[0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]  # integer gradients are accepted (as optax)
    s_int, n_int = fo.per_example_global_norm_clip(ints, 1.25)
    np.testing.assert_allclose(s_int[0], [1.75, 1.75, 1.75], rtol=1e-6)
    assert int(n_int) == 3
    optax = pytest.importorskip("optax")
    chex.assert_trees_all_close(
        fo.per_example_global_norm_clip(to_jax(g), clip),
        optax.per_example_global_norm_clip(to_jax(g), clip),
        rtol=1e-5,
        atol=1e-6,
    )
    for uniform in (True, False):
        chex.assert_trees_all_close(
            fo.per_example_layer_norm_clip(to_jax(g), clip, uniform),
            optax.per_example_layer_norm_clip(to_jax(g), clip, uniform),
            rtol=1e-5,
            atol=1e-6,
        )


def test_adaptive_grad_clip_axis_and_unitwise_helpers():
    p = jnp.asarray(RNG.normal(size=(3, 4, 2)), jnp.float32)
    g = jnp.asarray(5 * RNG.normal(size=(3, 4, 2)), jnp.float32)
    axis = (1, 2)
    pn = np.sqrt(np.sum(np.asarray(p, np.float64) ** 2, axis=axis, keepdims=True))
    gn = np.sqrt(np.sum(np.asarray(g, np.float64) ** 2, axis=axis, keepdims=True))
    mx = 0.1 * np.maximum(pn, 1e-3)
    want = np.where(gn <= mx, g, g * mx / gn)
    t = fo.adaptive_grad_clip(0.1, axis=axis)
    np.testing.assert_allclose(t.update(g, t.init(p), p)[0], want, rtol=1e-5)
    np.testing.assert_allclose(fo.unitwise_norm(g, axis=axis), np.broadcast_to(gn, g.shape), rtol=1e-6)
    un = fo.unitwise_norm(g, axis)
    np.testing.assert_allclose(
        fo.unitwise_clip(un, jnp.full(g.shape, 1.0), g), np.where(un < 1.0, g, g / un), rtol=1e-6
    )
    with pytest.raises(ValueError, match="axis"):
        fo.unitwise_norm(jnp.ones((1, 2, 1, 2, 1, 2)))
    optax = pytest.importorskip("optax")
    ref = optax.adaptive_grad_clip(0.1, axis=axis)
    np.testing.assert_allclose(t.update(g, t.init(p), p)[0], ref.update(g, ref.init(p), p)[0], rtol=1e-6)
    for x in (g, g[0], g[0, 0], jnp.ones((2, 2, 2, 3))):
        np.testing.assert_allclose(fo.unitwise_norm(x), optax.transforms.unitwise_norm(x), rtol=1e-6)
