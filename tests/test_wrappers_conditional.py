"""conditionally_transform / conditionally_mask, and the should-skip functions with multi_steps (against optax)."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(0)
P = {"w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "b": jnp.asarray(RNG.normal(size=2), jnp.float32)}
GS = [jax.tree.map(lambda x: jnp.asarray(RNG.normal(size=x.shape), jnp.float32), P) for _ in range(5)]


def _drive(t, grads):
    s = t.init(P)
    out = []
    step = jax.jit(t.update)
    for g in grads:
        u, s = step(g, s, P)
        out.append(u)
    return out, s


@pytest.mark.parametrize("which", ["conditionally_transform", "conditionally_mask"])
def test_conditional_matches_optax_and_the_inner_run_on_the_chosen_steps(which):
    optax = pytest.importorskip("optax")
    cond = lambda step: step % 2 == 0  # noqa: E731
    ours, s = _drive(getattr(fo, which)(fo.adam(0.1), cond), GS)
    theirs, ts = _drive(getattr(optax, which)(optax.adam(0.1), cond), GS)
    for a, b in zip(ours, theirs):
        chex.assert_trees_all_close(a, b, rtol=2e-5, atol=1e-6)
    assert type(s).__name__ == type(ts).__name__ and type(s)._fields == type(ts)._fields
    assert int(s.step) == 5 and s.step.dtype == jnp.int32
    # reference: adam alone, run on steps 0, 2, 4; the other steps pass g (transform) or 0 (mask)
    ref = fo.adam(0.1)
    rs, ref_step = ref.init(P), jax.jit(ref.update)
    for i, (g, u) in enumerate(zip(GS, ours)):
        if i % 2 == 0:
            ru, rs = ref_step(g, rs, P)
        else:
            ru = g if which == "conditionally_transform" else jax.tree.map(jnp.zeros_like, g)
        chex.assert_trees_all_close(u, ru, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(s.inner_state, rs, rtol=1e-5)


def test_forward_extra_args_reach_the_condition_and_the_inner():
    seen = []
    inner = fo.GradientTransformation(
        fo.init_empty_state, lambda u, s, p=None, *, value: (jax.tree.map(lambda x: x * value, u), s)
    )
    t = fo.conditionally_mask(inner, lambda step, value: value > 1.0, forward_extra_args=True)
    s = t.init(P)
    u, s = t.update(GS[0], s, P, value=0.5)
    chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, GS[0]))
    u, s = jax.jit(t.update)(GS[0], s, P, value=jnp.asarray(3.0))
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: 3 * x, GS[0]))
    # without forwarding, the condition gets only the step
    t = fo.conditionally_transform(fo.scale(2.0), lambda step: step < 1)
    u, _ = t.update(GS[0], t.init(P), P, value=1.0)
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: 2 * x, GS[0]))
    assert not seen


def test_conditional_arguments_are_checked():
    with pytest.raises(TypeError, match="should_transform_fn"):
        fo.conditionally_transform(fo.sgd(1.0), True)
    with pytest.raises(TypeError, match="inner"):
        fo.conditionally_mask(None, lambda step: True)


def test_skip_functions_match_optax_and_numpy():
    optax = pytest.importorskip("optax")
    g = {"w": jnp.array([[1.0, np.inf], [np.nan, 2.0]]), "b": jnp.array([np.nan, 3.0])}
    skip, info = fo.skip_not_finite(g, 0, None)
    oskip, oinfo = optax.skip_not_finite(g, 0, None)
    assert bool(skip) is bool(oskip) is True
    assert int(info["num_not_finite"]) == int(oinfo["num_not_finite"]) == 3
    assert set(info) == set(oinfo)
    skip, info = fo.skip_not_finite(GS[0], 0, None)
    assert not bool(skip) and int(info["num_not_finite"]) == 0

    ref = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in jax.tree.leaves(GS[0]))
    for threshold in (ref * 0.9, ref * 1.1):
        skip, info = fo.skip_large_updates(GS[0], 0, None, threshold)
        oskip, oinfo = optax.skip_large_updates(GS[0], 0, None, threshold)
        assert bool(skip) == bool(oskip) == (ref >= threshold)
        np.testing.assert_allclose(float(info["norm_squared"]), ref, rtol=1e-6)
        assert set(info) == set(oinfo)
    skip, _ = fo.skip_large_updates(g, 0, None, 1e9)  # a NaN norm skips
    assert bool(skip)
    # an annealed threshold: a schedule of gradient_step
    sched = lambda step: jnp.where(step < 1, 2 * ref, 0.5 * ref)  # noqa: E731
    assert not bool(fo.skip_large_updates(GS[0], jnp.int32(0), None, sched)[0])
    assert bool(fo.skip_large_updates(GS[0], jnp.int32(1), None, sched)[0])
    with pytest.raises(ValueError, match="max_squared_norm"):
        fo.skip_large_updates(GS[0], 0, None, -1.0)


def test_should_skip_functions_drive_multi_steps_like_optax():
    optax = pytest.importorskip("optax")
    grads = list(GS)
    grads[1] = jax.tree.map(lambda x: x.at[0].set(jnp.nan), grads[1])
    grads[3] = jax.tree.map(lambda x: 100 * x, grads[3])
    ref = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in jax.tree.leaves(GS[0]))
    for fn_ours, fn_theirs in [
        (fo.skip_not_finite, optax.skip_not_finite),
        (
            functools.partial(fo.skip_large_updates, max_squared_norm=50 * ref),
            functools.partial(optax.skip_large_updates, max_squared_norm=50 * ref),
        ),
    ]:
        ours = fo.MultiSteps(fo.sgd(1.0), every_k_schedule=2, should_skip_update_fn=fn_ours)
        theirs = optax.MultiSteps(optax.sgd(1.0), every_k_schedule=2, should_skip_update_fn=fn_theirs)
        s, ts = ours.init(P), theirs.init(P)
        step, their_step = jax.jit(ours.update), jax.jit(theirs.update)
        for g in grads:
            u, s = step(g, s, P)
            tu, ts = their_step(g, ts, P)
            chex.assert_trees_all_close(u, tu, rtol=1e-6, atol=1e-6)
            assert set(s.skip_state) == set(ts.skip_state)
            for k in s.skip_state:
                np.testing.assert_allclose(
                    np.asarray(s.skip_state[k], float), np.asarray(ts.skip_state[k], float), rtol=1e-6
                )
        assert int(s.gradient_step) == int(ts.gradient_step)
    # and optax's MultiSteps takes ours
    t = optax.MultiSteps(optax.sgd(1.0), 2, should_skip_update_fn=fo.skip_not_finite)
    u, st = t.update(grads[1], t.init(P), P)
    assert bool(st.skip_state["should_skip"])
