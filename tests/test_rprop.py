"""Rprop (iRprop-): numpy float64 reference; torch; optax's lag documented."""

import functools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, EM, EP, LO, HI = 0.01, 0.5, 1.2, 1e-6, 50.0


@functools.cache
def ours(max_step=HI):
    return U.run_noisy(fo.rprop(LR, max_step_size=max_step), 50)


def reference(max_step=HI):
    delta = {k: np.full_like(v, LR) for k, v in U.params0().items()}
    prev = U.zeros()

    def step(p, g, t):
        p = dict(p)
        for k in U.KEYS:
            agree = g[k] * prev[k]
            delta[k] = np.where(
                agree > 0,
                np.minimum(delta[k] * EP, max_step),
                np.where(agree < 0, np.maximum(delta[k] * EM, LO), delta[k]),
            )
            gk = np.where(agree < 0, 0.0, g[k])
            p[k] = p[k] - delta[k] * np.sign(gk)
            prev[k] = gk
        return p

    return step


@pytest.mark.parametrize("max_step", [HI, 0.02])
def test_golden(max_step):
    U.assert_close(ours(max_step)[:12], U.run_reference(reference(max_step), 12))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    U.assert_close(ours(), U.run_torch(lambda ps: torch.optim.Rprop(ps, lr=LR), 50))
    theirs = U.run_torch(lambda ps: torch.optim.Rprop(ps, lr=LR, step_sizes=(LO, 0.02)), 50)
    U.assert_close(ours(0.02), theirs)


def test_optax_lags_one_step():
    optax = pytest.importorskip("optax")
    opt = optax.rprop(LR)
    p = np.zeros(2, np.float32)
    u, _ = opt.update(np.array([1.0, -1.0], np.float32), opt.init(p), p)
    np.testing.assert_array_equal(np.asarray(u), 0.0)  # optax: no first step
    ours_u, _ = fo.rprop(LR).update(np.array([1.0, -1.0], np.float32), fo.rprop(LR).init(p), p)
    np.testing.assert_allclose(np.asarray(ours_u), [-LR, LR])


def test_validation():
    with pytest.raises(ValueError, match="max_step_size"):
        fo.rprop(0.1, min_step_size=1.0, max_step_size=0.5)
    with pytest.raises(ValueError, match="eta_plus"):
        fo.rprop(0.1, eta_plus=0.5)
