"""Adagrad: numpy float64 reference for both eps placements; torch and optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR = 0.1
TORCH = {"initial_accumulator_value": 0.0, "eps": 1e-10, "eps_in_sqrt": False}


@functools.cache
def ours(name):
    return U.run_noisy(fo.adagrad(LR, **(TORCH if name == "torch" else {})), 50)


def reference(initial_accumulator_value=0.1, eps=1e-7, eps_in_sqrt=True):
    acc = {k: np.full_like(v, initial_accumulator_value) for k, v in U.params0().items()}

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            acc[k] = acc[k] + g[k] ** 2
            den = np.sqrt(acc[k] + eps) if eps_in_sqrt else np.sqrt(acc[k]) + eps
            p[k] = p[k] - LR * g[k] / den
        return p

    return step


@pytest.mark.parametrize("name", ["optax", "torch"])
def test_golden(name):
    U.assert_close(ours(name)[:12], U.run_reference(reference(**(TORCH if name == "torch" else {})), 12))


def test_zero_gradient_gives_zero_update():
    opt = fo.adagrad(LR, initial_accumulator_value=0.0, eps=0.0)
    g = {"a": np.zeros(3, np.float32)}
    u, _ = opt.update(g, opt.init(g))
    np.testing.assert_array_equal(np.asarray(u["a"]), 0.0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    U.assert_close(ours("torch"), U.run_torch(lambda ps: torch.optim.Adagrad(ps, lr=LR), 50))


def test_torch_lr_decay_is_a_schedule():
    torch = pytest.importorskip("torch")
    theirs = U.run_torch(lambda ps: torch.optim.Adagrad(ps, lr=LR, lr_decay=0.25), 20)
    U.assert_close(U.run_noisy(fo.adagrad(lambda c: LR / (1 + c * 0.25), **TORCH), 20), theirs)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours("optax"), U.run_noisy(optax.adagrad(LR), 50))


def test_validation():
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        fo.adagrad(0.1, initial_accumulator_value=-1.0)
