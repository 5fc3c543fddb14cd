"""Tests for functional_opt/transforms/dadapt.py: golden trajectory vs the reference DAdaptAdam in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import STEPS, assert_traj_close, grad_np, init_params, run_golden


def ref_dadapt_adam(
    p, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, d0=1e-6, wd=0.0, bias_correction=False, growth=np.inf, steps=STEPS
):
    """facebookresearch/dadaptation ``DAdaptAdam.step`` (decouple=True), written out in float64."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    s = {k: np.zeros_like(x) for k, x in p.items()}
    d, nw, q = d0, 0.0, np.sqrt(b2)
    out, ds = [], []
    for k in range(steps):
        g = grad_np(p, k)
        bc = np.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if bias_correction else 1.0
        dlr = d * lr * bc
        acc, l1 = 0.0, 0.0
        for n in p:
            acc += dlr * np.dot(g[n].ravel(), (s[n] / (np.sqrt(v[n]) + eps)).ravel())
            m[n] = b1 * m[n] + dlr * (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] ** 2
            s[n] = q * s[n] + dlr * (1 - q) * g[n]
            l1 += np.abs(s[n]).sum()
        nw = q * nw + (1 - q) * acc
        if l1 > 0 and lr > 0:
            d = max(d, min(nw / ((1 - q) * l1), d * growth))
        p = dict(p)
        for n in p:
            p[n] = p[n] - wd * dlr * p[n] - m[n] / (np.sqrt(v[n]) + eps)
        out.append(p)
        ds.append(d)
    return out, ds


@pytest.mark.parametrize(
    "kw, ref_kw",
    [
        (dict(bias_correction=False), {}),
        (
            dict(bias_correction=True, weight_decay=0.05, betas=(0.8, 0.99), growth_rate=2.0, learning_rate=0.7),
            dict(bias_correction=True, wd=0.05, b1=0.8, b2=0.99, growth=2.0, lr=0.7),
        ),
    ],
)
def test_golden_reference(kw, ref_kw):
    p0 = init_params()
    with jax.enable_x64(True):
        traj, state = run_golden(fo.dadapt_adamw(**kw), p0, dtype=jnp.float64)
        d = float(state[0].estim_lr)
    ref, ds = ref_dadapt_adam(p0, **ref_kw)
    assert_traj_close(traj, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(d, ds[-1], rtol=1e-7)
    assert ds[-1] > 10 * 1e-6  # d adapted


def test_zero_gradient_keeps_d_and_validation():
    opt = fo.dadapt_adamw()
    x = jnp.ones(3)
    u, s = opt.update(jnp.zeros(3), opt.init(x), x)
    assert float(s[0].estim_lr) == pytest.approx(1e-6) and np.all(np.isfinite(np.asarray(u)))
    with pytest.raises(ValueError, match="betas"):
        fo.dadapt_adamw(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        fo.dadapt_adamw(weight_decay=-1.0)
