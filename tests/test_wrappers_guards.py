"""apply_if_finite and skip_loss_spikes."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import Fixtures

_FX = Fixtures(3)
params, grads_seq, RNG = _FX.params, _FX.grads_seq, _FX.rng


def test_apply_if_finite_skips_exactly_the_bad_steps():
    p = params()
    bad = {2, 5, 6}
    gs = grads_seq(p, 10, bad)
    opt = fo.apply_if_finite(fo.adam(0.1), max_consecutive_errors=5)
    s = opt.init(p)
    step = jax.jit(opt.update)
    ref = fo.adam(0.1)
    rs, rp = ref.init(p), p
    q = p
    for i, g in enumerate(gs):
        u, s = step(g, s, q)
        if i in bad:
            chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, u))
            assert not bool(s.last_finite)
        else:
            ru, rs = ref.update(g, rs, rp)
            rp = fo.apply_updates(rp, ru)
            chex.assert_trees_all_close(u, ru, rtol=1e-5, atol=1e-7)
            assert int(s.notfinite_count) == 0
        q = fo.apply_updates(q, u)
    chex.assert_trees_all_close(q, rp, rtol=1e-5, atol=1e-7)
    assert int(s.total_notfinite) == 3
    # the inner count only advanced on the good steps
    assert int(fo.find_states(s, fo.ScaleByAdamState)[0].count) == 7


def test_apply_if_finite_gives_up_after_max_consecutive_errors():
    opt = fo.apply_if_finite(fo.sgd(1.0), max_consecutive_errors=2)
    s = opt.init(jnp.zeros(1))
    nan = jnp.array([jnp.nan])
    outs = []
    for _ in range(4):
        u, s = opt.update(nan, s)
        outs.append(bool(jnp.isnan(u).any()))
    assert outs == [False, False, True, True]
    assert int(s.notfinite_count) == 4
    u, s = opt.update(jnp.ones(1), s)
    assert int(s.notfinite_count) == 0 and int(s.total_notfinite) == 4


def test_apply_if_finite_against_optax():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 8, bad={1, 3, 4})
    ours, theirs = (
        fo.apply_if_finite(fo.sgd(0.1, momentum=0.9), 1),
        optax.apply_if_finite(optax.sgd(0.1, momentum=0.9), 1),
    )
    so, st = ours.init(p), theirs.init(p)
    po, pt = p, p
    step_o, step_t = jax.jit(ours.update), jax.jit(theirs.update)
    for g in gs:
        uo, so = step_o(g, so, po)
        ut, st = step_t(g, st, pt)
        po, pt = fo.apply_updates(po, uo), optax.apply_updates(pt, ut)
        assert int(so.total_notfinite) == int(st.total_notfinite)
        assert int(so.notfinite_count) == int(st.notfinite_count)
    chex.assert_trees_all_close(po, pt, rtol=1e-6)


def np_loss_guard(losses, window, num_std, min_history, max_skips):
    """Independent reference: list of (skipped?) decisions."""
    hist, skips_in_row, decisions = [], 0, []
    for loss in losses:
        h = np.asarray(hist[-window:], np.float64)
        spike = not np.isfinite(loss) or (len(h) >= min_history and loss > h.mean() + num_std * h.std())
        skip = spike and skips_in_row < max_skips
        decisions.append(skip)
        if skip:
            skips_in_row += 1
        else:
            skips_in_row = 0
            if np.isfinite(loss):
                hist.append(loss)
    return decisions


def test_skip_loss_spikes_against_numpy_reference():
    losses = list(1.0 + 0.05 * RNG.normal(size=30))
    losses[8] = 5.0
    losses[15] = np.nan
    losses[20:24] = [9.0, 9.0, 9.0, 9.0]  # a lasting jump: applied after max_consecutive_skips
    losses = [float(x) for x in losses]
    window, k, mh, mx = 6, 3.0, 3, 2
    opt = fo.skip_loss_spikes(fo.sgd(1.0), window=window, num_std=k, min_history=mh, max_consecutive_skips=mx)
    p = jnp.zeros(2)
    s = opt.init(p)
    step = jax.jit(lambda g, s, p, value: opt.update(g, s, p, value=value))
    got = []
    for loss in losses:
        u, s = step(jnp.ones(2), s, p, loss)
        got.append(bool(np.all(u == 0)))
        p = fo.apply_updates(p, u)
    want = np_loss_guard(losses, window, k, mh, mx)
    assert got == want
    assert want[8] and want[15] and want[20] and want[21] and not want[22]
    assert int(s.total_skips) == sum(want)
    np.testing.assert_allclose(p, -(len(losses) - sum(want)) * np.ones(2))


def test_skip_loss_spikes_needs_value():
    opt = fo.skip_loss_spikes(fo.sgd(1.0))
    with pytest.raises(ValueError, match="value=loss"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))
    with pytest.raises(ValueError, match="window"):
        fo.skip_loss_spikes(fo.sgd(1.0), window=1)
    with pytest.raises(ValueError, match="num_std"):
        fo.skip_loss_spikes(fo.sgd(1.0), num_std=-1.0)
