"""Tests for functional_opt/optimizers/memory_light.py: adafactor, and adam with a bf16 first moment."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import STEPS, assert_traj_close, grad_np, init_params, run_golden


def rms(x):
    return np.sqrt(np.mean(np.square(x)))


def ref_adafactor(
    p,
    lr=None,
    relative_step=False,
    param_scale=True,
    d=1.0,
    momentum=None,
    wd=None,
    decay_rate=0.8,
    eps1=1e-30,
    eps2=1e-3,
    steps=STEPS,
):
    """Shazeer & Stern Alg. 4/5 (every matrix factored), plus optax's optional extras."""
    R, C, V, M = {}, {}, {}, {}
    out = []
    for k_step in range(steps):
        t = k_step + 1
        g = grad_np(p, k_step)
        b2 = 1 - t ** (-decay_rate)
        p = dict(p)
        for k, x in p.items():
            g2 = g[k] ** 2 + eps1
            if np.ndim(x) == 2:
                R[k] = b2 * R.get(k, 0.0) + (1 - b2) * g2.sum(1)
                C[k] = b2 * C.get(k, 0.0) + (1 - b2) * g2.sum(0)
                vhat = np.outer(R[k], C[k]) / R[k].sum()
            else:
                V[k] = b2 * V.get(k, 0.0) + (1 - b2) * g2
                vhat = V[k]
            u = g[k] / np.sqrt(vhat)
            if d is not None:
                u = u / max(1.0, rms(u) / d)
            alpha = 1.0 if lr is None else lr
            if relative_step:
                alpha *= min(1e-2, 1 / np.sqrt(t))
            if param_scale:
                alpha *= max(eps2, rms(x))
            u = alpha * u
            if momentum is not None:
                M[k] = momentum * M.get(k, 0.0) + (1 - momentum) * u
                u = M[k]
            if wd is not None:
                u = u + wd * x
            p[k] = x - u
        out.append(p)
    return out


def test_adafactor_paper_golden():
    p0 = init_params()
    traj, state = run_golden(fo.adafactor(relative_step=True, min_dim_size_to_factor=1), p0)
    assert_traj_close(traj, ref_adafactor(p0, relative_step=True))
    # 3 x 2 matrix: 3 + 2 numbers; v_row averages over the largest axis (optax naming)
    assert state[0].v_row["m"].shape == (2,) and state[0].v_col["m"].shape == (3,)


def test_adafactor_options_golden():
    p0 = init_params()
    opt = fo.adafactor(
        0.05,
        min_dim_size_to_factor=2,
        multiply_by_parameter_scale=False,
        clipping_threshold=1.5,
        momentum=0.8,
        weight_decay_rate=0.01,
    )
    traj, _ = run_golden(opt, p0)
    assert_traj_close(traj, ref_adafactor(p0, lr=0.05, param_scale=False, d=1.5, momentum=0.8, wd=0.01))


@pytest.mark.parametrize(
    "kw",
    [
        dict(learning_rate=0.1, min_dim_size_to_factor=2),
        dict(
            learning_rate=0.05,
            min_dim_size_to_factor=2,
            momentum=0.9,
            weight_decay_rate=1e-3,
            clipping_threshold=None,
            decay_offset=2,
        ),
        dict(learning_rate=0.02, factored=False, multiply_by_parameter_scale=False),
    ],
)
def test_adafactor_matches_optax(kw):
    optax = pytest.importorskip("optax")
    p0 = init_params()
    a, _ = run_golden(fo.adafactor(**kw), p0)
    b, _ = run_golden(optax.adafactor(**kw), p0)
    assert_traj_close(a, b, rtol=1e-5, atol=1e-6)


def test_adafactor_validation():
    with pytest.raises(ValueError, match="clipping_threshold"):
        fo.adafactor(clipping_threshold=0.5)
    with pytest.raises(ValueError, match="momentum"):
        fo.adafactor(momentum=2.0)
    with pytest.raises(ValueError, match="needs params"):
        opt = fo.adafactor()
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


def test_adam_bf16_mu_tracks_float32():
    p0 = init_params()
    steps = 30
    traj16, state16 = run_golden(fo.adam(1e-2, mu_dtype=jnp.bfloat16), p0, steps)
    traj32, state32 = run_golden(fo.adam(1e-2), p0, steps)
    mu, nu = state16[0].mu, state16[0].nu
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(mu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nu))
    # mu itself agrees with float32 Adam's to bf16 precision (8 bits of mantissa)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x.astype(jnp.float32), mu), state32[0].mu, rtol=2e-2, atol=1e-3)
    # and the trajectory stays close: the step is lr * O(1), the relative error ~ 2**-8
    for a, b in zip(traj16, traj32):
        chex.assert_trees_all_close(a, b, atol=2e-3)
    moved = max(np.max(np.abs(traj32[-1][k] - p0[k])) for k in p0)
    assert moved > 0.1  # the check is meaningful: parameters travelled far more than atol
