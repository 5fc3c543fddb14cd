"""Adadelta: numpy float64 reference of Zeiler's Algorithm 1; descent; torch and optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

RHO, EPS = 0.9, 1e-6


@functools.cache
def ours(lr=1.0, wd=0.0):
    return U.run_noisy(fo.adadelta(lr, rho=RHO, eps=EPS, weight_decay=wd), 50)


def reference(lr=1.0, wd=0.0):
    e_g, e_x = U.zeros(), U.zeros()

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            gk = g[k] + wd * p[k]
            e_g[k] = RHO * e_g[k] + (1 - RHO) * gk**2
            dx = -np.sqrt(e_x[k] + EPS) / np.sqrt(e_g[k] + EPS) * gk
            e_x[k] = RHO * e_x[k] + (1 - RHO) * dx**2
            p[k] = p[k] + lr * dx
        return p

    return step


@pytest.mark.parametrize("lr,wd", [(1.0, 0.0), (0.5, 0.25)])
def test_golden(lr, wd):
    U.assert_close(ours(lr, wd)[:12], U.run_reference(reference(lr, wd), 12))


def test_default_learning_rate_descends():
    import inspect

    assert inspect.signature(fo.adadelta).parameters["learning_rate"].default == 1.0
    start = U.loss(U.params0())
    assert U.loss(U.run_noisy(fo.adadelta(), 200, noise=0.0)[-1]) < start
    # the first step moves every entry against the gradient
    first = ours()[0]
    g0 = U.grad(U.params0(), 0)
    for k in U.KEYS:
        assert np.all(np.sign(first[k] - U.params0()[k]) == -np.sign(g0[k]))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    U.assert_close(ours(), U.run_torch(lambda ps: torch.optim.Adadelta(ps), 50))
    U.assert_close(ours(0.5, 0.25), U.run_torch(lambda ps: torch.optim.Adadelta(ps, lr=0.5, weight_decay=0.25), 50))


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.adadelta(1.0, rho=RHO, eps=EPS), 50))


def test_validation():
    with pytest.raises(ValueError, match="eps"):
        fo.adadelta(eps=0.0)
    with pytest.raises(ValueError, match="rho"):
        fo.scale_by_adadelta(rho=1.5)
