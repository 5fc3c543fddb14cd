"""NAdam / NAdamW in both forms: numpy float64 references, torch and optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS, PSI, WD = 0.05, U.B1, U.B2, 1e-8, 0.004, 0.125


@functools.cache
def ours(form, wd=None):
    md = None if form == "optax" else PSI
    if wd is None:
        return U.run_noisy(fo.nadam(LR, b1=B1, b2=B2, momentum_decay=md), 50)
    return U.run_noisy(fo.nadamw(LR, b1=B1, b2=B2, weight_decay=wd, momentum_decay=md), 50)


def reference(form, wd=0.0):
    """optax: constant-momentum Nesterov estimate; torch: Dozat's mu_t schedule."""
    mu, nu = U.zeros(), U.zeros()
    prod = [1.0]

    def step(p, g, t):
        p = dict(p)
        if form == "torch":
            mu_t = B1 * (1 - 0.5 * 0.96 ** (t * PSI))
            mu_next = B1 * (1 - 0.5 * 0.96 ** ((t + 1) * PSI))
            prod[0] *= mu_t
        for k in U.KEYS:
            mu[k] = B1 * mu[k] + (1 - B1) * g[k]
            nu[k] = B2 * nu[k] + (1 - B2) * g[k] ** 2
            den = np.sqrt(nu[k] / (1 - B2**t)) + EPS
            if form == "torch":
                d = ((1 - mu_t) / (1 - prod[0]) * g[k] + mu_next / (1 - prod[0] * mu_next) * mu[k]) / den
            else:
                d = (B1 * mu[k] / (1 - B1 ** (t + 1)) + (1 - B1) * g[k] / (1 - B1**t)) / den
            p[k] = p[k] - LR * (d + wd * p[k])
        return p

    return step


@pytest.mark.parametrize("form", ["optax", "torch"])
@pytest.mark.parametrize("wd", [None, WD])
def test_golden(form, wd):
    U.assert_close(ours(form, wd)[:12], U.run_reference(reference(form, wd or 0.0), 12))


def test_forms_differ_and_default_is_optax():
    assert np.max(np.abs(ours("optax")[11]["v"] - ours("torch")[11]["v"])) > 1e-4
    import inspect

    assert inspect.signature(fo.nadam).parameters["momentum_decay"].default is None


def test_matches_torch():
    torch = pytest.importorskip("torch")
    U.assert_close(ours("torch"), U.run_torch(lambda ps: torch.optim.NAdam(ps, lr=LR, betas=(B1, B2)), 50))
    theirs = U.run_torch(
        lambda ps: torch.optim.NAdam(ps, lr=LR, betas=(B1, B2), weight_decay=WD, decoupled_weight_decay=True), 50
    )
    U.assert_close(ours("torch", WD), theirs)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours("optax"), U.run_noisy(optax.nadam(LR, b1=B1, b2=B2), 50))
    U.assert_close(ours("optax", WD), U.run_noisy(optax.nadamw(LR, b1=B1, b2=B2, weight_decay=WD), 50))


def test_validation():
    with pytest.raises(ValueError, match="momentum_decay"):
        fo.nadam(0.1, momentum_decay=-1.0)
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_nadam(b2=1.5)
