"""join/multiply, and properties every schedule must have: jit, vmap over counts and over
hyperparameters, int32 counts up to 2**31 - 1 without overflow or NaN, float32 output."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_matches, evaluate, evaluate_optax

INT32_MAX = 2**31 - 1


def test_join_boundaries():
    sched = fo.join_schedules(
        [fo.constant_schedule(1.0), fo.linear_schedule(2.0, 0.0, 10), fo.constant_schedule(5.0)], [7, 20]
    )

    def ref(c):
        if c < 7:
            return 1.0
        if c < 20:
            return 2.0 - 2.0 * min(c - 7, 10) / 10
        return 5.0

    assert_matches(sched, ref)
    assert [float(sched(c)) for c in (6, 7, 19, 20)] == [1.0, 2.0, 0.0, 5.0]


def test_join_matches_optax():
    optax = pytest.importorskip("optax")
    ours = fo.join_schedules([fo.linear_schedule(0.0, 1.0, 5), fo.exponential_decay(1.0, 3, 0.5)], [5])
    theirs = optax.join_schedules([optax.linear_schedule(0.0, 1.0, 5), optax.exponential_decay(1.0, 3, 0.5)], [5])
    np.testing.assert_allclose(evaluate(ours), evaluate_optax(theirs), rtol=1e-6)


def test_multiply():
    sched = fo.multiply_schedules([fo.linear_schedule(0.0, 1.0, 10), 0.5, fo.step_decay_schedule(2.0, 20, 0.1)])
    assert_matches(sched, lambda c: min(c, 10) / 10 * 0.5 * 2.0 * 0.1 ** (c // 20))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.join_schedules([], []), "at least one"),
        (lambda: fo.join_schedules([fo.constant_schedule(1.0)] * 2, []), "boundaries"),
        (lambda: fo.join_schedules([fo.constant_schedule(1.0)] * 3, [10, 5]), "non-decreasing"),
        (lambda: fo.join_schedules([fo.constant_schedule(1.0)] * 2, [-1]), "boundaries"),
        (lambda: fo.multiply_schedules([]), "at least one"),
    ],
)
def test_combinator_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# one instance of every schedule; `h` is a float hyperparameter that may be a traced array
ALL = {
    "constant": lambda h: fo.constant_schedule(h),
    "linear": lambda h: fo.linear_schedule(h, 0.0, 100, 10),
    "polynomial": lambda h: fo.polynomial_schedule(h, 0.01, 2.0, 100, 10),
    "exponential": lambda h: fo.exponential_decay(h, 10, 0.9, 5, end_value=1e-3),
    "exponential_staircase": lambda h: fo.exponential_decay(h, 10, 0.9, staircase=True),
    "step_decay": lambda h: fo.step_decay_schedule(h, 30, 0.5),
    "inverse_time": lambda h: fo.inverse_time_decay(h, 10, 0.5),
    "piecewise_constant": lambda h: fo.piecewise_constant_schedule(h, {50: 0.1, 100: 0.1}),
    "piecewise_interpolate": lambda h: fo.piecewise_interpolate_schedule("cosine", h, {50: 0.1, 100: 0.1}),
    "warmup_constant": lambda h: fo.warmup_constant_schedule(0.0, h, 10),
    "warmup_exponential": lambda h: fo.warmup_exponential_decay_schedule(0.0, h, 10, 10, 0.9),
    "cosine": lambda h: fo.cosine_decay_schedule(h, 100, 0.1),
    "warmup_cosine": lambda h: fo.warmup_cosine_decay_schedule(0.0, h, 10, 100),
    "sgdr": lambda h: fo.sgdr_schedule([dict(init_value=0.0, peak_value=h, warmup_steps=5, decay_steps=50)] * 2),
    "cosine_restarts": lambda h: fo.cosine_restarts_schedule(h, 10, t_mult=2, m_mult=0.9),
    "cosine_restarts_float_mult": lambda h: fo.cosine_restarts_schedule(h, 10, t_mult=1.5),
    "cosine_restarts_array_mult": lambda h: fo.cosine_restarts_schedule(h, 10, t_mult=jnp.float32(2.0)),
    "linear_onecycle": lambda h: fo.linear_onecycle_schedule(100, h),
    "cosine_onecycle": lambda h: fo.cosine_onecycle_schedule(100, h),
    "onecycle_momentum": lambda h: fo.onecycle_schedules(100, 1.0, base_momentum=h * 0.8, max_momentum=h)[1],
    "wsd": lambda h: fo.warmup_stable_decay_schedule(h, 10, 100, 0.2, cooldown_type="1-sqrt"),
    "inverse_sqrt": lambda h: fo.inverse_sqrt_schedule(h, 10),
    "cyclic": lambda h: fo.cyclic_schedule(0.0, h, 7, 5, mode="triangular2"),
    "cyclic_exp_range": lambda h: fo.cyclic_schedule(0.0, h, 7, 5, mode="exp_range", gamma=0.999),
    "join": lambda h: fo.join_schedules([fo.constant_schedule(h), fo.cosine_decay_schedule(h, 50)], [20]),
    "multiply": lambda h: fo.multiply_schedules(
        [fo.warmup_constant_schedule(0.0, 1.0, 10), fo.cosine_decay_schedule(h, 100)]
    ),
}

PUBLIC_SCHEDULES = {
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "exponential_decay",
    "step_decay_schedule",
    "inverse_time_decay",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "warmup_constant_schedule",
    "warmup_exponential_decay_schedule",
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "sgdr_schedule",
    "cosine_restarts_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
    "onecycle_schedules",
    "warmup_stable_decay_schedule",
    "inverse_sqrt_schedule",
    "cyclic_schedule",
    "join_schedules",
    "multiply_schedules",
}


def test_all_public_schedules_are_exported():
    assert PUBLIC_SCHEDULES <= set(fo.__all__)
    assert PUBLIC_SCHEDULES <= set(fo.schedules.__all__)


@pytest.mark.parametrize("name", sorted(ALL))
def test_jit_vmap_large_counts_and_traced_hyperparameters(name):
    make = ALL[name]
    sched = make(0.7)
    counts = jnp.array([0, 1, 9, 10, 11, 55, 99, 100, 101, 1000, 2**24 + 1, INT32_MAX - 1, INT32_MAX], jnp.int32)
    eager = np.asarray(sched(counts))
    assert eager.dtype == np.float32 and eager.shape == counts.shape
    assert np.all(np.isfinite(eager)), eager
    # a Python int count and a float count give the same value as the int32 one
    np.testing.assert_allclose(float(sched(55)), eager[5], rtol=1e-6)
    np.testing.assert_allclose(float(sched(jnp.float32(55.0))), eager[5], rtol=1e-5)

    # one compiled function: vmap over a traced float hyperparameter, vmap over counts, a scalar count
    @jax.jit
    def traced(hs, counts, last):
        return jax.vmap(lambda h: make(h)(counts))(hs), jax.vmap(sched)(counts), sched(last)

    by_h, by_count, at_max = traced(jnp.array([0.7, 0.35], jnp.float32), counts, jnp.int32(INT32_MAX))
    # (XLA may contract a - b * c into an FMA under jit: equal up to float32 rounding)
    np.testing.assert_allclose(np.asarray(by_count), eager, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(at_max), eager[-1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(by_h[0]), eager, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(np.asarray(by_h)))
    assert not np.allclose(np.asarray(by_h[1]), eager)  # the traced hyperparameter is really used


def test_schedules_drive_an_optimizer_under_jit():
    opt = fo.sgd(fo.warmup_cosine_decay_schedule(0.0, 0.1, 2, 10), momentum=fo.onecycle_schedules(10, 0.1)[1])
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    step = jax.jit(lambda p, s: opt.update(jax.tree.map(jnp.ones_like, p), s, p))
    updates, state = step(params, state)
    np.testing.assert_allclose(np.asarray(updates["w"]), 0.0)  # schedule(0) = init_value = 0
    updates, state = step(params, state)
    np.testing.assert_allclose(
        np.asarray(updates["w"]), -0.05 * (1 + float(fo.onecycle_schedules(10, 0.1)[1](1))), rtol=1e-5
    )
