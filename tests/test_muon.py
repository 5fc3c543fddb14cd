"""Muon against Keller Jordan's reference rule written in numpy float64, and optax.contrib.muon."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt.transforms.muon import newton_schulz

STEPS = 10
A, B, C = 3.4445, -4.7750, 2.0315


def np_ns(g, steps=5, eps=1e-7):
    x = np.asarray(g, np.float64)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        a = x @ x.T
        x = A * x + (B * a + C * a @ a) @ x
    return x.T if tall else x


def np_muon_dir(gs, beta=0.95, nesterov=True, eps=1e-7):
    """Reference muon_update for a JAX-layout (fan_in, fan_out) leaf."""
    shape = np.shape(gs[0])
    mu = np.zeros(shape)
    out = []
    for g in gs:
        g = np.asarray(g, np.float64)
        mu = beta * mu + (1 - beta) * g
        m = beta * mu + (1 - beta) * g if nesterov else mu
        mat = m.reshape(-1, shape[-1])
        o = np_ns(mat, eps=eps) * np.sqrt(max(1.0, mat.shape[1] / mat.shape[0]))
        out.append(o.reshape(shape))
    return out


def np_adamw(gs, p0, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    p, m, v, ps = np.asarray(p0, np.float64), 0.0, 0.0, []
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * ((m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p)
        ps.append(p)
    return ps


@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (9, 2), (1, 5)])
def test_newton_schulz_matches_numpy(shape):
    g = np.random.default_rng(0).normal(size=shape)
    ours = newton_schulz(jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(ours, np_ns(g), rtol=2e-4, atol=2e-5)
    s = np.linalg.svd(np.asarray(ours, np.float64), compute_uv=False)
    assert np.all((s > 0.5) & (s < 1.3)), s  # approximately orthogonal


@pytest.mark.parametrize("nesterov", [True, False])
def test_scale_by_muon_matches_reference(nesterov):
    rng = np.random.default_rng(1)
    gs = [
        {"w": rng.normal(size=(3, 5)), "t": rng.normal(size=(6, 2)), "c": rng.normal(size=(2, 2, 3))}
        for _ in range(STEPS)
    ]
    t = fo.scale_by_muon(beta=0.9, nesterov=nesterov)
    state = t.init(jax.tree.map(lambda x: jnp.zeros(x.shape), gs[0]))
    step = jax.jit(t.update)
    refs = {k: np_muon_dir([g[k] for g in gs], beta=0.9, nesterov=nesterov) for k in gs[0]}
    for i, g in enumerate(gs):
        u, state = step(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state)
        for k in g:
            np.testing.assert_allclose(u[k], refs[k][i], rtol=5e-4, atol=5e-5, err_msg=f"{k} step {i}")


def test_muon_optimizer_matrix_to_muon_rest_to_adamw():
    rng = np.random.default_rng(2)
    gs = [{"s": rng.normal(), "v": rng.normal(size=3), "m": rng.normal(size=(4, 3))} for _ in range(STEPS)]
    p0 = {"s": 0.5, "v": np.ones(3), "m": np.ones((4, 3))}
    lr, wd, alr = 0.02, 0.1, 0.003
    opt = fo.muon(lr, weight_decay=wd, adam_learning_rate=alr, adam_weight_decay=0.01)
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), p0)
    state = opt.init(params)
    step = jax.jit(opt.update)
    mref = np_muon_dir([g["m"] for g in gs])
    pm = np.ones((4, 3))
    for i, g in enumerate(gs):
        u, state = step(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state, params)
        params = fo.apply_updates(params, u)
        pm = pm * (1 - lr * wd) - lr * mref[i]
    np.testing.assert_allclose(params["m"], pm, rtol=1e-4, atol=1e-5)
    for k in ("s", "v"):
        ref = np_adamw([np.asarray(g[k]) for g in gs], p0[k], alr, wd=0.01)[-1]
        np.testing.assert_allclose(params[k], ref, rtol=1e-5, atol=1e-6)


def test_muon_mask_and_fallback():
    p = {"emb": jnp.ones((5, 3)), "w": jnp.ones((3, 3))}
    g = {"emb": jnp.full((5, 3), 2.0), "w": jnp.eye(3)}
    opt = fo.muon(0.1, muon_mask={"emb": False, "w": True}, fallback=fo.sgd(1.0))
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(u["emb"], -2.0 * np.ones((5, 3)))  # plain sgd
    assert not np.allclose(u["w"], -np.eye(3))
    with pytest.raises(ValueError, match="ndim >= 2"):
        t = fo.scale_by_muon()
        t.update(jnp.ones(3), t.init(jnp.ones(3)))
    with pytest.raises(ValueError, match="beta"):
        fo.scale_by_muon(beta=1.0)
    with pytest.raises(ValueError, match="ns_coeffs"):
        fo.scale_by_muon(ns_coeffs=(1.0, 2.0))


def test_muon_matches_optax_without_nesterov():
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    rng = np.random.default_rng(3)
    gs = [{"v": rng.normal(size=4), "m": rng.normal(size=(3, 6))} for _ in range(STEPS)]
    params = {"v": jnp.ones(4), "m": jnp.ones((3, 6))}
    ours = fo.muon(0.02, eps=1e-8, nesterov=False)
    ref = contrib.muon(0.02, eps=1e-8, nesterov=False)
    so, sr = ours.init(params), ref.init(params)
    po, pr = params, params
    step_o, step_r = jax.jit(ours.update), jax.jit(ref.update)
    for g in gs:
        g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g)
        uo, so = step_o(g, so, po)
        ur, sr = step_r(g, sr, pr)
        po, pr = fo.apply_updates(po, uo), optax.apply_updates(pr, ur)
    chex.assert_trees_all_close(po, pr, rtol=1e-4, atol=1e-5)


def _tree_c(rng, cplx, shapes):
    dt = jnp.complex64 if cplx else jnp.float32
    out = {}
    for k, s in shapes.items():
        out[k] = jnp.asarray(rng.normal(size=s) + (1j * rng.normal(size=s) if cplx else 0), dt)
    return out


def np_ns_complex(g, steps=5, eps=1e-7):
    """The quintic iteration with the conjugate transpose, complex128."""
    x = np.asarray(g, np.complex128)
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        a = x @ x.conj().T
        x = A * x + (B * a + C * a @ a) @ x
    return x.T if tall else x


@pytest.mark.parametrize("shape", [(3, 5), (6, 2)])
def test_newton_schulz_complex_is_finite_and_matches_numpy(shape):
    rng = np.random.default_rng(4)
    g = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    ours = newton_schulz(jnp.asarray(g, jnp.complex64))
    assert ours.dtype == jnp.complex64
    np.testing.assert_allclose(ours, np_ns_complex(g), rtol=2e-4, atol=2e-5)
    s = np.linalg.svd(np.asarray(ours, np.complex128), compute_uv=False)
    assert np.all((s > 0.5) & (s < 1.3)), s


MUON_SHAPES = {"w": (4, 3), "v": (3,), "t": (2, 5)}


@pytest.mark.parametrize(
    ("cplx", "kw"),
    [
        (True, {}),
        (True, {"preconditioning": "aol", "consistent_rms": 0.2, "ns_coeffs": "dion"}),
        (False, {"adam_eps_root": 1e-3, "weight_decay": 0.1, "weight_decay_mask": {"w": False, "v": True, "t": True}}),
    ],
)
def test_muon_matches_optax_on_real_and_complex_leaves(cplx, kw):
    """Without Nesterov optax's bias correction cancels in the normalization: same updates, complex included."""
    pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    rng = np.random.default_rng(5)
    params = _tree_c(rng, cplx, MUON_SHAPES)
    ours = fo.muon(0.02, eps=1e-8, nesterov=False, **kw)
    ref = contrib.muon(0.02, eps=1e-8, nesterov=False, **kw)
    so, sr = ours.init(params), ref.init(params)
    step_o, step_r = jax.jit(ours.update), jax.jit(ref.update)
    for _ in range(2):
        g = _tree_c(rng, cplx, MUON_SHAPES)
        uo, so = step_o(g, so, params)
        ur, sr = step_r(g, sr, params)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(uo))
        chex.assert_trees_all_close(uo, ur, rtol=1e-4, atol=2e-6)


def test_muon_complex_nesterov_is_finite():
    rng = np.random.default_rng(6)
    params = _tree_c(rng, True, MUON_SHAPES)
    opt = fo.muon(0.02)
    u, _ = opt.update(_tree_c(rng, True, MUON_SHAPES), opt.init(params), params)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))


def test_muon_adaptive_is_optax_times_bias_correction():
    pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    rng = np.random.default_rng(7)
    params = _tree_c(rng, False, {"w": (4, 3), "t": (2, 5)})
    beta = 0.9
    ours = fo.scale_by_muon(beta=beta, eps=1e-8, nesterov=False, adaptive=True)
    mdn = contrib.MuonDimensionNumbers()
    ref = contrib.scale_by_muon(
        beta=beta, eps=1e-8, nesterov=False, adaptive=True, weight_dimension_numbers={"w": mdn, "t": mdn}
    )
    so, sr = ours.init(params), ref.init(params)
    for t in range(1, 4):
        g = _tree_c(rng, False, {"w": (4, 3), "t": (2, 5)})
        uo, so = ours.update(g, so)
        ur, sr = ref.update(g, sr)
        scale = {"w": 1.0, "t": np.sqrt(5 / 2)}  # optax applies the shape scale in scale_by_shape
        for k in uo:
            np.testing.assert_allclose(uo[k], ur[k] * (1 - beta**t) * scale[k], rtol=1e-4, atol=1e-6)


def test_muon_weight_dimension_numbers_match_optax():
    pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    from functional_opt.transforms.muon import MuonDimensionNumbers

    assert fo.contrib.MuonDimensionNumbers is MuonDimensionNumbers
    rng = np.random.default_rng(8)
    shapes = {"heads": (2, 4, 3), "conv": (3, 2, 2, 5), "b": (3,), "w": (4, 4)}
    params = _tree_c(rng, False, shapes)

    def dims(mdn):
        return {"heads": mdn(1, 2), "conv": mdn((0, 1, 2), 3), "b": None, "w": None}

    ours = fo.muon(0.02, eps=1e-8, nesterov=False, muon_weight_dimension_numbers=dims(MuonDimensionNumbers))
    ref = contrib.muon(0.02, eps=1e-8, nesterov=False, muon_weight_dimension_numbers=dims(contrib.MuonDimensionNumbers))
    so, sr = ours.init(params), ref.init(params)
    for _ in range(2):
        g = _tree_c(rng, False, shapes)
        uo, so = ours.update(g, so, params)
        ur, sr = ref.update(g, sr, params)
        chex.assert_trees_all_close(uo, ur, rtol=1e-4, atol=2e-6)
    # the same through a function of the params: the same state layout
    ours_fn = fo.muon(0.02, muon_weight_dimension_numbers=lambda p: dims(MuonDimensionNumbers))
    assert jax.tree.structure(ours_fn.init(params)) == jax.tree.structure(so)
    with pytest.raises(ValueError, match="not both"):
        fo.muon(0.02, muon_mask=True, muon_weight_dimension_numbers=MuonDimensionNumbers())
    with pytest.raises(ValueError, match="preconditioning"):
        fo.muon(0.02, preconditioning="qr")


def test_muon_positional_order_follows_optax():
    import inspect

    names = list(inspect.signature(fo.muon).parameters)[:8]
    assert names == [
        *("learning_rate", "ns_coeffs", "ns_steps", "beta"),
        *("eps", "weight_decay", "weight_decay_mask", "mu_dtype"),
    ]
    names = list(inspect.signature(fo.scale_by_muon).parameters)[:5]
    assert names == ["ns_coeffs", "ns_steps", "beta", "eps", "mu_dtype"]
