"""Tests for functional_opt/transforms/prodigy.py: golden trajectory vs the reference algorithm in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import STEPS, assert_traj_close, grad_np, init_params, run_golden


def ref_prodigy(
    p,
    lr=1.0,
    b1=0.9,
    b2=0.999,
    b3=None,
    eps=1e-8,
    d0=1e-6,
    d_coef=1.0,
    wd=0.0,
    safeguard=False,
    bias_correction=False,
    growth=np.inf,
    steps=STEPS,
):
    """konstmish/prodigy ``Prodigy.step`` (decoupled decay), written out in float64."""
    b3 = np.sqrt(b2) if b3 is None else b3
    p0 = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    d, d_max, num = d0, d0, 0.0
    out, ds = [], []
    for k in range(steps):
        g = grad_np(p, k)
        bc = np.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if bias_correction else 1.0
        dlr = d * lr * bc
        num *= b3
        den = 0.0
        for n in p:
            num += (d / d0) * dlr * np.dot(g[n].ravel(), (p0[n] - p[n]).ravel())
            m[n] = b1 * m[n] + d * (1 - b1) * g[n]
            v2[n] = b2 * v2[n] + d * d * (1 - b2) * g[n] ** 2
            s[n] = b3 * s[n] + ((d / d0) * (d if safeguard else dlr)) * g[n]
            den += np.abs(s[n]).sum()
        if den > 0 and lr > 0:
            d_hat = d_coef * num / den
            if d == d0:
                d = max(d, d_hat)
            d_max = max(d_max, d_hat)
            d = min(d_max, d * growth)
        p = dict(p)
        for n in p:
            denom = np.sqrt(v2[n]) + d * eps
            p[n] = p[n] - wd * dlr * p[n] - dlr * m[n] / denom
        out.append(p)
        ds.append(d)
    return out, ds


@pytest.mark.parametrize(
    "kw, ref_kw",
    [
        (dict(bias_correction=False), {}),
        (
            dict(bias_correction=True, weight_decay=0.05, estim_lr_coef=0.5, beta3=0.9),
            dict(bias_correction=True, wd=0.05, d_coef=0.5, b3=0.9),
        ),
        (
            dict(bias_correction=False, growth_rate=1.5, safeguard_warmup=True, estim_lr0=1e-3, learning_rate=0.5),
            dict(growth=1.5, safeguard=True, d0=1e-3),
        ),
    ],
)
def test_golden_reference(kw, ref_kw):
    # d is a running max of a ratio: float32 rounding is amplified along the
    # trajectory, so the rule is checked in float64 (agreement ~1e-12 per step)
    p0 = init_params()
    kw = dict(kw)
    lr = kw.pop("learning_rate", 1.0)
    with jax.enable_x64(True):
        traj, state = run_golden(fo.prodigy(lr, **kw), p0, dtype=jnp.float64)
        d = float(state[0].estim_lr)
    ref, ds = ref_prodigy(p0, lr=lr, **ref_kw)
    assert_traj_close(traj, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(d, ds[-1], rtol=1e-7)
    assert ds[-1] > 5 * ref_kw.get("d0", 1e-6)  # d adapted


def test_float32_tracks_float64():
    p0 = init_params()
    traj, state = run_golden(fo.prodigy(bias_correction=True, weight_decay=0.01), p0, steps=8)
    ref, ds = ref_prodigy(p0, bias_correction=True, wd=0.01, steps=8)
    assert_traj_close(traj, ref, rtol=1e-4, atol=1e-5)


def test_zero_gradient_keeps_d_and_validation():
    opt = fo.prodigy()
    x = jnp.ones(3)
    u, s = opt.update(jnp.zeros(3), opt.init(x), x)
    assert float(s[0].estim_lr) == pytest.approx(1e-6) and np.all(np.isfinite(np.asarray(u)))
    with pytest.raises(ValueError, match="estim_lr0"):
        fo.prodigy(estim_lr0=0.0)
    with pytest.raises(ValueError, match="growth_rate"):
        fo.prodigy(growth_rate=0.5)
    with pytest.raises(TypeError, match="betas"):
        fo.prodigy(betas=0.9)
    with pytest.raises(ValueError, match="needs params"):
        opt.update(jnp.ones(3), opt.init(x))
