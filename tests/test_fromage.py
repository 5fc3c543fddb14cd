"""Fromage: numpy float64 reference of the paper's update; optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

MIN_NORM = 1e-6


@functools.cache
def ours(lr=0.05):
    return U.run_noisy(fo.fromage(lr), 50)


def reference(lr=0.05):
    def step(p, g, t):
        eta = lr(t - 1) if callable(lr) else lr
        out = {}
        for k in U.KEYS:
            pn = max(np.linalg.norm(p[k]), MIN_NORM)
            gn = max(np.linalg.norm(g[k]), MIN_NORM)
            out[k] = (p[k] - eta * pn / gn * g[k]) / np.sqrt(1 + eta**2)
        return out

    return step


def schedule(count):
    return 0.1 / (1.0 + count)


def test_golden():
    U.assert_close(ours()[:12], U.run_reference(reference(), 12))


def test_golden_schedule():
    U.assert_close(U.run_noisy(fo.fromage(schedule), 12), U.run_reference(reference(schedule), 12))


def test_relative_step_size():
    # with g orthogonal to W, the new norm is ||W|| sqrt(1 + eta^2) / sqrt(1 + eta^2) = ||W||
    p = np.array([3.0, 0.0], np.float32)
    opt = fo.fromage(0.2)
    u, _ = opt.update(np.array([0.0, 10.0], np.float32), opt.init(p), p)
    np.testing.assert_allclose(np.linalg.norm(p + np.asarray(u)), 3.0, rtol=1e-6)


def test_needs_params():
    opt = fo.fromage(0.1)
    with pytest.raises(ValueError, match="params"):
        opt.update(np.ones(2, np.float32), opt.init(None))


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.fromage(0.05), 50))
