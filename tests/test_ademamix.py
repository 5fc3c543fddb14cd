"""AdEMAMix against the paper's Algorithm 1 in numpy float64, its warmup schedules, and optax."""

import math

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


def np_ademamix(gs, b1, b2, b3_of, alpha_of, eps=1e-8):
    m1 = m2 = nu = 0.0
    out = []
    for c, g in enumerate(gs):
        g = np.asarray(g, np.float64)
        t = c + 1
        b3, alpha = b3_of(c), alpha_of(c)
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3 * m2 + (1 - b3) * g
        nu = b2 * nu + (1 - b2) * g**2
        out.append((m1 / (1 - b1**t) + alpha * m2) / (np.sqrt(nu / (1 - b2**t)) + eps))
    return out


def np_alpha_sched(alpha, T):
    return lambda c: min(c * alpha / T, alpha)


def np_b3_sched(b3, T, bs):
    def f(c):
        x = min(c / T, 1.0)
        return min(math.exp(math.log(bs) * math.log(b3) / ((1 - x) * math.log(b3) + x * math.log(bs))), b3)

    return f


@pytest.mark.parametrize("scheduled", [False, True])
def test_scale_by_ademamix_matches_paper(scheduled):
    gs = grads_seq()
    if scheduled:
        t = fo.scale_by_ademamix(0.9, 0.999, fo.ademamix_b3_schedule(0.999, 8, 0.9), fo.ademamix_alpha_schedule(5.0, 8))
        b3_of, alpha_of = np_b3_sched(0.999, 8, 0.9), np_alpha_sched(5.0, 8)
    else:
        t = fo.scale_by_ademamix(0.9, 0.999, 0.99, 4.0)
        b3_of, alpha_of = (lambda c: 0.99), (lambda c: 4.0)
    ours = run(t, None, gs).updates
    for k in ("s", "v", "m"):
        ref = np_ademamix([g[k] for g in gs], 0.9, 0.999, b3_of, alpha_of)
        for i in range(STEPS):
            np.testing.assert_allclose(ours[i][k], ref[i], rtol=1e-4, atol=1e-6, err_msg=f"{k} {i}")


def test_schedules_match_paper_formulas():
    fa, fb = fo.ademamix_alpha_schedule(8.0, 10), fo.ademamix_b3_schedule(0.9999, 10, 0.9)
    na, nb = np_alpha_sched(8.0, 10), np_b3_sched(0.9999, 10, 0.9)
    for c in (0, 1, 3, 7, 10, 50):
        assert abs(float(fa(c)) - na(c)) < 1e-5
        assert abs(float(fb(c)) - nb(c)) < 1e-6


def test_ademamix_matches_optax():
    contrib = pytest.importorskip("optax.contrib")
    gs = grads_seq(1)
    p = jax.tree.map(lambda x: jnp.ones(np.shape(x)), gs[0])
    ours, ref = fo.ademamix(0.01, weight_decay=0.1), contrib.ademamix(0.01, weight_decay=0.1)
    so, sr = ours.init(p), ref.init(p)
    so_step, sr_step = jax.jit(ours.update), jax.jit(ref.update)
    for g in gs:
        g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g)
        uo, so = so_step(g, so, p)
        ur, sr = sr_step(g, sr, p)
        chex.assert_trees_all_close(uo, ur, rtol=2e-4, atol=1e-7)


def test_ademamix_validation():
    with pytest.raises(ValueError, match="alpha"):
        fo.scale_by_ademamix(alpha=-1.0)
    with pytest.raises(ValueError, match="warmup"):
        fo.ademamix_alpha_schedule(5.0, 0)


def test_complex_params_second_moment_is_real():
    t = fo.scale_by_ademamix(alpha=0.0, eps=0.0)
    s = t.init(jnp.zeros(2, jnp.complex64))
    assert s.nu.dtype == jnp.float32 and s.m2.dtype == jnp.complex64
    g = jnp.array([3 + 4j, 1j], jnp.complex64)
    u, s = t.update(g, s)
    assert u.dtype == jnp.complex64 and s.nu.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(u), np.asarray(g) / np.abs(np.asarray(g)), rtol=1e-5)


def test_defaults_follow_optax():
    """optax's transform defaults alpha to 6.0, its optimizer to 5.0; the same values with defaults."""
    import inspect

    assert inspect.signature(fo.scale_by_ademamix).parameters["alpha"].default == 6.0
    assert inspect.signature(fo.ademamix).parameters["alpha"].default == 5.0
    contrib = pytest.importorskip("optax.contrib")
    rng = np.random.default_rng(12)
    p = jnp.zeros(4)
    for ours, ref in ((fo.scale_by_ademamix(), contrib.scale_by_ademamix()), (fo.ademamix(0.1), contrib.ademamix(0.1))):
        so, sr = ours.init(p), ref.init(p)
        for _ in range(2):
            g = jnp.asarray(rng.normal(size=4), jnp.float32)
            uo, so = ours.update(g, so, p)
            ur, sr = ref.update(g, sr, p)
            np.testing.assert_allclose(uo, ur, rtol=1e-5, atol=1e-7)
