"""Small transforms ported from optax: constraints, centralize, stddev, param-block scaling, scale_gradient,
flatten, selective_transform, and optax's state-type names (each against numpy and optax)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(1)
P = {
    "w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32),
    "k": jnp.asarray(RNG.normal(size=(2, 2, 3)), jnp.float32),
    "b": jnp.asarray(RNG.normal(size=2), jnp.float32),
}
GS = [jax.tree.map(lambda x: jnp.asarray(RNG.normal(size=x.shape), jnp.float32), P) for _ in range(3)]


def _np(tree):
    return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def _run(t, grads=GS, params=P):
    s = t.init(params)
    out = []
    step = jax.jit(t.update)
    for g in grads:
        u, s = step(g, s, params)
        out.append(u)
    return out, s


def test_keep_params_nonnegative_numpy_and_optax():
    optax = pytest.importorskip("optax")
    p = jax.tree.map(jnp.abs, P)
    t = fo.keep_params_nonnegative()
    for g in GS:
        u, s = t.update(g, t.init(p), p)
        ref = jax.tree.map(lambda q, v: np.where(q + v < 0, -q, v), _np(p), _np(g))
        chex.assert_trees_all_close(u, ref, rtol=1e-6)
        chex.assert_trees_all_close(u, optax.keep_params_nonnegative().update(g, optax.EmptyState(), p)[0])
        assert all(bool(jnp.all(x >= 0)) for x in jax.tree.leaves(fo.apply_updates(p, u)))
    assert isinstance(s, fo.NonNegativeParamsState)
    with pytest.raises(ValueError, match="keep_params_nonnegative needs params"):
        t.update(GS[0], s)


def test_zero_nans_numpy_and_optax():
    optax = pytest.importorskip("optax")
    g = {"w": GS[0]["w"].at[1, 0].set(jnp.nan), "k": GS[0]["k"].at[0, 0, 0].set(jnp.inf), "b": GS[0]["b"]}
    u, s = fo.zero_nans().update(g, fo.zero_nans().init(P))
    ou, os_ = optax.zero_nans().update(g, optax.zero_nans().init(P))
    chex.assert_trees_all_equal(u, ou)
    chex.assert_trees_all_equal(s.found_nan, os_.found_nan)
    assert bool(s.found_nan["w"]) and not bool(s.found_nan["k"]) and float(u["w"][1, 0]) == 0.0
    assert np.isinf(float(u["k"][0, 0, 0]))  # infinities pass
    assert type(s)._fields == type(os_)._fields == ("found_nan",)


def test_centralize_numpy_and_optax():
    optax = pytest.importorskip("optax")
    u, _ = fo.centralize().update(GS[0], fo.EmptyState())
    ref = {
        k: (v - v.mean(axis=tuple(range(1, v.ndim)), keepdims=True)) if v.ndim > 1 else v for k, v in _np(GS[0]).items()
    }
    chex.assert_trees_all_close(u, ref, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(u, optax.centralize().update(GS[0], optax.EmptyState())[0], rtol=1e-6)


@pytest.mark.parametrize("bias_correction, eps_in_sqrt", [(False, True), (True, False)])
def test_scale_by_stddev_numpy_and_optax(bias_correction, eps_in_sqrt):
    optax = pytest.importorskip("optax")
    kw = dict(decay=0.8, eps=1e-3, initial_scale=0.5, eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction)
    ours, s = _run(fo.scale_by_stddev(**kw))
    theirs, ts = _run(optax.scale_by_stddev(**kw))
    for a, b in zip(ours, theirs):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-6)
    chex.assert_trees_all_close((s.mu, s.nu), (ts.mu, ts.nu), rtol=1e-5)
    assert s.count.dtype == jnp.int32 and int(s.count) == 3
    # numpy float64 reference
    mu = {k: np.zeros(v.shape) for k, v in P.items()}
    nu = {k: np.full(v.shape, 0.5) for k, v in P.items()}
    for t, (g, u) in enumerate(zip(_np(GS), ours), start=1):
        for k in g:
            mu[k] = 0.8 * mu[k] + 0.2 * g[k]
            nu[k] = 0.8 * nu[k] + 0.2 * g[k] ** 2
            c = 1 / (1 - 0.8**t) if bias_correction else 1.0
            var = nu[k] * c - (mu[k] * c) ** 2
            den = np.sqrt(var + 1e-3) if eps_in_sqrt else np.sqrt(var) + 1e-3
            np.testing.assert_allclose(np.asarray(u[k]), g[k] / den, rtol=2e-5)


@pytest.mark.parametrize("which", ["norm", "rms"])
def test_scale_by_param_block_numpy_and_optax(which):
    optax = pytest.importorskip("optax")
    name = f"scale_by_param_block_{which}"
    p = dict(P, z=jnp.zeros(3))
    g = dict(GS[0], z=jnp.ones(3))
    u, _ = getattr(fo, name)(min_scale=1e-2).update(g, fo.EmptyState(), p)
    size = (lambda x: np.linalg.norm(x.ravel())) if which == "norm" else (lambda x: np.sqrt(np.mean(x**2)))
    ref = {k: _np(g)[k] * max(size(v), 1e-2) for k, v in _np(p).items()}
    chex.assert_trees_all_close(u, ref, rtol=1e-5)
    chex.assert_trees_all_close(u, getattr(optax, name)(1e-2).update(g, optax.EmptyState(), p)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="min_scale"):
        getattr(fo, name)(-1.0)
    with pytest.raises(ValueError, match=f"{name} needs params"):
        getattr(fo, name)().update(g, fo.EmptyState())
    flat = fo.flat.flatten_params(p)  # a per-leaf rule refuses flat buckets
    with pytest.raises(ValueError, match="per-leaf"):
        getattr(fo, name)().update(flat, fo.EmptyState(), flat)


def test_scale_gradient_forward_identity_backward_scaled():
    optax = pytest.importorskip("optax")
    x = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}

    def loss(x, scale, f):
        y = f(x, scale)
        return jnp.sum(y["a"] ** 2) + 3 * jnp.sum(y["b"])

    for scale in (0.0, 1.0, -0.5, jnp.asarray(2.0)):
        chex.assert_trees_all_equal(fo.scale_gradient(x, scale), x)
        g = jax.grad(loss)(x, scale, fo.scale_gradient)
        ref = {"a": float(scale) * 2 * np.arange(3.0), "b": float(scale) * 3 * np.ones((2, 2))}
        chex.assert_trees_all_close(g, ref)
        chex.assert_trees_all_close(g, jax.grad(loss)(x, scale, optax.scale_gradient))
    g = jax.jit(jax.grad(loss), static_argnums=2)(x, jnp.asarray(0.25), fo.scale_gradient)  # traced scale
    chex.assert_trees_all_close(g["b"], 0.75 * np.ones((2, 2)))
    with pytest.raises(TypeError, match="scale"):
        fo.scale_gradient(x, "big")


def test_flatten_runs_inner_on_one_vector_like_optax():
    optax = pytest.importorskip("optax")
    ours, s = _run(fo.flatten(fo.adam(0.1)))
    theirs, _ = _run(optax.transforms.flatten(optax.adam(0.1)))
    plain, _ = _run(fo.adam(0.1))  # elementwise: the same as on the tree
    for a, b, c in zip(ours, theirs, plain):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-7)
        chex.assert_trees_all_close(a, c, rtol=1e-6)
    assert s[0].mu.shape == (sum(x.size for x in jax.tree.leaves(P)),)
    # a per-leaf rule sees the whole vector: one global trust ratio (numpy)
    u, _ = fo.flatten(fo.scale_by_param_block_norm()).update(GS[0], fo.flatten(fo.identity()).init(P), P)
    total = np.sqrt(sum(np.sum(v**2) for v in _np(P).values()))
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: x * total, _np(GS[0])), rtol=1e-5)


def test_selective_transform_like_optax():
    optax = pytest.importorskip("optax")
    mask = {"w": True, "k": False, "b": False}
    ours, s = _run(fo.selective_transform(fo.adam(0.1), freeze_mask=mask))
    theirs, _ = _run(optax.transforms.selective_transform(optax.adam(0.1), freeze_mask=mask))
    for a, b in zip(ours, theirs):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-7)
        assert not np.any(np.asarray(a["w"]))
    assert set(s.inner_states) == {"train", "freeze"}
    everything, _ = _run(fo.selective_transform(fo.sgd(1.0), freeze_mask=True), grads=GS[:1])
    assert not any(np.any(np.asarray(x)) for x in jax.tree.leaves(everything))
    with pytest.raises(TypeError, match="freeze_mask"):
        fo.selective_transform(fo.sgd(1.0), freeze_mask={"w": "yes"})


def test_optax_state_names_are_what_update_returns():
    optax = pytest.importorskip("optax")
    cases = [
        (fo.clip(1.0), "ClipState"),
        (fo.clip_by_global_norm(1.0), "ClipByGlobalNormState"),
        (fo.adaptive_grad_clip(0.1), "AdaptiveGradClipState"),
        (fo.scale(2.0), "ScaleState"),
        (fo.scale_by_trust_ratio(), "ScaleByTrustRatioState"),
        (fo.keep_params_nonnegative(), "NonNegativeParamsState"),
        (fo.multi_transform({"a": fo.sgd(1.0)}, {"w": "a", "k": "a", "b": "a"}), "MultiTransformState"),
        (fo.zero_nans(), "ZeroNansState"),
        (fo.conditionally_mask(fo.sgd(1.0), lambda step: True), "ConditionallyMaskState"),
        (fo.conditionally_transform(fo.sgd(1.0), lambda step: True), "ConditionallyTransformState"),
    ]
    p = jax.tree.map(jnp.abs, P)
    for t, name in cases:
        _, s = t.update(GS[0], t.init(p), p)
        assert isinstance(s, getattr(fo, name)), name
        assert getattr(fo, name)._fields == getattr(optax, name)._fields, name
    assert fo.ScaleByRStdDevState._fields == optax._src.transform.ScaleByRStdDevWithCountState._fields


def test_normalize_by_update_norm_matches_the_formula_and_optax():
    import optax as _optax

    g = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([[1.0, 2.0]])}
    norm = np.sqrt(9 + 16 + 1 + 4)
    for scale_factor, eps in [(1.0, 1e-6), (-2.5, 0.1)]:
        t = fo.normalize_by_update_norm(scale_factor=scale_factor, eps=eps)
        u, s = t.update(g, t.init(g))
        for k in g:
            np.testing.assert_allclose(u[k], scale_factor * np.asarray(g[k], np.float64) / (norm + eps), rtol=1e-6)
        ref, _ = _optax.normalize_by_update_norm(scale_factor, eps).update(g, _optax.EmptyState())
        chex.assert_trees_all_close(u, ref, rtol=1e-6)
    zero = {"a": jnp.zeros(2)}
    assert float(jnp.abs(fo.normalize_by_update_norm().update(zero, fo.EmptyState())[0]["a"]).max()) == 0.0
    with pytest.raises(ValueError, match="eps"):
        fo.normalize_by_update_norm(eps=-1.0)
