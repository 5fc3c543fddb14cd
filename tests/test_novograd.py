"""NovoGrad: numpy float64 reference of the paper's Algorithm 1; optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS = 0.05, 0.875, 0.75, 1e-6


@functools.cache
def ours(wd=0.0):
    return U.run_noisy(fo.novograd(LR, b1=B1, b2=B2, eps=EPS, weight_decay=wd), 50)


def reference(wd=0.0):
    m = U.zeros()
    v = {}

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            sq = float(np.sum(g[k] ** 2))
            v[k] = sq if t == 1 else B2 * v[k] + (1 - B2) * sq
            m[k] = B1 * m[k] + g[k] / (np.sqrt(v[k]) + EPS) + wd * p[k]
            p[k] = p[k] - LR * m[k]
        return p

    return step


@pytest.mark.parametrize("wd", [0.0, 0.125])
def test_golden(wd):
    U.assert_close(ours(wd)[:12], U.run_reference(reference(wd), 12))


def test_second_moment_is_one_scalar_per_leaf():
    params = {k: np.asarray(v, np.float32) for k, v in U.params0().items()}
    state = fo.scale_by_novograd().init(params)
    assert all(np.shape(state.nu[k]) == () for k in U.KEYS)


def test_weight_decay_needs_params():
    t = fo.scale_by_novograd(weight_decay=0.1)
    g = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="params"):
        t.update(g, t.init(g))


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.novograd(LR, b1=B1, b2=B2, eps=EPS), 50))
    U.assert_close(ours(0.125), U.run_noisy(optax.novograd(LR, b1=B1, b2=B2, eps=EPS, weight_decay=0.125), 50))
