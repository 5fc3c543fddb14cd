"""multi_steps: equivalence laws, numpy reference, skip function, optax MultiSteps."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import Fixtures, run

_FX = Fixtures(2)
params, grads_seq, RNG = _FX.params, _FX.grads_seq, _FX.rng


def test_every_k_1_equals_inner():
    p = params()
    gs = grads_seq(p, 10)
    ref, _, _ = run(fo.adam(0.1), p, gs)
    got, s, _ = run(fo.multi_steps(fo.adam(0.1), every_k=1), p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6)
    assert int(s.gradient_step) == 10 and int(s.mini_step) == 0


def test_sgd_on_micro_batches_equals_full_batch():
    # least squares: the gradient of a mean loss over the full batch is the
    # mean of the micro-batch gradients (equal micro-batch sizes)
    x = jnp.asarray(RNG.normal(size=(12, 3)), jnp.float32)
    y = jnp.asarray(RNG.normal(size=12), jnp.float32)

    def loss(w, xb, yb):
        return jnp.mean((xb @ w["w"] + w["b"] - yb) ** 2)

    w0 = {"w": jnp.zeros(3), "b": jnp.asarray(0.0)}
    full = fo.sgd(0.1, momentum=0.9)
    acc = fo.multi_steps(fo.sgd(0.1, momentum=0.9), every_k=4)
    wf, sf = w0, full.init(w0)
    wa, sa = w0, acc.init(w0)
    acc_step = jax.jit(acc.update)
    for _ in range(5):
        u, sf = full.update(jax.grad(loss)(wf, x, y), sf, wf)
        wf = fo.apply_updates(wf, u)
        for i in range(4):
            g = jax.grad(loss)(wa, x[3 * i : 3 * i + 3], y[3 * i : 3 * i + 3])
            u, sa = acc_step(g, sa, wa)
            if i < 3:
                chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, u))
            wa = fo.apply_updates(wa, u)
    chex.assert_trees_all_close(wa, wf, rtol=1e-5, atol=1e-6)


def test_adam_accumulation_against_numpy():
    p = params()
    k, lr, b1, b2, eps = 3, 0.05, 0.9, 0.999, 1e-8
    gs = grads_seq(p, 12)
    _, s, us = run(fo.multi_steps(fo.adam(lr), every_k=k), p, gs)
    mu = {n: np.zeros(np.shape(x)) for n, x in p.items()}
    nu = {n: np.zeros(np.shape(x)) for n, x in p.items()}
    t = 0
    for i, u in enumerate(us):
        if (i + 1) % k:
            chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, u))
            continue
        t += 1
        for n in p:
            gm = np.mean([np.asarray(gs[j][n], np.float64) for j in range(i - k + 1, i + 1)], axis=0)
            mu[n] = b1 * mu[n] + (1 - b1) * gm
            nu[n] = b2 * nu[n] + (1 - b2) * gm**2
            ref = -lr * (mu[n] / (1 - b1**t)) / (np.sqrt(nu[n] / (1 - b2**t)) + eps)
            np.testing.assert_allclose(u[n], ref, rtol=2e-5, atol=1e-7)
    assert int(s.gradient_step) == 4


def test_inner_runs_only_on_emitting_step():
    calls = []

    def counting(updates, params):
        jax.debug.callback(lambda: calls.append(1))
        return updates

    opt = fo.multi_steps(fo.stateless(counting), every_k=3)
    p = {"a": jnp.zeros(2)}
    s = opt.init(p)
    step = jax.jit(opt.update)
    for _ in range(6):
        _, s = step({"a": jnp.ones(2)}, s, p)
    jax.effects_barrier()
    assert len(calls) == 2


def test_skip_function_rejects_micro_steps():
    def skip_big(updates, gradient_step, params):
        n = fo.global_norm(updates)
        return n > 10.0, {"last_norm": n}

    opt = fo.multi_steps(fo.sgd(1.0), every_k=2, should_skip_update_fn=skip_big)
    p = {"a": jnp.zeros(2)}
    s = opt.init(p)
    u, s = opt.update({"a": jnp.ones(2)}, s, p)
    u, s = opt.update({"a": jnp.full(2, 100.0)}, s, p)  # rejected: the accumulator is untouched
    chex.assert_trees_all_equal(u["a"], jnp.zeros(2))
    assert int(s.mini_step) == 1 and float(s.skip_state["last_norm"]) > 10
    u, s = opt.update({"a": jnp.full(2, 3.0)}, s, p)
    np.testing.assert_allclose(u["a"], [-2.0, -2.0])  # -mean(1, 3)
    assert int(s.gradient_step) == 1


def test_against_optax_multisteps():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 9)
    ours, _, _ = run(fo.multi_steps(fo.sgd(0.1, momentum=0.9), every_k=3), p, gs)
    theirs, _, _ = run(optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k_schedule=3), p, gs)
    chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="every_k"):
        fo.multi_steps(fo.sgd(0.1), 0)
    with pytest.raises(TypeError, match="every_k"):
        fo.multi_steps(fo.sgd(0.1), 2.5)
    with pytest.raises(TypeError, match="inner"):
        fo.multi_steps(None, 2)


def test_multisteps_class_schedule_sum_and_has_updated_match_optax():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 7)

    def sched(step):  # 2 micro-steps for the first inner step, then 3
        return jnp.where(step < 1, 2, 3)

    assert fo.MultiStepsState._fields == optax.MultiStepsState._fields
    for mean in (True, False):
        ours = fo.MultiSteps(fo.sgd(0.1, momentum=0.9), sched, use_grad_mean=mean)
        ref = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), sched, use_grad_mean=mean)
        so, sr = ours.init(p), ref.init(p)
        step_o = jax.jit(ours.update)
        flags = []
        for g in gs:
            uo, so = step_o(g, so, p)
            ur, sr = ref.update(g, sr, p)
            chex.assert_trees_all_close(uo, ur, rtol=1e-5, atol=1e-7)
            flags.append(bool(ours.has_updated(so)))
            assert flags[-1] == bool(ref.has_updated(sr))
        assert flags == [False, True, False, False, True, False, False]
        assert isinstance(so.inner_opt_state, type(ours.inner_opt.init(p)))
    t = fo.MultiSteps(fo.sgd(0.1), 2).gradient_transformation()
    assert isinstance(t, fo.GradientTransformation)


def test_apply_every_matches_numpy_and_optax():
    p = params()
    gs = grads_seq(p, 7)
    k = 3
    t = fo.apply_every(k)
    s = t.init(p)
    acc = None
    for i, g in enumerate(gs):
        u, s = t.update(g, s)
        acc = g if i % k == 0 else jax.tree.map(lambda a, b: np.asarray(a, np.float64) + np.asarray(b), acc, g)
        want = acc if i % k == k - 1 else jax.tree.map(np.zeros_like, acc)
        chex.assert_trees_all_close(u, want, rtol=1e-6, atol=1e-7)
        assert int(s.count) == (i + 1) % k
    assert fo.ApplyEvery._fields == ("count", "grad_acc")
    with pytest.raises(ValueError, match="k"):
        fo.apply_every(0)
    optax = pytest.importorskip("optax")
    ref = optax.apply_every(k)
    so, sr = t.init(p), ref.init(p)
    for g in gs:
        uo, so = t.update(g, so)
        ur, sr = ref.update(g, sr)
        chex.assert_trees_all_close(uo, ur, rtol=1e-6, atol=1e-7)
