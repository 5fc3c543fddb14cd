"""Cyclical schedules: the numpy float64 formula and torch's CyclicLR; argument checks."""

import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_matches, evaluate


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("up, down", [(5, None), (4, 7)])
def test_cyclic_formula(mode, up, down):
    d = up if down is None else down
    total = up + d

    def ref(c):
        x, cycle = c % total, c // total
        h = x / up if x <= up else (total - x) / d
        a = {"triangular": 1.0, "triangular2": 0.5**cycle, "exp_range": 0.98**c}[mode]
        return 0.1 + (1.0 - 0.1) * h * a

    assert_matches(fo.cyclic_schedule(0.1, 1.0, up, down, mode=mode, gamma=0.98), ref)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_matches_torch(mode):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CyclicLR(
        opt, base_lr=0.05, max_lr=0.8, step_size_up=6, step_size_down=9, mode=mode, gamma=0.99, cycle_momentum=False
    )
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
        (lambda: fo.cyclic_schedule(0.1, 1.0, 0), "step_size_up"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, 0), "step_size_down"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, mode="sine"), "mode"),
        (lambda: fo.cyclic_schedule(0.1, 1.0, 5, gamma=0.0), "gamma"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
