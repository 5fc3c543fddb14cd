"""inject_hyperparams, get_hyperparam, set_hyperparam."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import Fixtures, run

_FX = Fixtures(4)
params, grads_seq = _FX.params, _FX.grads_seq


def test_inject_adam_equals_adam():
    p = params()
    gs = grads_seq(p, 12)
    ref, _, _ = run(fo.adam(0.05, b1=0.8, b2=0.999, eps=1e-6), p, gs)
    got, s, _ = run(fo.inject_hyperparams(fo.adam)(0.05, b1=0.8, b2=0.999, eps=1e-6), p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6, atol=1e-7)
    assert set(s.hyperparams) == {"learning_rate", "b1", "b2", "eps", "eps_root"}
    assert all(v.dtype == jnp.float32 for v in s.hyperparams.values())
    assert int(s.count) == 12


def test_schedules_are_evaluated_from_own_count():
    def lr(count):
        return 0.1 / (1.0 + count)

    p = {"a": jnp.zeros(1)}
    opt = fo.chain(fo.clip(10.0), fo.inject_hyperparams(fo.sgd)(learning_rate=lr))
    s = opt.init(p)
    np.testing.assert_allclose(fo.get_hyperparam(s, "learning_rate"), 0.1)
    for t in range(4):
        u, s = opt.update({"a": jnp.ones(1)}, s, p)
        np.testing.assert_allclose(u["a"], [-0.1 / (1 + t)], rtol=1e-6)
        np.testing.assert_allclose(fo.get_hyperparam(s, "learning_rate"), 0.1 / (1 + t), rtol=1e-6)


def test_set_hyperparam_changes_the_step_without_recompiling():
    opt = fo.inject_hyperparams(fo.adam)(learning_rate=0.1)
    p = params()
    s = opt.init(p)
    traces = []

    @jax.jit
    def step(g, s, p):
        traces.append(1)
        return opt.update(g, s, p)

    g = grads_seq(p, 1)[0]
    u1, _ = step(g, s, p)
    s2 = fo.set_hyperparam(s, "learning_rate", 0.01)
    u2, s2b = step(g, s2, p)
    assert len(traces) == 1
    chex.assert_trees_all_close(u2, jax.tree.map(lambda x: 0.1 * x, u1), rtol=1e-5)
    np.testing.assert_allclose(fo.get_hyperparam(s2b, "learning_rate"), 0.01, rtol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        fo.set_hyperparam(s, "nope", 1.0)
    with pytest.raises(KeyError, match="nope"):
        fo.get_hyperparam(s, "nope")


def test_get_set_inside_nested_state_and_ambiguity():
    inner = fo.inject_hyperparams(fo.sgd)(learning_rate=0.1, momentum=0.9)
    opt = fo.named_chain(
        ("guard", fo.apply_if_finite(fo.partition({"a": inner, "b": fo.adam(0.1)}, {"x": "a", "y": "b"}), 3)),
    )
    s = opt.init({"x": jnp.zeros(2), "y": jnp.zeros(1)})
    np.testing.assert_allclose(fo.get_hyperparam(s, "momentum"), 0.9, rtol=1e-6)
    s = fo.set_hyperparam(s, "momentum", 0.5)
    np.testing.assert_allclose(fo.get_hyperparam(s, "momentum"), 0.5)
    two = fo.chain(inner, inner).init(jnp.zeros(1))
    with pytest.raises(ValueError, match="2 injected"):
        fo.get_hyperparam(two, "learning_rate")
    both = fo.set_hyperparam(two, "learning_rate", 0.3)  # sets every match
    assert [float(x.hyperparams["learning_rate"]) for x in fo.find_states(both, fo.InjectHyperparamsState)] == [
        pytest.approx(0.3),
        pytest.approx(0.3),
    ]


def test_bf16_params_keep_float32_hyperparams():
    p = params(jnp.bfloat16)
    gs = grads_seq(p, 6)
    opt = fo.inject_hyperparams(fo.adam)(learning_rate=1e-2, b2=0.999)
    p16, s, _ = run(opt, p, gs)
    b2 = fo.get_hyperparam(s, "b2")
    assert b2.dtype == jnp.float32 and float(b2) != 1.0
    np.testing.assert_allclose(float(b2), 0.999, rtol=1e-7)
    chex.assert_trees_all_equal_shapes_and_dtypes(p16, p)
    # against a float64 numpy Adam on the same (bf16-rounded) gradients, to bf16 accuracy
    ref = {k: np.asarray(v, np.float64) for k, v in p.items()}
    mu = {k: np.zeros_like(v) for k, v in ref.items()}
    nu = {k: np.zeros_like(v) for k, v in ref.items()}
    for t, g in enumerate(gs, start=1):
        for k in ref:
            gk = np.asarray(g[k], np.float64)
            mu[k] = 0.9 * mu[k] + 0.1 * gk
            nu[k] = 0.999 * nu[k] + 0.001 * gk**2
            ref[k] = ref[k] - 1e-2 * (mu[k] / (1 - 0.9**t)) / (np.sqrt(nu[k] / (1 - 0.999**t)) + 1e-8)
    for k in ref:
        np.testing.assert_allclose(np.asarray(p16[k], np.float64), ref[k], rtol=2e-2, atol=2e-2)


def test_array_hyperparameters_keep_their_dtype_unless_hyperparam_dtype_is_given():
    p = {"w": jnp.ones(2, jnp.bfloat16)}
    given = {"b1": jnp.asarray(0.9, jnp.float32), "b2": jnp.asarray(0.95, jnp.bfloat16), "eps": 1e-8}
    state = jax.jit(fo.inject_hyperparams(fo.scale_by_adam)(**given).init)(p)
    assert [state.hyperparams[k].dtype for k in ("b1", "b2", "eps")] == [jnp.float32, jnp.bfloat16, jnp.float32]
    state = fo.inject_hyperparams(fo.scale_by_adam, hyperparam_dtype=jnp.float16)(**given).init(p)
    assert {state.hyperparams[k].dtype for k in ("b1", "b2", "eps")} == {jnp.dtype(jnp.float16)}


def test_static_args_and_vmap_over_learning_rate():
    opt_fn = fo.inject_hyperparams(fo.sgd, static_args="momentum")
    s = opt_fn(0.1, momentum=0.9).init(jnp.zeros(1))
    assert set(s.hyperparams) == {"learning_rate"}

    def one_step(lr):
        opt = fo.inject_hyperparams(fo.sgd)(learning_rate=lr)
        return opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))[0]

    np.testing.assert_allclose(jax.vmap(one_step)(jnp.array([0.1, 0.2])), [[-0.1], [-0.2]], rtol=1e-6)
    with pytest.raises(ValueError, match="b2"):
        fo.inject_hyperparams(fo.adam)(0.1, b2=1.5)
    with pytest.raises(TypeError, match="unexpected"):
        fo.inject_hyperparams(fo.adam)(0.1, bogus=1.0)


def test_against_optax_inject_hyperparams():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 6)
    sched = lambda c: 0.1 * 0.9**c  # noqa: E731
    ours, _, _ = run(fo.inject_hyperparams(fo.sgd)(learning_rate=sched, momentum=0.9), p, gs)
    theirs, _, _ = run(optax.inject_hyperparams(optax.sgd)(learning_rate=sched, momentum=0.9), p, gs)
    chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_state_layout_is_the_same_for_a_constant_and_a_scheduled_hyperparameter():
    # injected values are float32 scalars either way, and the inner transforms keep one state
    # layout (their count) whatever they are given: a checkpoint restores across the switch
    p = params()
    for factory, kw in ((fo.sgd, dict(momentum=0.9)), (fo.adamw, dict(weight_decay=1e-2))):
        const = jax.eval_shape(fo.inject_hyperparams(factory)(0.1, **kw).init, p)
        sched = jax.eval_shape(fo.inject_hyperparams(factory)(lambda count: 0.1 / (1 + count), **kw).init, p)
        assert jax.tree.structure(const) == jax.tree.structure(sched)
        assert [(x.shape, x.dtype) for x in jax.tree.leaves(const)] == [
            (x.shape, x.dtype) for x in jax.tree.leaves(sched)
        ]
    const = fo.inject_hyperparams(fo.sgd)(0.1, momentum=0.9)
    sched = fo.inject_hyperparams(fo.sgd)(lambda count: 0.1 / (1 + count), momentum=0.9)
    s = const.init(p)
    g = grads_seq(p, 1)[0]
    _, s = const.update(g, s, p)
    u, s2 = sched.update(g, s, p)  # the constant's state drives the scheduled optimizer
    np.testing.assert_allclose(fo.get_hyperparam(s2, "learning_rate"), 0.1 / 2, rtol=1e-6)
    assert jax.tree.structure(s2) == jax.tree.structure(s)


# ---------------------------------------------------------------------------------------------------------------
# optax parity: inner_factory=, static_args checks, integers, stateful schedules


def test_inner_factory_keyword_and_static_args_checked_against_the_factory():
    opt = fo.inject_hyperparams(inner_factory=fo.sgd)(learning_rate=0.5)
    np.testing.assert_allclose(opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))[0], [-0.5])
    with pytest.raises(ValueError, match="lr"):
        fo.inject_hyperparams(fo.scale, static_args="lr")
    with pytest.raises(ValueError, match="bogus"):
        fo.inject_hyperparams(fo.adam, static_args=["b1", "bogus"])


def test_static_callables_are_never_called():
    def never(*args, **kwargs):
        raise AssertionError("a static callable was evaluated as a schedule")

    def factory(learning_rate, shaper=None):  # a name that the static-name rule does not catch
        return fo.sgd(learning_rate)

    opt = fo.inject_hyperparams(factory, static_args="shaper")(0.1, shaper=never)
    s = opt.init(jnp.zeros(1))
    assert set(s.hyperparams) == {"learning_rate"}
    opt.update(jnp.ones(1), s)
    fourth_root = lambda c: (c + 1.0) ** 0.25  # noqa: E731
    p = params()
    gs = grads_seq(p, 3)
    injected = fo.inject_hyperparams(fo.adopt, static_args="clip_value_fn")(0.01, clip_value_fn=fourth_root)
    ref, _, _ = run(fo.adopt(0.01, clip_value_fn=fourth_root), p, gs)
    got, _, _ = run(injected, p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6, atol=1e-7)


def test_integer_hyperparameters_stay_integers():
    def factory(learning_rate, every=None, period=3):
        return fo.sgd(learning_rate)

    s = fo.inject_hyperparams(factory)(1, every=jnp.asarray(2, jnp.int32), period=jnp.asarray(4)).init(jnp.zeros(1))
    assert s.hyperparams["learning_rate"].dtype == jnp.float32  # a Python number: a float hyperparameter
    assert s.hyperparams["every"].dtype == jnp.int32 and int(s.hyperparams["every"]) == 2
    assert "period" not in s.hyperparams  # an integer where the default is a Python int: structural, static
    s = fo.inject_hyperparams(fo.noisy_sgd)(0.1, key=jnp.asarray(3, jnp.uint32)).init(jnp.zeros(1))
    assert set(s.hyperparams) == {"learning_rate", "eta", "gamma"}
    optax = pytest.importorskip("optax")
    ref = optax.inject_hyperparams(factory)(1, every=jnp.asarray(2, jnp.int32)).init(jnp.zeros(1))
    assert ref.hyperparams["every"].dtype == jnp.int32


class _Accumulating:
    """A stateful schedule (optax's protocol): the value is the running sum of ``addendum`` extra arguments."""

    def init(self):
        return jnp.zeros([], jnp.float32)

    def update(self, state, **extra_args):
        return state + extra_args["addendum"]

    def __call__(self, state, **extra_args):
        return state


def test_stateful_schedule_against_optax():
    optax = pytest.importorskip("optax")
    g = (jnp.ones(3), jnp.ones(2))
    assert isinstance(_Accumulating(), fo.StatefulSchedule)
    outs = []
    for mod in (fo, optax):
        tx = mod.inject_hyperparams(mod.scale)(step_size=_Accumulating())
        s = jax.jit(tx.init)(g)
        us = []
        for _ in range(3):
            u, s = jax.jit(tx.update)(g, s, g, addendum=jnp.asarray(0.3))
            us.append(u)
        outs.append((us, s))
    (ours, s), (theirs, s_ref) = outs
    assert isinstance(s, fo.InjectStatefulHyperparamsState)
    chex.assert_trees_all_close(ours, theirs)
    np.testing.assert_allclose(s.hyperparams["step_size"], 0.6, rtol=1e-6)
    np.testing.assert_allclose(s.hyperparams_states["step_size"], s_ref.hyperparams_states["step_size"])
    np.testing.assert_allclose(fo.get_hyperparam(s, "step_size"), 0.6, rtol=1e-6)


def test_wrapped_schedule_and_inject_stateful_hyperparams():
    sched = fo.linear_schedule(1.0, 0.0, 10)
    w = fo.WrappedSchedule(sched)
    st = w.init()
    for t in range(4):
        np.testing.assert_allclose(w(st), sched(t))
        st = w.update(st, value=1.0)
    assert int(st.count) == 4
    p = params()
    gs = grads_seq(p, 4)
    ref, _, _ = run(fo.inject_hyperparams(fo.sgd)(learning_rate=sched, momentum=0.5), p, gs)
    got, s, _ = run(fo.inject_stateful_hyperparams(fo.sgd)(learning_rate=sched, momentum=0.5), p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6)
    assert isinstance(s, fo.InjectStatefulHyperparamsState) and int(s.hyperparams_states["learning_rate"].count) == 4
    s = fo.set_hyperparam(s, "momentum", 0.25)
    assert float(fo.current_hyperparams(s)["momentum"]) == 0.25
