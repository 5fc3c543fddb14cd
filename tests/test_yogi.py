"""Yogi: numpy float64 reference (with and without bias correction); optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS, INIT = 0.05, U.B1, U.B2, 1e-3, 1e-6


@functools.cache
def ours(bias_correction=True):
    return U.run_noisy(fo.yogi(LR, b1=B1, b2=B2, bias_correction=bias_correction), 50)


def reference(bias_correction=True):
    m = {k: np.full_like(v, INIT) for k, v in U.params0().items()}
    v = {k: np.full_like(x, INIT) for k, x in U.params0().items()}

    def step(p, g, t):
        c1 = 1 / (1 - B1**t) if bias_correction else 1.0
        c2 = 1 / (1 - B2**t) if bias_correction else 1.0
        p = dict(p)
        for k in U.KEYS:
            g2 = g[k] ** 2
            m[k] = B1 * m[k] + (1 - B1) * g[k]
            v[k] = v[k] - (1 - B2) * np.sign(v[k] - g2) * g2
            p[k] = p[k] - LR * c1 * m[k] / (np.sqrt(c2 * v[k]) + EPS)
        return p

    return step


@pytest.mark.parametrize("bias_correction", [True, False])
def test_golden(bias_correction):
    U.assert_close(ours(bias_correction)[:12], U.run_reference(reference(bias_correction), 12))


def test_second_moment_moves_additively():
    t = fo.scale_by_yogi(b2=0.5, initial_accumulator_value=1.0)
    s = t.init(np.zeros(1, np.float32))
    _, s = t.update(np.full(1, 3.0, np.float32), s)  # nu = 1 - 0.5 * sign(1 - 9) * 9 = 5.5
    np.testing.assert_allclose(np.asarray(s.nu), [5.5])


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours(), U.run_noisy(optax.yogi(LR, b1=B1, b2=B2), 50))


def test_validation():
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        fo.scale_by_yogi(initial_accumulator_value=-1.0)
