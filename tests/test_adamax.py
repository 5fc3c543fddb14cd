"""AdaMax and AdaMaxW: numpy float64 reference, torch and optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS, WD = 0.05, U.B1, U.B2, 1e-8, 0.125


@functools.cache
def ours(wd=None):
    opt = fo.adamax(LR, b1=B1, b2=B2) if wd is None else fo.adamaxw(LR, b1=B1, b2=B2, weight_decay=wd)
    return U.run_noisy(opt, 50)


def reference(wd=0.0):
    mu, u_inf = U.zeros(), U.zeros()

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            mu[k] = B1 * mu[k] + (1 - B1) * g[k]
            u_inf[k] = np.maximum(B2 * u_inf[k], np.abs(g[k]) + EPS)
            p[k] = p[k] - LR * (mu[k] / ((1 - B1**t) * u_inf[k]) + wd * p[k])
        return p

    return step


def test_golden_adamax():
    U.assert_close(ours()[:12], U.run_reference(reference(), 12))


def test_golden_adamaxw():
    U.assert_close(ours(WD)[:12], U.run_reference(reference(WD), 12))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    U.assert_close(ours(), U.run_torch(lambda ps: torch.optim.Adamax(ps, lr=LR, betas=(B1, B2)), 50))


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.adamax(LR, b1=B1, b2=B2), 50))
    U.assert_close(ours(WD), U.run_noisy(optax.adamaxw(LR, b1=B1, b2=B2, weight_decay=WD), 50))


def test_validation():
    with pytest.raises(ValueError, match="b1"):
        fo.adamax(0.1, b1=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fo.adamaxw(0.1, weight_decay=-1.0)
