"""Warmup-stable-decay: the numpy float64 formula for each cooldown shape; argument checks."""

import math

import pytest

import functional_opt as fo
from tests.helpers import assert_matches


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("warmup, fraction", [(10, 0.25), (0, 0.1), (7, 0.0)])
def test_warmup_stable_decay(shape, warmup, fraction):
    total, peak, init, end = 100, 1.5, 0.1, 0.05

    def ref(c):
        if c < warmup:
            return init + (peak - init) * c / warmup
        length = fraction * total
        if length == 0:
            s = 1.0 if c >= total else 0.0
        else:
            s = min(max((c - (total - length)) / length, 0.0), 1.0)
        f = {"linear": 1 - s, "cosine": (1 + math.cos(math.pi * s)) / 2, "1-sqrt": 1 - math.sqrt(s)}[shape]
        return end + (peak - end) * f

    assert_matches(fo.warmup_stable_decay_schedule(peak, warmup, total, fraction, init, end, shape), ref)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 100, cooldown_fraction=0.95), "cooldown_fraction"),
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 5), "decay_steps"),
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 100, cooldown_type="exp"), "cooldown_type"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
