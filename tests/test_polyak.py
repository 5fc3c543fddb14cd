"""Polyak step size: numpy float64 reference (SPS_max), value= contract, optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U


@functools.cache
def ours(max_lr=1.0, scaling=1.0, f_min=0.0, variant="sps"):
    opt = fo.polyak_sgd(max_learning_rate=max_lr, scaling=scaling, f_min=f_min, variant=variant)
    return U.run_noisy(opt, 50, with_value=True)


def reference(max_lr=1.0, scaling=1.0, f_min=0.0, variant="sps"):
    def step(p, g, t):
        gap = U.loss(p) - f_min
        if variant == "sps+":
            gap = max(gap, 0.0)
        sq = sum(np.sum(g[k] ** 2) for k in U.KEYS)
        gamma = min(gap / (scaling * sq), scaling * max_lr)
        return {k: p[k] - gamma * g[k] for k in U.KEYS}

    return step


CONFIGS = [(1.0, 1.0, 0.0, "sps"), (0.3, 1.0, 0.0, "sps"), (1.0, 0.5, 0.0, "sps"), (1.0, 1.0, 2.0, "sps+")]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_golden(cfg):
    U.assert_close(ours(*cfg)[:12], U.run_reference(reference(*cfg), 12))


def test_needs_value():
    opt = fo.polyak_sgd()
    g = {"a": np.ones(2, np.float32)}
    with pytest.raises(TypeError, match="value="):
        opt.update(g, opt.init(g), g)


def test_zero_gradient_zero_step():
    opt = fo.polyak_sgd()
    g = {"a": np.zeros(2, np.float32)}
    u, _ = opt.update(g, opt.init(g), g, value=1.0)
    np.testing.assert_array_equal(np.asarray(u["a"]), 0.0)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    for cfg in CONFIGS[:3]:
        max_lr, scaling, f_min, variant = cfg
        opt = optax.polyak_sgd(max_learning_rate=max_lr, scaling=scaling, f_min=f_min, variant=variant)
        U.assert_close(ours(*cfg), U.run_noisy(opt, 50, with_value=True))


def test_validation():
    with pytest.raises(ValueError, match="variant"):
        fo.polyak_sgd(variant="sps++")
    with pytest.raises(ValueError, match="max_learning_rate"):
        fo.polyak_sgd(max_learning_rate=0.0)
