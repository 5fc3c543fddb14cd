"""The core transforms (scaling, momentum, rms, adam, weight_decay) against numpy float64."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import run

RNG = np.random.default_rng(1)
GRADS = [RNG.normal(size=(3, 2)) for _ in range(10)]


# every transform here sees the same ten gradients, op by op, with zero params
drive = functools.partial(run, params=jnp.zeros((3, 2)), grads=GRADS, apply=False, jit=False)


def test_scale_and_scale_by_schedule():
    _, _, out = drive(fo.scale(-3.0))
    np.testing.assert_allclose(out[4], -3.0 * GRADS[4], rtol=1e-6)
    _, s, out = drive(fo.scale_by_schedule(lambda c: 1.0 / (c + 1.0)))
    for t in range(10):
        np.testing.assert_allclose(out[t], GRADS[t] / (t + 1), rtol=1e-6)
    assert s.count.dtype == jnp.int32 and int(s.count) == 10


@pytest.mark.parametrize("nesterov", [False, True])
def test_trace(nesterov):
    _, _, out = drive(fo.trace(0.8, nesterov=nesterov))
    v = np.zeros((3, 2))
    for t, g in enumerate(GRADS):
        v = 0.8 * v + g
        np.testing.assert_allclose(out[t], 0.8 * v + g if nesterov else v, rtol=1e-5, atol=1e-6)


def test_trace_scheduled_decay_and_accumulator_dtype():
    t = fo.trace(lambda c: jnp.where(c < 5, 0.0, 0.9), accumulator_dtype=jnp.bfloat16)
    _, s, out = drive(t)
    assert s.trace.dtype == jnp.bfloat16
    np.testing.assert_allclose(out[3], GRADS[3], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("debias", [False, True])
def test_ema(debias):
    _, _, out = drive(fo.ema(0.7, debias=debias))
    m = np.zeros((3, 2))
    for t, g in enumerate(GRADS, start=1):
        m = 0.7 * m + 0.3 * g
        np.testing.assert_allclose(out[t - 1], m / (1 - 0.7**t) if debias else m, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_scale_by_rms(eps_in_sqrt, centered, bias_correction):
    eps, beta, init = 1e-3, 0.9, 0.1
    _, _, out = drive(
        fo.scale_by_rms(beta, eps, init, eps_in_sqrt=eps_in_sqrt, centered=centered, bias_correction=bias_correction)
    )
    nu = np.full((3, 2), init)
    mu = np.zeros((3, 2))
    for t, g in enumerate(GRADS, start=1):
        nu = beta * nu + (1 - beta) * g**2
        mu = beta * mu + (1 - beta) * g
        c = 1 / (1 - beta**t) if bias_correction else 1.0
        s = nu * c - (mu * c) ** 2 if centered else nu * c
        ref = g / np.sqrt(s + eps) if eps_in_sqrt else g / (np.sqrt(s) + eps)
        np.testing.assert_allclose(out[t - 1], ref, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("nesterov", [False, True])
def test_scale_by_adam(nesterov):
    b1, b2, eps, eps_root = 0.8, 0.99, 1e-6, 1e-9
    _, s, out = drive(fo.scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov))
    m = np.zeros((3, 2))
    v = np.zeros((3, 2))
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        ref = m_hat / (np.sqrt(v / (1 - b2**t) + eps_root) + eps)
        np.testing.assert_allclose(out[t - 1], ref, rtol=2e-5, atol=1e-6)
    assert int(s.count) == 10


def test_scale_by_adam_dtypes():
    p = {"w": jnp.zeros(4, jnp.bfloat16)}
    t = fo.scale_by_adam(mu_dtype=jnp.float32)
    s = t.init(p)
    assert s.mu["w"].dtype == jnp.float32 and s.nu["w"].dtype == jnp.bfloat16
    u, s = t.update({"w": jnp.full(4, 1e-3, jnp.bfloat16)}, s)
    assert u["w"].dtype == jnp.bfloat16 and s.mu["w"].dtype == jnp.float32
    # b2 = 0.999 must not round to 1 in bf16: the first step is sign(g)
    np.testing.assert_allclose(np.asarray(u["w"], np.float32), 1.0, rtol=1e-2)


def test_add_decayed_weights_mask_and_schedule():
    p = {"w": jnp.full(2, 2.0), "b": jnp.full(2, 3.0)}
    g = {"w": jnp.ones(2), "b": jnp.ones(2)}
    t = fo.add_decayed_weights(0.1, mask={"w": True, "b": False})
    u, _ = t.update(g, t.init(p), p)
    np.testing.assert_allclose(np.asarray(u["w"]), 1.2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(u["b"]), 1.0)
    t = fo.add_decayed_weights(lambda c: 0.1 * (c + 1), mask=lambda params: jax.tree.map(lambda x: True, params))
    s = t.init(p)
    _, s = t.update(g, s, p)
    u, s = t.update(g, s, p)
    np.testing.assert_allclose(np.asarray(u["b"]), 1.0 + 0.2 * 3.0, rtol=1e-6)
    with pytest.raises(ValueError, match="params"):
        t.update(g, s)


def test_complex_params_adam():
    p = jnp.zeros(2, jnp.complex64)
    t = fo.scale_by_adam(eps=0.0)
    s = t.init(p)
    assert s.nu.dtype == jnp.float32
    g = jnp.array([3 + 4j, 1j], jnp.complex64)
    u, s = t.update(g, s)
    np.testing.assert_allclose(np.asarray(u), np.asarray(g) / np.abs(np.asarray(g)), rtol=1e-5)
