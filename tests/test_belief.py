"""AdaBelief: numpy float64 reference of the paper's Algorithm 2; optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS, EPS_ROOT = 0.05, U.B1, U.B2, 1e-16, 1e-16


@functools.cache
def ours(nesterov=False):
    return U.run_noisy(fo.adabelief(LR, b1=B1, b2=B2, nesterov=nesterov), 50)


def reference(nesterov=False):
    m, s = U.zeros(), U.zeros()

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            m[k] = B1 * m[k] + (1 - B1) * g[k]
            s[k] = B2 * s[k] + (1 - B2) * (g[k] - m[k]) ** 2 + EPS_ROOT
            if nesterov:
                m_hat = B1 * m[k] / (1 - B1 ** (t + 1)) + (1 - B1) * g[k] / (1 - B1**t)
            else:
                m_hat = m[k] / (1 - B1**t)
            p[k] = p[k] - LR * m_hat / (np.sqrt(s[k] / (1 - B2**t)) + EPS)
        return p

    return step


@pytest.mark.parametrize("nesterov", [False, True])
def test_golden(nesterov):
    U.assert_close(ours(nesterov)[:12], U.run_reference(reference(nesterov), 12))


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.adabelief(LR, b1=B1, b2=B2), 50))
    U.assert_close(ours(True), U.run_noisy(optax.adabelief(LR, b1=B1, b2=B2, nesterov=True), 50))


def test_validation():
    with pytest.raises(ValueError, match="eps_root"):
        fo.adabelief(0.1, eps_root=-1.0)
