"""Eager validation of hyperparameters, schedules, counts and dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import _hparams


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: fo.adam(-1e-3), "learning_rate"),
        (lambda: fo.sgd(float("nan")), "learning_rate"),
        (lambda: fo.adam(1e-3, b1=1.0), "b1"),
        (lambda: fo.adam(1e-3, b1=-0.1), "b1"),
        (lambda: fo.adam(1e-3, b2=1.5), "b2"),
        (lambda: fo.adam(1e-3, eps=-1e-8), "eps"),
        (lambda: fo.rmsprop(1e-3, decay=2.0), "decay"),
        (lambda: fo.rmsprop(1e-3, eps=-1.0), "eps"),
        (lambda: fo.momentum(1e-3, decay=-0.5), "decay"),
        (lambda: fo.sgd(1e-3, momentum=1.5), "momentum"),
        (lambda: fo.adamw(1e-3, weight_decay=-1.0), "weight_decay"),
        (lambda: fo.ema(1.5), "decay"),
    ],
)
def test_bad_numbers_raise_value_error_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: fo.adam("0.1"), "learning_rate"),
        (lambda: fo.adam(True), "learning_rate"),
        (lambda: fo.adam(1e-3, b1=lambda c: 0.9, mu_dtype=jnp.int32), "mu_dtype"),
        (lambda: fo.scale(lambda c: 1.0), "step_size"),
        (lambda: fo.scale_by_schedule(0.1), "step_size_fn"),
    ],
)
def test_bad_types_raise_type_error_naming_the_argument(make, arg):
    with pytest.raises(TypeError, match=arg):
        make()


def test_arrays_and_tracers_are_not_inspected():
    fo.adam(jnp.asarray(-1.0))  # an array is never branched on in Python

    def step(lr):
        opt = fo.adam(lr, b1=lr * 9.0)  # hyperparameters built from tracers
        return opt.update(jnp.ones(2), opt.init(jnp.ones(2)))[0]

    np.testing.assert_allclose(np.asarray(jax.jit(step)(jnp.asarray(0.1))), -0.1, rtol=1e-5)


def test_numpy_scalars_are_validated():
    with pytest.raises(ValueError, match="b1"):
        fo.adam(1e-3, b1=np.float32(1.0))


def test_schedule_must_return_a_scalar():
    opt = fo.sgd(lambda count: jnp.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        opt.update(jnp.ones(3), opt.init(jnp.ones(3)))


def test_schedule_sees_pre_increment_count_and_count_saturates():
    seen = []
    opt = fo.sgd(lambda c: (seen.append(c), 0.1)[1])
    s = opt.init(jnp.ones(1))
    _, s = opt.update(jnp.ones(1), s)
    assert int(seen[0]) == 0 and int(s[1].count) == 1
    big = type(s[1])(count=jnp.asarray(2**31 - 1, jnp.int32))
    _, s2 = opt.update(jnp.ones(1), (s[0], big))
    assert s2[1].count.dtype == jnp.int32 and int(s2[1].count) == 2**31 - 1


def test_safe_increment_and_helpers():
    c = jnp.asarray(_hparams.INT32_MAX - 1, jnp.int32)
    c = _hparams.safe_increment(c)
    assert int(c) == _hparams.INT32_MAX
    assert int(_hparams.safe_increment(c)) == _hparams.INT32_MAX
    assert float(_hparams.one_minus(0.999, None)) == pytest.approx(1e-3, rel=1e-7)
    assert _hparams.compute_dtype(jnp.bfloat16) == jnp.float32


def test_bias_correction_is_accurate_at_large_and_small_counts():
    from functional_opt import _tree

    for t in [1, 2, 10, 1000, 10**6, 2**31 - 1]:
        got = float(_tree.bias_correction_factor(_hparams.log_of(0.999, None), jnp.asarray(t, jnp.int32)))
        ref = 1.0 / (1.0 - 0.999**t)
        assert got == pytest.approx(ref, rel=2e-6), t
