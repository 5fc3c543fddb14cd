"""Tests for functional_opt/optimizers/lr_free.py: prodigy and dadapt_adamw vs optax.contrib.

The numpy golden trajectories are in tests/test_prodigy.py and tests/test_dadapt.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_traj_close, init_params, run_golden


@pytest.mark.parametrize(
    "name, ours, kw",
    [
        ("prodigy", fo.prodigy, dict(weight_decay=0.01, estim_lr_coef=0.8)),
        ("prodigy", fo.prodigy, dict(safeguard_warmup=True, beta3=0.95)),
        ("dadapt_adamw", fo.dadapt_adamw, dict(weight_decay=0.01, betas=(0.9, 0.99))),
    ],
)
def test_matches_optax_contrib(name, ours, kw):
    contrib = pytest.importorskip("optax.contrib")
    p0 = init_params()
    # optax: bias correction always on, no growth cap (our defaults); float32 both
    a, sa = run_golden(ours(**kw), p0, steps=10)
    b, sb = run_golden(getattr(contrib, name)(**kw), p0, steps=10)
    assert_traj_close(a, b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(float(sa[0].estim_lr), float(sb.estim_lr), rtol=2e-4)


def test_adapted_step_in_state_and_convergence():
    for opt in (fo.prodigy(), fo.dadapt_adamw()):
        x = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}
        s = opt.init(x)
        step = jax.jit(opt.update)
        for _ in range(150):
            u, s = step(jax.tree.map(lambda v: 2 * v, x), s, x)
            x = fo.apply_updates(x, u)
        assert float(s[0].estim_lr) > 1e-2  # grew by >4 orders of magnitude from 1e-6
        assert sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(x)) < 1e-2
