"""Tests for functional_opt/transforms/adafactor.py (scale_by_factored_rms)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import run

SHAPES = {"s": (), "v": (5,), "m": (3, 4), "t": (2, 3, 4), "small": (3, 1)}


def ref_factored(gs, decay_rate=0.8, eps=1e-30, min_dim=1, offset=0):
    """The paper's Algorithm 4 with sums (R = G2 1_m, C = 1_n^T G2, V = R C / 1^T R)."""
    state = {}
    outs = []
    for k_step, g in enumerate(gs):
        t = k_step + 1 - offset
        b2 = 1 - t ** (-decay_rate)
        out = {}
        for k, x in g.items():
            g2 = x**2 + eps
            shape = x.shape
            srt = sorted(range(len(shape)), key=lambda i: shape[i])
            if len(shape) >= 2 and shape[srt[-2]] >= min_dim:
                # move the two largest axes (second largest, largest) to the end
                y = np.moveaxis(g2, [srt[-2], srt[-1]], [-2, -1])
                R0, C0 = state.get(k, (0.0, 0.0))
                R = b2 * R0 + (1 - b2) * y.sum(-1)
                C = b2 * C0 + (1 - b2) * y.sum(-2)
                state[k] = (R, C)
                V = R[..., :, None] * C[..., None, :] / R.sum(-1)[..., None, None]
                V = np.moveaxis(V, [-2, -1], [srt[-2], srt[-1]])
            else:
                V = b2 * state.get(k, 0.0) + (1 - b2) * g2
                state[k] = V
            out[k] = x / np.sqrt(V)
        outs.append(out)
    return outs


def grads(n=11, seed=0):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(n)]


@pytest.mark.parametrize("kw", [{}, {"decay_rate": 0.5, "step_offset": -3}])
def test_golden_paper_formula(kw):
    gs = grads()
    _, state, outs = run(fo.scale_by_factored_rms(min_dim_size_to_factor=1, **kw), None, gs)
    ref = ref_factored(gs, decay_rate=kw.get("decay_rate", 0.8), offset=kw.get("step_offset", 0))
    for a, b in zip(outs, ref):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-6)
    # memory: factored leaves keep row + column statistics only
    assert state.v_row["m"].shape == (3,) and state.v_col["m"].shape == (4,)
    assert state.v_row["t"].shape == (2, 3) and state.v_col["t"].shape == (2, 4)
    assert state.v["m"].shape == (1,) and state.v["v"].shape == (5,)


def test_min_dim_and_unfactored_is_rmsprop_like():
    gs = grads(4)
    t = fo.scale_by_factored_rms(min_dim_size_to_factor=4)
    _, state, outs = run(t, None, gs)
    ref = ref_factored(gs, min_dim=4)
    for a, b in zip(outs, ref):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-6)
    assert state.v["m"].shape == (3, 4)  # 3 < 4: not factored
    assert state.v["t"].shape == (2, 3, 4)  # second largest side 3 < 4
    _, state, outs = run(fo.scale_by_factored_rms(factored=False), None, gs)
    chex.assert_trees_all_close(outs, ref_factored(gs, min_dim=10**9), rtol=2e-5, atol=1e-6)


def test_validation():
    with pytest.raises(ValueError, match="decay_rate"):
        fo.scale_by_factored_rms(decay_rate=0.0)
    with pytest.raises(ValueError, match="min_dim_size_to_factor"):
        fo.scale_by_factored_rms(min_dim_size_to_factor=0)
    with pytest.raises(ValueError, match="epsilon"):
        fo.scale_by_factored_rms(epsilon=-1.0)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    gs = grads(10)
    kw = dict(min_dim_size_to_factor=2, decay_rate=0.7)
    a = run(fo.scale_by_factored_rms(**kw), None, gs).updates
    theirs = optax.scale_by_factored_rms(**kw)
    params = jax.tree.map(lambda x: jnp.zeros(np.shape(x)), gs[0])
    s = theirs.init(params)
    theirs_update = jax.jit(theirs.update)
    for g, ours in zip(gs, a):
        u, s = theirs_update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), s, params)
        chex.assert_trees_all_close(ours, jax.tree.map(np.asarray, u), rtol=2e-5, atol=1e-6)


def test_factored_rms_decay_rate_fn_matches_optax():
    """A custom beta2 schedule (optax's decay_rate_fn), factored and unfactored leaves."""

    def fn(i, rate):
        return 0.5 + 0.4 * (1.0 - 1.0 / (i + 1.0)) * rate

    rng = np.random.default_rng(11)
    p = {"m": jnp.asarray(rng.normal(size=(4, 6)), jnp.float32), "v": jnp.asarray(rng.normal(size=3), jnp.float32)}
    t = fo.scale_by_factored_rms(decay_rate=0.9, min_dim_size_to_factor=2, decay_rate_fn=fn)
    s = t.init(p)
    v = np.zeros(3)
    for i in range(3):
        g = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), p)
        u, s = t.update(g, s, p)
        b = 0.5 + 0.4 * (1.0 - 1.0 / (i + 1.0)) * 0.9
        v = b * v + (1 - b) * (np.asarray(g["v"], np.float64) ** 2 + 1e-30)
        np.testing.assert_allclose(u["v"], np.asarray(g["v"]) / np.sqrt(v), rtol=1e-5)
    optax = pytest.importorskip("optax")
    ref = optax.scale_by_factored_rms(decay_rate=0.9, min_dim_size_to_factor=2, decay_rate_fn=fn)
    ours = fo.scale_by_factored_rms(decay_rate=0.9, min_dim_size_to_factor=2, decay_rate_fn=fn)
    so, sr = ours.init(p), ref.init(p)
    for _ in range(3):
        g = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), p)
        uo, so = ours.update(g, so, p)
        ur, sr = ref.update(g, sr, p)
        for k in p:
            np.testing.assert_allclose(uo[k], ur[k], rtol=1e-5, atol=1e-6)
