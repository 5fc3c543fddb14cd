"""ema_params and lookahead against numpy float64 references and optax."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import Fixtures

_FX = Fixtures(5)
params, grads_seq = _FX.params, _FX.grads_seq


def test_ema_params_against_numpy():
    p = params()
    gs = grads_seq(p, 10)
    opt = fo.chain(fo.sgd(0.1, momentum=0.5), fo.ema_params(0.8))
    s = opt.init(p)
    step = jax.jit(opt.update)
    ref_p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    ref_ema = dict(ref_p)
    trace = {k: np.zeros_like(v) for k, v in ref_p.items()}
    for g in gs:
        u, s = step(g, s, p)
        p = fo.apply_updates(p, u)
        for k in ref_p:
            trace[k] = 0.5 * trace[k] + np.asarray(g[k], np.float64)
            ref_p[k] = ref_p[k] - 0.1 * trace[k]
            ref_ema[k] = 0.8 * ref_ema[k] + 0.2 * ref_p[k]
    chex.assert_trees_all_close(p, ref_p, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(fo.get_ema_params(s), ref_ema, rtol=1e-5, atol=1e-6)


def test_ema_params_schedule_dtype_and_errors():
    p = {"w": jnp.ones(2, jnp.bfloat16)}
    opt = fo.chain(fo.sgd(1.0), fo.ema_params(lambda c: jnp.where(c == 0, 0.0, 0.5), ema_dtype=jnp.float32))
    s = opt.init(p)
    u, s = opt.update({"w": jnp.ones(2, jnp.bfloat16)}, s, p)  # decay 0 on step 0: ema = new params
    assert fo.get_ema_params(s)["w"].dtype == jnp.float32
    np.testing.assert_allclose(fo.get_ema_params(s)["w"], [0.0, 0.0])
    with pytest.raises(ValueError, match="needs params"):
        opt.update({"w": jnp.ones(2)}, s)
    with pytest.raises(ValueError, match="decay"):
        fo.ema_params(1.5)
    with pytest.raises(ValueError, match="no ema_params"):
        fo.get_ema_params(fo.adam(0.1).init(p))


def np_lookahead(p0, gs, lr, k, alpha):
    fast = {n: np.asarray(v, np.float64) for n, v in p0.items()}
    slow = dict(fast)
    for t, g in enumerate(gs, start=1):
        fast = {n: fast[n] - lr * np.asarray(g[n], np.float64) for n in fast}
        if t % k == 0:
            slow = {n: slow[n] + alpha * (fast[n] - slow[n]) for n in fast}
            fast = dict(slow)
    return fast, slow


def test_lookahead_against_numpy():
    p0 = p = params()
    gs = grads_seq(p, 10)
    opt = fo.lookahead(fo.sgd(0.1), sync_period=3, slow_step_size=0.5)
    s = opt.init(p)
    step = jax.jit(opt.update)
    for g in gs:
        u, s = step(g, s, p)
        p = fo.apply_updates(p, u)
    fast, slow = np_lookahead(p0, gs, 0.1, 3, 0.5)
    chex.assert_trees_all_close(p, fast, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(fo.lookahead_slow_params(s), slow, rtol=1e-5, atol=1e-6)
    assert int(s.count) == 1


def test_lookahead_against_optax():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 7)
    ours = fo.lookahead(fo.adam(0.05), sync_period=2, slow_step_size=0.3, reset_state=True)
    theirs = optax.lookahead(optax.adam(0.05), sync_period=2, slow_step_size=0.3, reset_state=True)
    so, st = ours.init(p), theirs.init(optax.LookaheadParams.init_synced(p))
    po, pt = p, optax.LookaheadParams.init_synced(p)
    for g in gs:
        uo, so = ours.update(g, so, po)
        ut, st = theirs.update(g, st, pt)
        po, pt = fo.apply_updates(po, uo), optax.apply_updates(pt, ut)
    chex.assert_trees_all_close(po, pt.fast, rtol=2e-5, atol=1e-6)
    chex.assert_trees_all_close(fo.lookahead_slow_params(so), pt.slow, rtol=2e-5, atol=1e-6)


def test_lookahead_bad_arguments():
    with pytest.raises(ValueError, match="sync_period"):
        fo.lookahead(fo.sgd(0.1), 0, 0.5)
    with pytest.raises(ValueError, match="slow_step_size"):
        fo.lookahead(fo.sgd(0.1), 2, 1.5)
    opt = fo.lookahead(fo.sgd(0.1), 2, 0.5)
    with pytest.raises(ValueError, match="needs params"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))


def test_state_does_not_alias_donated_params():
    p = {"w": jnp.ones(3)}
    for opt in (fo.chain(fo.sgd(0.1), fo.ema_params(0.9)), fo.lookahead(fo.sgd(0.1), 2, 0.5)):
        donated = {"w": jnp.ones(3)}
        s = opt.init(donated)
        jax.jit(lambda q: jax.tree.map(lambda x: x + 1, q), donate_argnums=0)(donated)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x + 0, s), opt.init(p))  # state still readable


def test_lookahead_on_lookahead_params_against_optax():
    """optax's calling convention (fast and slow weights in the params) gives optax's trajectory."""
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 7)
    ours = fo.lookahead(fast_optimizer=fo.sgd(0.1, momentum=0.5), sync_period=3, slow_step_size=0.4)
    theirs = optax.lookahead(fast_optimizer=optax.sgd(0.1, momentum=0.5), sync_period=3, slow_step_size=0.4)
    po, pt = fo.LookaheadParams.init_synced(p), optax.LookaheadParams.init_synced(p)
    so, st = ours.init(po), theirs.init(pt)
    assert so.slow is None  # the slow weights are in the params, not duplicated in the state
    for g in gs:
        uo, so = jax.jit(ours.update)(g, so, po)
        ut, st = theirs.update(g, st, pt)
        assert isinstance(uo, fo.LookaheadParams)
        po, pt = fo.apply_updates(po, uo), optax.apply_updates(pt, ut)
    chex.assert_trees_all_close(po.fast, pt.fast, rtol=2e-5, atol=1e-6)
    chex.assert_trees_all_close(po.slow, pt.slow, rtol=2e-5, atol=1e-6)
    assert not np.allclose(po.fast["v"], po.slow["v"])  # 7 steps: not at a synchronisation
