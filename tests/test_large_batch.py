"""LARS and LAMB (optimizers/layerwise.py) and Lion (optimizers/lion.py).

Golden trajectories against the update rules written out in numpy float64,
and differential tests against optax (same conventions).
"""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import STEPS, assert_traj_close, grad_np, init_params, run_golden


def norm(x):
    return np.sqrt(np.sum(np.square(x)))


def ref_lars(p, lr, wd, tc, momentum, nesterov=False, paper_denominator=False, steps=STEPS):
    v = {k: np.zeros_like(x) for k, x in p.items()}
    out = []
    for t in range(steps):
        g = grad_np(p, t)
        p = dict(p)
        for k in p:
            d = g[k] + wd * p[k]
            den = norm(g[k]) + wd * norm(p[k]) if paper_denominator else norm(d)
            lam = tc * norm(p[k]) / den if norm(p[k]) > 0 and den > 0 else 1.0
            v[k] = momentum * v[k] + lr * lam * d
            step = momentum * v[k] + lr * lam * d if nesterov else v[k]
            p[k] = p[k] - step
        out.append(p)
    return out


def ref_lamb(p, lr, b1, b2, eps, wd, steps=STEPS):
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    out = []
    for t in range(1, steps + 1):
        g = grad_np(p, t - 1)
        p = dict(p)
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            r = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
            d = r + wd * p[k]
            lam = norm(p[k]) / norm(d) if norm(p[k]) > 0 and norm(d) > 0 else 1.0
            p[k] = p[k] - lr * lam * d
        out.append(p)
    return out


def ref_lion(p, lr, b1, b2, wd, steps=STEPS):
    m = {k: np.zeros_like(x) for k, x in p.items()}
    out = []
    for t in range(steps):
        g = grad_np(p, t)
        p = dict(p)
        for k in p:
            c = b1 * m[k] + (1 - b1) * g[k]
            p[k] = p[k] - lr * (np.sign(c) + wd * p[k])
            m[k] = b2 * m[k] + (1 - b2) * g[k]
        out.append(p)
    return out


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_golden_no_decay_equals_paper(nesterov):
    p0 = init_params()
    traj, _ = run_golden(fo.lars(0.5, trust_coefficient=0.02, momentum=0.9, nesterov=nesterov), p0)
    ref = ref_lars(p0, 0.5, 0.0, 0.02, 0.9, nesterov=nesterov, paper_denominator=True)
    assert_traj_close(traj, ref)


def test_lars_golden_with_decay():
    p0 = init_params()
    traj, _ = run_golden(fo.lars(0.5, weight_decay=0.1, trust_coefficient=0.02, momentum=0.8), p0)
    assert_traj_close(traj, ref_lars(p0, 0.5, 0.1, 0.02, 0.8))
    # the paper's denominator ||g|| + beta ||w|| is a different (documented) rule
    paper = ref_lars(p0, 0.5, 0.1, 0.02, 0.8, paper_denominator=True)
    assert not np.allclose(traj[-1]["m"], paper[-1]["m"], rtol=1e-4)


def test_lamb_golden():
    p0 = init_params()
    traj, _ = run_golden(fo.lamb(0.05, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1), p0)
    assert_traj_close(traj, ref_lamb(p0, 0.05, 0.8, 0.95, 1e-6, 0.1))


def test_lion_golden():
    p0 = init_params()
    traj, _ = run_golden(fo.lion(0.01, b1=0.9, b2=0.99, weight_decay=0.1), p0)
    assert_traj_close(traj, ref_lion(p0, 0.01, 0.9, 0.99, 0.1))


def test_masks():
    p = {"w": jnp.full((2, 2), 2.0), "b": jnp.ones(2)}
    g = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    opt = fo.lars(
        1.0,
        weight_decay=0.5,
        weight_decay_mask={"w": True, "b": False},
        trust_ratio_mask={"w": True, "b": False},
        momentum=0.0,
    )
    u, _ = opt.update(g, opt.init(p), p)
    chex.assert_trees_all_close(u["b"], -g["b"])  # neither decayed nor rescaled
    d = 1.0 + 0.5 * 2.0
    chex.assert_trees_all_close(u["w"], jnp.full((2, 2), -0.001 * 4.0 / (2 * d) * d))


@pytest.mark.parametrize(
    "name, ours, theirs_args",
    [
        (
            "lars",
            lambda: fo.lars(0.3, weight_decay=1e-2, trust_coefficient=0.01, nesterov=True),
            dict(learning_rate=0.3, weight_decay=1e-2, trust_coefficient=0.01, nesterov=True),
        ),
        (
            "lamb",
            lambda: fo.lamb(1e-2, b2=0.99, weight_decay=1e-2),
            dict(learning_rate=1e-2, b2=0.99, weight_decay=1e-2),
        ),
        ("lion", lambda: fo.lion(1e-2, weight_decay=1e-2), dict(learning_rate=1e-2, weight_decay=1e-2)),
    ],
)
def test_matches_optax(name, ours, theirs_args):
    optax = pytest.importorskip("optax")
    p0 = init_params()
    a, _ = run_golden(ours(), p0)
    b, _ = run_golden(getattr(optax, name)(**theirs_args), p0)
    # optax forms 1 - b2 in float32 (1e-5 relative); everything else is shared
    assert_traj_close(a, b, rtol=1e-4, atol=1e-5)
