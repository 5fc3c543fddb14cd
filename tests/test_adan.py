"""Adan against the paper / official rule in numpy float64, and optax's b2-term bug pinned."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import run

STEPS = 12


def grads_seq(seed=0):
    rng = np.random.default_rng(seed)
    return [{"s": rng.normal(), "v": rng.normal(size=3), "m": rng.normal(size=(2, 3))} for _ in range(STEPS)]


def np_adan(gs, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, diff_coef=None):
    """Algorithm 1 of Xie et al. in decay form; ``diff_coef`` defaults to the paper's 1 - beta2 = b2."""
    c = b2 if diff_coef is None else diff_coef
    m = v = n = prev = None
    out = []
    for t, g in enumerate(gs, start=1):
        g = np.asarray(g, np.float64)
        if m is None:
            m, v, n, prev = np.zeros_like(g), np.zeros_like(g), np.zeros_like(g), g
        d = g - prev
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * d
        n = b3 * n + (1 - b3) * (g + c * d) ** 2
        u = (m / (1 - b1**t) + c * v / (1 - b2**t)) / (np.sqrt(n / (1 - b3**t)) + eps)
        out.append(u)
        prev = g
    return out


@pytest.mark.parametrize("b1,b2,b3", [(0.98, 0.92, 0.99), (0.9, 0.5, 0.999)])
def test_scale_by_adan_matches_paper(b1, b2, b3):
    gs = grads_seq()
    ours = run(fo.scale_by_adan(b1, b2, b3), None, gs).updates
    for k in ("s", "v", "m"):
        ref = np_adan([g[k] for g in gs], b1, b2, b3)
        for i in range(STEPS):
            np.testing.assert_allclose(ours[i][k], ref[i], rtol=2e-5, atol=1e-6, err_msg=f"{k} step {i}")


def test_optax_b2_bug_not_copied():
    """optax uses ``1 - b2`` (0.08) where the paper has ``1 - beta2`` = ``b2`` (0.92)."""
    gs = grads_seq(1)
    ours = run(fo.scale_by_adan(), None, gs).updates
    ref_paper = np_adan([g["m"] for g in gs])
    ref_bug = np_adan([g["m"] for g in gs], diff_coef=1 - 0.92)
    np.testing.assert_allclose(ours[0]["m"], ref_bug[0], rtol=1e-5)  # step 1: d = 0, no difference
    for i in range(1, STEPS):
        np.testing.assert_allclose(ours[i]["m"], ref_paper[i], rtol=2e-5, atol=1e-6)
        assert np.max(np.abs(np.asarray(ours[i]["m"]) - ref_bug[i])) > 1e-2
    optax = pytest.importorskip("optax")
    t = optax.scale_by_adan()
    s = t.init(jnp.zeros((2, 3)))
    opt_us = []
    for g in gs:
        u, s = t.update(jnp.asarray(g["m"], jnp.float32), s)
        opt_us.append(np.asarray(u))
    np.testing.assert_allclose(opt_us[0], np.asarray(ours[0]["m"]), rtol=1e-5)
    if not np.allclose(opt_us[-1], ref_paper[-1], rtol=1e-4):
        # optax still has the bug: pin what it is
        np.testing.assert_allclose(opt_us[-1], ref_bug[-1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("no_prox", [False, True])
def test_adan_weight_decay_matches_official(no_prox):
    gs = grads_seq(2)
    lr, wd = 0.05, 0.3
    p_np = {k: np.asarray(v, np.float64) + 1.0 for k, v in gs[0].items()}
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), p_np)
    opt = fo.adan(lr, weight_decay=wd, no_prox=no_prox)
    state = opt.init(params)
    step = jax.jit(opt.update)
    refs = {k: np_adan([g[k] for g in gs]) for k in p_np}
    for i, g in enumerate(gs):
        u, state = step(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state, params)
        params = fo.apply_updates(params, u)
        for k in p_np:
            if no_prox:
                p_np[k] = p_np[k] * (1 - lr * wd) - lr * refs[k][i]
            else:
                p_np[k] = (p_np[k] - lr * refs[k][i]) / (1 + lr * wd)
    chex.assert_trees_all_close(params, jax.tree.map(np.float32, p_np), rtol=1e-5, atol=1e-5)


def test_adan_validation():
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_adan(b2=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fo.adan(0.1, weight_decay=-1.0)


def test_complex_params_second_moment_is_real():
    t = fo.scale_by_adan(eps=0.0)
    s = t.init(jnp.zeros(2, jnp.complex64))
    assert s.n.dtype == jnp.float32 and s.m.dtype == jnp.complex64
    g = jnp.array([3 + 4j, 1j], jnp.complex64)
    u, s = t.update(g, s)
    assert u.dtype == jnp.complex64 and s.n.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(u), np.asarray(g) / np.abs(np.asarray(g)), rtol=1e-5)


def test_state_fields_and_defaults_follow_optax():
    import inspect

    assert fo.ScaleByAdanState._fields == ("m", "v", "n", "g", "t")
    assert inspect.signature(fo.adan).parameters["eps_root"].default == 1e-8
    assert inspect.signature(fo.scale_by_adan).parameters["eps_root"].default == 0.0
    p = jnp.ones(3)
    s = fo.scale_by_adan().init(p)
    assert s.t.dtype == jnp.int32
    g = jnp.array([0.5, -1.0, 2.0])
    _, s = fo.scale_by_adan().update(g, s)
    np.testing.assert_array_equal(s.g, g)  # the previous gradient, as optax's state.g
    assert int(s.t) == 1
    optax = pytest.importorskip("optax")
    assert optax.ScaleByAdanState._fields == fo.ScaleByAdanState._fields
    # on the first step (d = 0) the two agree whatever the difference coefficient; eps_root=1e-8 in both
    ours, ref = fo.adan(0.1), optax.adan(0.1)
    np.testing.assert_allclose(ours.update(g, ours.init(p), p)[0], ref.update(g, ref.init(p), p)[0], rtol=1e-6)
