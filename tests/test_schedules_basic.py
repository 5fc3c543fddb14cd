"""Values of the basic decays against numpy float64 formulas, optax and torch."""

import math

import jax
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_matches, evaluate, evaluate_optax


def test_constant_and_linear():
    assert_matches(fo.constant_schedule(0.3), lambda c: 0.3)
    assert_matches(
        fo.linear_schedule(1.0, 0.1, 50, transition_begin=10),
        lambda c: 1.0 if c < 10 else (0.1 if c >= 60 else 1.0 + (0.1 - 1.0) * (c - 10) / 50),
    )
    # the end value is exact, not rounded, from B + T on
    assert float(fo.linear_schedule(1.0, 0.01, 100)(100)) == np.float32(0.01)
    assert float(jax.jit(fo.linear_schedule(1.0, 0.01, 100))(100)) == np.float32(0.01)


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_polynomial(power):
    def ref(c):
        t = min(max(c - 7, 0), 40)
        return (2.0 - 0.5) * (1 - t / 40) ** power + 0.5

    assert_matches(fo.polynomial_schedule(2.0, 0.5, power, 40, transition_begin=7), ref)


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("begin", [0, 13])
def test_exponential_decay(staircase, begin):
    def ref(c):
        p = max(c - begin, 0) / 9
        return 0.8 * 0.7 ** (math.floor(p) if staircase else p)

    assert_matches(fo.exponential_decay(0.8, 9, 0.7, transition_begin=begin, staircase=staircase), ref)


def test_exponential_decay_end_value_is_a_bound_in_the_direction_of_decay():
    assert_matches(fo.exponential_decay(1.0, 10, 0.5, end_value=0.2), lambda c: max(0.5 ** (c / 10), 0.2))
    assert_matches(fo.exponential_decay(1.0, 10, 1.5, end_value=3.0), lambda c: min(1.5 ** (c / 10), 3.0))


def test_step_decay():
    assert_matches(fo.step_decay_schedule(0.5, 12, 0.3), lambda c: 0.5 * 0.3 ** (c // 12))


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    def ref(c):
        p = max(c - 5, 0) / 8
        return 2.0 / (1 + 0.4 * (math.floor(p) if staircase else p))

    assert_matches(fo.inverse_time_decay(2.0, 8, 0.4, transition_begin=5, staircase=staircase), ref)


def test_warmups():
    assert_matches(fo.warmup_constant_schedule(0.1, 1.0, 20), lambda c: 0.1 + 0.9 * min(c, 20) / 20)
    assert_matches(fo.warmup_constant_schedule(0.1, 1.0, 0), lambda c: 1.0)
    assert_matches(
        fo.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.8, transition_begin=3, end_value=0.05),
        lambda c: c / 10 if c < 10 else max(0.8 ** (max(c - 13, 0) / 5), 0.05),
    )


def test_piecewise_constant():
    def ref(c):
        return 1.0 * (0.5 if c >= 10 else 1) * (0.1 if c >= 40 else 1) * (2.0 if c >= 41 else 1)

    assert_matches(fo.piecewise_constant_schedule(1.0, {40: 0.1, 10: 0.5, 41: 2.0}), ref)
    assert_matches(fo.piecewise_constant_schedule(0.7), lambda c: 0.7)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_piecewise_interpolate(kind):
    bounds, values = [0, 10, 30, 70], [2.0, 1.0, 0.25, 0.05]  # accumulated: 2, 2*0.5, 1*0.25, 0.25*0.2

    def ref(c):
        for i in range(3):
            lo, hi = bounds[i], bounds[i + 1]
            if lo <= c < hi:
                p = (c - lo) / (hi - lo)
                a, b = values[i], values[i + 1]
                return a + (b - a) * p if kind == "linear" else b + (a - b) * (1 + math.cos(math.pi * p)) / 2
        return values[-1]

    assert_matches(fo.piecewise_interpolate_schedule(kind, 2.0, {10: 0.5, 30: 0.25, 70: 0.2}), ref)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    pairs = [
        (fo.constant_schedule(0.3), optax.constant_schedule(0.3)),
        (fo.linear_schedule(1.0, 0.1, 50, 10), optax.linear_schedule(1.0, 0.1, 50, 10)),
        (fo.polynomial_schedule(1.0, 0.1, 2.0, 50, 10), optax.polynomial_schedule(1.0, 0.1, 2.0, 50, 10)),
        (fo.exponential_decay(1.0, 7, 0.6, 5, True, 0.05), optax.exponential_decay(1.0, 7, 0.6, 5, True, 0.05)),
        (fo.exponential_decay(1.0, 7, 1.2, 5, False, 3.0), optax.exponential_decay(1.0, 7, 1.2, 5, False, 3.0)),
        (fo.warmup_constant_schedule(0.1, 1.0, 20), optax.warmup_constant_schedule(0.1, 1.0, 20)),
        (
            fo.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.8, 3, False, 0.05),
            optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.8, 3, False, 0.05),
        ),
        (
            fo.piecewise_constant_schedule(1.0, {10: 0.5, 40: 0.1}),
            optax.piecewise_constant_schedule(1.0, {10: 0.5, 40: 0.1}),
        ),
        (
            fo.piecewise_interpolate_schedule("linear", 2.0, {10: 0.5, 30: 0.25, 70: 0.2}),
            optax.piecewise_interpolate_schedule("linear", 2.0, {10: 0.5, 30: 0.25, 70: 0.2}),
        ),
        (
            fo.piecewise_interpolate_schedule("cosine", 2.0, {10: 0.5, 30: 0.25, 70: 0.2}),
            optax.piecewise_interpolate_schedule("cosine", 2.0, {10: 0.5, 30: 0.25, 70: 0.2}),
        ),
    ]
    for ours, theirs in pairs:
        want = evaluate_optax(theirs)
        np.testing.assert_allclose(evaluate(ours), want, rtol=1e-5, atol=1e-7)


def test_matches_torch_steplr_and_exponentiallr():
    torch = pytest.importorskip("torch")

    def torch_lrs(make, n=60):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return np.array(out)

    counts = np.arange(60)
    want = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.3))
    np.testing.assert_allclose(evaluate(fo.step_decay_schedule(0.5, 7, 0.3), counts), want, rtol=1e-6)
    want = torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93))
    np.testing.assert_allclose(evaluate(fo.exponential_decay(0.5, 1, 0.93), counts), want, rtol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.linear_schedule(1.0, 0.0, 0), "transition_steps"),
        (lambda: fo.polynomial_schedule(1.0, 0.0, 1.0, 10, transition_begin=-1), "transition_begin"),
        (lambda: fo.polynomial_schedule(1.0, 0.0, -1.0, 10), "power"),
        (lambda: fo.exponential_decay(1.0, -3, 0.5), "transition_steps"),
        (lambda: fo.exponential_decay(1.0, 10, -0.5), "decay_rate"),
        (lambda: fo.exponential_decay(1.0, 10, 0.0), "decay_rate"),
        (lambda: fo.exponential_decay(float("nan"), 10, 0.5), "init_value"),
        (lambda: fo.step_decay_schedule(1.0, 0, 0.5), "step_size"),
        (lambda: fo.step_decay_schedule(1.0, 10, -0.1), "decay_factor"),
        (lambda: fo.inverse_time_decay(1.0, 10, -1.0), "decay_rate"),
        (lambda: fo.piecewise_constant_schedule(1.0, {10: -0.5}), "boundaries_and_scales"),
        (lambda: fo.piecewise_constant_schedule(1.0, {-2: 0.5}), "boundaries_and_scales"),
        (lambda: fo.piecewise_interpolate_schedule("cubic", 1.0, {10: 0.5}), "interpolate_type"),
        (lambda: fo.warmup_constant_schedule(0.0, 1.0, -1), "warmup_steps"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_float_steps_are_a_type_error():
    with pytest.raises(TypeError, match="transition_steps"):
        fo.exponential_decay(1.0, 10.5, 0.5)
