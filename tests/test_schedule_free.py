"""Tests for functional_opt/transforms/schedule_free.py and optimizers/schedule_free.py.

Golden trajectories against the reference algorithm (facebookresearch/schedule_free,
``*ScheduleFreeReference``: explicit x, y, z sequences) written out in numpy float64,
and differential tests against optax.contrib where the conventions agree.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import STEPS, assert_traj_close, grad_np, init_params, run_golden


def ref_schedule_free(p, lr, adam, b1, b2=0.999, eps=1e-8, wd=0.0, warmup=0, r=0.0, power=2.0, steps=STEPS):
    """Returns the y trajectory and the final x (the reference keeps x, y, z explicitly)."""
    z = {k: v.copy() for k, v in p.items()}
    x = {k: v.copy() for k, v in p.items()}
    y = {k: v.copy() for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    lr_max, weight_sum, out = -1.0, 0.0, []
    for k in range(steps):
        sched = (k + 1) / warmup if k < warmup else 1.0
        gamma = lr * sched * (np.sqrt(1 - b2 ** (k + 1)) if adam else 1.0)
        lr_max = max(gamma, lr_max)
        weight = (k + 1) ** r * lr_max**power
        weight_sum += weight
        c = weight / weight_sum if weight_sum != 0 else 0.0
        g = grad_np(y, k)
        for n in p:
            if adam:
                z[n] = z[n] - gamma * wd * y[n]
                v[n] = b2 * v[n] + (1 - b2) * g[n] ** 2
                z[n] = z[n] - gamma * g[n] / (np.sqrt(v[n]) + eps)
            else:
                z[n] = z[n] - gamma * (g[n] + wd * y[n])
            x[n] = (1 - c) * x[n] + c * z[n]
            y[n] = b1 * x[n] + (1 - b1) * z[n]
        out.append({n: a.copy() for n, a in y.items()})
    return out, x


def test_sgd_golden_with_warmup_and_decay():
    p0 = init_params()
    traj, state = run_golden(fo.schedule_free_sgd(0.2, warmup_steps=4, b1=0.8, weight_decay=0.05), p0)
    ref, x = ref_schedule_free(p0, 0.2, False, 0.8, wd=0.05, warmup=4)
    assert_traj_close(traj, ref)
    x_ours = fo.schedule_free_eval_params(state, jax.tree.map(jnp.asarray, traj[-1]))
    chex.assert_trees_all_close(jax.tree.map(np.asarray, x_ours), x, rtol=1e-4, atol=1e-5)
    assert int(state.step_count) == STEPS + 1  # optax's convention: 1 before the first update


@pytest.mark.parametrize("kw", [dict(warmup_steps=3, weight_decay=0.1), dict(r=1.0, weight_lr_power=1.0)])
def test_adamw_golden_reference(kw):
    p0 = init_params()
    opt = fo.schedule_free_adamw(0.05, b1=0.9, b2=0.99, **kw)
    traj, state = run_golden(opt, p0)
    ref, x = ref_schedule_free(
        p0,
        0.05,
        True,
        0.9,
        b2=0.99,
        wd=kw.get("weight_decay", 0.0),
        warmup=kw.get("warmup_steps", 0),
        r=kw.get("r", 0.0),
        power=kw.get("weight_lr_power", 2.0),
    )
    assert_traj_close(traj, ref)
    x_ours = fo.schedule_free_eval_params((fo.EmptyState(), state), jax.tree.map(jnp.asarray, traj[-1]))
    chex.assert_trees_all_close(jax.tree.map(np.asarray, x_ours), x, rtol=1e-4, atol=1e-5)


def test_defaults_and_validation():
    import inspect

    sgd = inspect.signature(fo.schedule_free_sgd).parameters
    adamw = inspect.signature(fo.schedule_free_adamw).parameters
    assert sgd["learning_rate"].default == 1.0 and sgd["b1"].default == 0.9
    assert adamw["learning_rate"].default == 0.0025 and adamw["b2"].default == 0.999
    assert adamw["eps"].default == 1e-8 and adamw["weight_lr_power"].default == 2.0
    with pytest.raises(ValueError, match="b1"):
        fo.schedule_free_sgd(b1=0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        fo.schedule_free_adamw(warmup_steps=-1)
    with pytest.raises(TypeError, match="base_optimizer"):
        fo.schedule_free(3, 0.1)
    opt = fo.schedule_free_sgd()
    with pytest.raises(ValueError, match="needs params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))
    with pytest.raises(ValueError, match="exactly one"):
        fo.schedule_free_eval_params(fo.EmptyState(), jnp.ones(2))


def test_sgd_matches_optax():
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    p0 = init_params()
    # no warmup: optax's base sgd evaluates the warmup schedule at k while its
    # averaging weights use k + 1, so with warmup optax departs from the reference
    a, sa = run_golden(fo.schedule_free_sgd(0.3, b1=0.9, weight_decay=0.01), p0)
    b, sb = run_golden(contrib.schedule_free_sgd(0.3, b1=0.9, weight_decay=0.01), p0)
    assert_traj_close(a, b, rtol=1e-5, atol=1e-6)
    y = jax.tree.map(jnp.asarray, a[-1])
    chex.assert_trees_all_close(
        fo.schedule_free_eval_params(sa, y), contrib.schedule_free_eval_params(sb, y), rtol=1e-5, atol=1e-6
    )
    del optax


def test_wrapper_matches_optax_on_adam_base():
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    p0 = init_params()
    a, _ = run_golden(fo.schedule_free(fo.adam(0.05, b1=0.0, b2=0.99), 0.05, b1=0.8), p0)
    b, _ = run_golden(contrib.schedule_free(optax.adam(0.05, b1=0.0, b2=0.99), 0.05, b1=0.8), p0)
    assert_traj_close(a, b, rtol=1e-4, atol=1e-5)


def test_adamw_differs_from_optax_as_documented():
    contrib = pytest.importorskip("optax.contrib")
    p0 = init_params()
    a, _ = run_golden(fo.schedule_free_adamw(0.05), p0)
    b, _ = run_golden(contrib.schedule_free_adamw(0.05), p0)
    # optax leaves sqrt(1 - b2**t) out of the averaging weights: not the reference rule
    assert not np.allclose(a[-1]["m"], b[-1]["m"], rtol=1e-3)


def test_state_fields_follow_optax():
    contrib = pytest.importorskip("optax.contrib")
    assert fo.ScheduleFreeState._fields == contrib.ScheduleFreeState._fields
    p = {"w": jnp.ones(3)}
    ours, ref = fo.schedule_free_sgd(0.1), contrib.schedule_free_sgd(0.1)
    so, sr = ours.init(p), ref.init(p)
    g = {"w": jnp.array([1.0, -2.0, 0.5])}
    for _ in range(2):
        _, so = ours.update(g, so, p)
        _, sr = ref.update(g, sr, p)
    assert int(so.step_count) == int(sr.step_count) == 3
    np.testing.assert_allclose(so.max_lr, sr.max_lr)
