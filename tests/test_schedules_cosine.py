"""Cosine family and one-cycle: numpy float64 formulas, optax and torch.optim.lr_scheduler."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import assert_matches, evaluate, evaluate_optax


def _half_cos(p):
    return (1 + math.cos(math.pi * p)) / 2


@pytest.mark.parametrize("alpha, exponent", [(0.0, 1.0), (0.1, 1.0), (0.05, 2.0)])
def test_cosine_decay(alpha, exponent):
    def ref(c):
        return 0.6 * ((1 - alpha) * _half_cos(min(c, 50) / 50) ** exponent + alpha)

    assert_matches(fo.cosine_decay_schedule(0.6, 50, alpha, exponent), ref)


@pytest.mark.parametrize("warmup", [0, 1, 15])
def test_warmup_cosine(warmup):
    def ref(c):
        if c < warmup:
            return 0.01 + (1.0 - 0.01) * c / warmup
        return 0.1 + (1.0 - 0.1) * _half_cos(min(c - warmup, 80 - warmup) / (80 - warmup))

    assert_matches(fo.warmup_cosine_decay_schedule(0.01, 1.0, warmup, 80, end_value=0.1), ref)


def test_warmup_cosine_with_zero_peak_is_not_nan():
    assert np.all(evaluate(fo.warmup_cosine_decay_schedule(0.0, 0.0, 5, 20)) == 0.0)


def test_sgdr():
    kws = [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30),
        dict(init_value=0.0, peak_value=0.5, warmup_steps=0, decay_steps=60, end_value=0.1),
    ]

    def ref(c):
        if c < 30:
            return c / 5 if c < 5 else _half_cos((c - 5) / 25)
        t = min(c - 30, 60)
        return 0.1 + 0.4 * _half_cos(t / 60)

    assert_matches(fo.sgdr_schedule(kws), ref)


@pytest.mark.parametrize("t_mult, m_mult", [(1, 1.0), (2, 1.0), (3, 0.5), (1.5, 1.0)])
def test_cosine_restarts(t_mult, m_mult):
    def ref(c):
        start, period, k = 0.0, 7.0, 0
        while c >= start + period:
            start, period, k = start + period, period * t_mult, k + 1
        return 2.0 * ((1 - 0.1) * m_mult**k * _half_cos((c - start) / period) + 0.1)

    assert_matches(
        fo.cosine_restarts_schedule(2.0, 7, t_mult=t_mult, alpha=0.1, m_mult=m_mult), ref, counts=np.arange(400)
    )


@pytest.mark.parametrize("t_mult", [1.0, 2.0, 3.0])
def test_cosine_restarts_with_array_t_mult(t_mult):
    import jax.numpy as jnp

    def ref(c):
        start, period = 0.0, 7.0
        while c >= start + period:
            start, period = start + period, period * t_mult
        return _half_cos((c - start) / period)

    assert_matches(
        fo.cosine_restarts_schedule(1.0, 7, t_mult=jnp.float32(t_mult)), ref, counts=np.arange(300), atol=2e-6
    )


def _torch_values(make_scheduler, n, key="lr", momentum=0.0):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=momentum)
    sched = make_scheduler(torch, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0][key])
        opt.step()
        sched.step()
    return np.array(out, np.float64)


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_cosine_restarts_matches_torch(t_mult):
    want = _torch_values(
        lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=t_mult, eta_min=0.05),
        300,
    )
    got = evaluate(fo.cosine_restarts_schedule(1.0, 6, t_mult=t_mult, alpha=0.05), np.arange(300))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_cosine_decay_matches_torch_cosine_annealing_until_t_max():
    want = _torch_values(lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=0.2), 41)
    got = evaluate(fo.cosine_decay_schedule(1.0, 40, alpha=0.2), np.arange(41))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_onecycle_formulas():
    T, peak, b1, b2 = 100, 2.0, 30, 85
    init, final = peak / 25.0, peak / 25.0 / 1e4

    def lin(c):
        segs = [(0, b1, init, peak), (b1, b2, peak, init), (b2, T, init, final)]
        for lo, hi, a, b in segs:
            if lo <= c < hi:
                return a + (b - a) * (c - lo) / (hi - lo)
        return final

    def cos(c):
        segs = [(0, b1, init, peak), (b1, T, peak, final)]
        for lo, hi, a, b in segs:
            if lo <= c < hi:
                return b + (a - b) * _half_cos((c - lo) / (hi - lo))
        return final

    assert_matches(fo.linear_onecycle_schedule(T, peak), lin)
    assert_matches(fo.cosine_onecycle_schedule(T, peak), cos)
    lr, mom = fo.onecycle_schedules(T, peak, base_momentum=0.8, max_momentum=0.9)
    assert_matches(lr, cos)

    def mom_ref(c):
        if c < b1:
            return 0.8 + (0.9 - 0.8) * _half_cos(c / b1)
        return 0.9 + (0.8 - 0.9) * _half_cos(min(c - b1, T - b1) / (T - b1))

    assert_matches(mom, mom_ref)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_onecycle_pair_matches_torch(anneal):
    T, pct = 90, 0.25
    b = int(pct * T)

    def one_cycle(torch, o):
        return torch.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr=0.8,
            total_steps=T + 1,
            pct_start=(b + 1) / (T + 1),
            anneal_strategy=anneal,
            div_factor=10.0,
            final_div_factor=100.0,
            base_momentum=0.8,
            max_momentum=0.92,
        )

    want_lr = _torch_values(one_cycle, T + 1, momentum=0.9)
    want_mom = _torch_values(one_cycle, T + 1, key="momentum", momentum=0.9)
    lr, mom = fo.onecycle_schedules(
        T, 0.8, pct, 10.0, 100.0, 0.8, 0.92, interpolate_type="cosine" if anneal == "cos" else "linear"
    )
    counts = np.arange(T + 1)
    np.testing.assert_allclose(evaluate(lr, counts), want_lr, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(evaluate(mom, counts), want_mom, rtol=1e-5, atol=1e-7)


def test_matches_optax():
    optax = pytest.importorskip("optax")
    kws = [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30),
        dict(init_value=0.0, peak_value=0.5, warmup_steps=3, decay_steps=60, end_value=0.1),
    ]
    pairs = [
        (fo.cosine_decay_schedule(0.6, 50, 0.1, 2.0), optax.cosine_decay_schedule(0.6, 50, 0.1, 2.0)),
        (
            fo.warmup_cosine_decay_schedule(0.01, 1.0, 15, 80, 0.1, 1.5),
            optax.warmup_cosine_decay_schedule(0.01, 1.0, 15, 80, 0.1, 1.5),
        ),
        (fo.sgdr_schedule(kws), optax.sgdr_schedule(kws)),
        (fo.linear_onecycle_schedule(100, 2.0), optax.linear_onecycle_schedule(100, 2.0)),
        (
            fo.cosine_onecycle_schedule(110, 2.0, 0.2, 10.0, 100.0),
            optax.cosine_onecycle_schedule(110, 2.0, 0.2, 10.0, 100.0),
        ),
    ]
    for ours, theirs in pairs:
        want = evaluate_optax(theirs)
        np.testing.assert_allclose(evaluate(ours), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fo.cosine_decay_schedule(1.0, 0), "decay_steps"),
        (lambda: fo.cosine_decay_schedule(1.0, 10, alpha=-0.1), "alpha"),
        (lambda: fo.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), "decay_steps"),
        (lambda: fo.sgdr_schedule([]), "cycle"),
        (lambda: fo.cosine_restarts_schedule(1.0, 10, t_mult=0.5), "t_mult"),
        (lambda: fo.cosine_onecycle_schedule(0, 1.0), "transition_steps"),
        (lambda: fo.cosine_onecycle_schedule(10, 1.0, pct_start=1.5), "pct_start"),
        (lambda: fo.linear_onecycle_schedule(10, 1.0, pct_start=0.5, pct_final=0.4), "pct_final"),
        (lambda: fo.onecycle_schedules(10, 1.0, base_momentum=1.5), "base_momentum"),
        (lambda: fo.onecycle_schedules(10, 1.0, interpolate_type="cubic"), "interpolate_type"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_warmup_cosine_zero_peak_matches_optax():
    """optax replaces end_value / peak_value by 0 when peak_value == 0: zero after the warmup."""
    counts = np.arange(0, 40)
    for args in [(0.1, 0.0, 10, 30, 0.05), (0.0, 0.0, 0, 30, 0.01)]:
        got = np.asarray([float(fo.warmup_cosine_decay_schedule(*args)(c)) for c in counts])
        w = args[2]
        want = np.where(counts < w, args[0] * (1 - counts / max(w, 1)), 0.0)
        np.testing.assert_allclose(got, want, atol=1e-7)
        traced = jax.jit(lambda c, pk, a=args: fo.warmup_cosine_decay_schedule(a[0], pk, *a[2:])(c))
        np.testing.assert_allclose([float(traced(c, jnp.float32(0.0))) for c in (w, w + 5, 35)], 0.0, atol=1e-7)
        optax = pytest.importorskip("optax")
        ref = optax.warmup_cosine_decay_schedule(*args)
        np.testing.assert_allclose(got, [float(ref(c)) for c in counts], atol=1e-7)


def test_cosine_decay_longer_than_int32():
    T = 2**31 + 10
    s = fo.cosine_decay_schedule(1.0, T)
    counts = [0, 2**30, 2**31 - 1]
    want = [0.5 * (1 + np.cos(np.pi * c / T)) for c in counts]
    np.testing.assert_allclose([float(s(jnp.int32(c))) for c in counts], want, atol=1e-6)
    w = fo.warmup_cosine_decay_schedule(0.0, 1.0, 10, T)
    assert np.isfinite(float(w(jnp.int32(2**31 - 1))))
    optax = pytest.importorskip("optax")
    ref = optax.cosine_decay_schedule(1.0, T)
    np.testing.assert_allclose([float(s(c)) for c in counts], [float(ref(c)) for c in counts], atol=1e-6)
