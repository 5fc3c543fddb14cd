"""AMSGrad: numpy float64 references for each convention; torch and optax."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, B1, B2, EPS = 0.05, U.B1, U.B2, 1e-8
CONFIGS = {
    "torch": {},
    "optax": {"max_of_corrected": True},
    "paper": {"bias_correction_mu": False, "bias_correction_nu": False},
}


@functools.cache
def ours(name):
    return U.run_noisy(fo.amsgrad(LR, b1=B1, b2=B2, **CONFIGS[name]), 50)


def reference(max_of_corrected=False, bias_correction_mu=True, bias_correction_nu=True):
    mu, nu, nu_max = U.zeros(), U.zeros(), U.zeros()

    def step(p, g, t):
        c1 = 1 / (1 - B1**t) if bias_correction_mu else 1.0
        c2 = 1 / (1 - B2**t) if bias_correction_nu else 1.0
        p = dict(p)
        for k in U.KEYS:
            mu[k] = B1 * mu[k] + (1 - B1) * g[k]
            nu[k] = B2 * nu[k] + (1 - B2) * g[k] ** 2
            if max_of_corrected:
                nu_max[k] = np.maximum(nu_max[k], c2 * nu[k])
                den = np.sqrt(nu_max[k]) + EPS
            else:
                nu_max[k] = np.maximum(nu_max[k], nu[k])
                den = np.sqrt(c2 * nu_max[k]) + EPS
            p[k] = p[k] - LR * c1 * mu[k] / den
        return p

    return step


@pytest.mark.parametrize("name", list(CONFIGS))
def test_golden(name):
    U.assert_close(ours(name)[:12], U.run_reference(reference(**CONFIGS[name]), 12))


def test_conventions_differ():
    assert np.max(np.abs(ours("torch")[11]["m"] - ours("optax")[11]["m"])) > 1e-5


def test_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = U.run_torch(lambda ps: torch.optim.Adam(ps, lr=LR, betas=(B1, B2), amsgrad=True), 50)
    U.assert_close(ours("torch"), theirs)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    U.assert_close(ours("optax"), U.run_noisy(optax.amsgrad(LR, b1=B1, b2=B2), 50))


def test_validation():
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_amsgrad(b2=1.0)
    with pytest.raises(ValueError, match="eps"):
        fo.amsgrad(0.1, eps=-1.0)


def test_shape_mismatch_raises():
    t = fo.scale_by_amsgrad()
    with pytest.raises(ValueError, match=r"scale_by_amsgrad.*shape mismatch"):
        t.update(jnp.ones(1), t.init(jnp.zeros(3)))
    with pytest.raises(ValueError, match=r"scale_by_amsgrad.*\['b'\]"):
        t.update({"a": jnp.ones(2), "b": jnp.ones(1)}, t.init({"a": jnp.zeros(2), "b": jnp.zeros(3)}))
