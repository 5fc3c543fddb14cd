"""WSD, inverse square root and cyclical schedules: numpy float64 formulas and torch's CyclicLR."""

import math

import numpy as np
import pytest

import functional_opt as fo
from tests._schedule_refs import assert_matches, evaluate


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
    want = d_model ** -0.5 * np.minimum(counts ** -0.5, counts * warmup ** -1.5)
    np.testing.assert_allclose(evaluate(sched, counts), want, rtol=1e-5)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("up, down", [(5, None), (4, 7)])
def test_cyclic_formula(mode, up, down):
    d = up if down is None else down
    total = up + d

    def ref(c):
        x, cycle = c % total, c // total
        h = x / up if x <= up else (total - x) / d
        a = {"triangular": 1.0, "triangular2": 0.5 ** cycle, "exp_range": 0.98 ** c}[mode]
        return 0.1 + (1.0 - 0.1) * h * a

    assert_matches(fo.cyclic_schedule(0.1, 1.0, up, down, mode=mode, gamma=0.98), ref)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_matches_torch(mode):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.05, max_lr=0.8, step_size_up=6, step_size_down=9,
                                              mode=mode, gamma=0.99, cycle_momentum=False)
    want = []
    for _ in range(100):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = evaluate(fo.cyclic_schedule(0.05, 0.8, 6, 9, mode=mode, gamma=0.99), np.arange(100))
    np.testing.assert_allclose(got, np.array(want), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 100, cooldown_fraction=0.95), "cooldown_fraction"),
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 5), "decay_steps"),
        (lambda: fo.warmup_stable_decay_schedule(1.0, 10, 100, cooldown_type="exp"), "cooldown_type"),
        (lambda: fo.inverse_sqrt_schedule(1.0, 0), "timescale"),
        (lambda: fo.inverse_sqrt_schedule(1.0, 10, timescale=-1.0), "timescale"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 0), "step_size_up"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, 0), "step_size_down"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, mode="sine"), "mode"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, gamma=0.0), "gamma"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
