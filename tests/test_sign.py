"""signSGD and Signum: numpy float64 references; optax."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, BETA = 0.01, 0.875


@functools.cache
def ours(name):
    return U.run_noisy(fo.sign_sgd(LR) if name == "sign_sgd" else fo.signum(LR, beta=BETA), 50)


def reference(name):
    m = U.zeros()

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            m[k] = BETA * m[k] + (1 - BETA) * g[k]
            p[k] = p[k] - LR * np.sign(g[k] if name == "sign_sgd" else m[k])
        return p

    return step


@pytest.mark.parametrize("name", ["sign_sgd", "signum"])
def test_golden(name):
    U.assert_close(ours(name)[:12], U.run_reference(reference(name), 12))


def test_sign_of_zero_is_zero():
    u, _ = fo.scale_by_sign().update({"a": np.array([0.0, -2.0], np.float32)}, fo.EmptyState())
    np.testing.assert_array_equal(np.asarray(u["a"]), [0.0, -1.0])


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours("sign_sgd"), U.run_noisy(optax.sign_sgd(LR), 50))
    U.assert_close(ours("signum"), U.run_noisy(optax.signum(LR, beta=BETA), 50))
