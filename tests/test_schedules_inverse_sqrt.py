"""Inverse square root schedule: the numpy float64 formula and the Transformer's rate; argument checks."""

import math

import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_matches, evaluate


@pytest.mark.parametrize("warmup, timescale", [(16, None), (16, 50.0), (0, 10.0)])
def test_inverse_sqrt(warmup, timescale):
    tau = warmup if timescale is None else timescale

    def ref(c):
        if c < warmup:
            return 0.01 + (2.0 - 0.01) * c / warmup
        return 2.0 * math.sqrt(tau / (tau + c - warmup))

    assert_matches(fo.inverse_sqrt_schedule(2.0, warmup, init_value=0.01, timescale=timescale), ref)


def test_inverse_sqrt_is_the_transformer_rate():
    d_model, warmup = 512, 40
    sched = fo.inverse_sqrt_schedule((d_model * warmup) ** -0.5, warmup)
    counts = np.arange(1, 200)
    want = d_model**-0.5 * np.minimum(counts**-0.5, counts * warmup**-1.5)
    np.testing.assert_allclose(evaluate(sched, counts), want, rtol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.inverse_sqrt_schedule(1.0, 0), "timescale"),
        (lambda: fo.inverse_sqrt_schedule(1.0, 10, timescale=-1.0), "timescale"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
