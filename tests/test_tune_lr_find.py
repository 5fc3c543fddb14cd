"""lr_find on a quadratic of curvature L, where gradient descent is stable exactly for lr < 2 / L."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import tune

L = 4.0  # curvature: gradient descent x <- x - lr * L * (x - b) diverges for lr > 2 / L = 0.5
BATCHES = 0.01 * jax.random.normal(jax.random.key(0), (8, 4))  # the minimum moves a little per batch


def loss_fn(params, batch):
    return 0.5 * L * jnp.sum((params - batch) ** 2)


def counted_sgd(calls):
    def make(lr):
        calls.append(1)
        return fo.sgd(lr)

    return make


def test_ramp_suggests_a_stable_rate_and_stops_after_divergence():
    calls = []
    r = tune.lr_find(loss_fn, jnp.ones(4), BATCHES, counted_sgd(calls), min_lr=1e-4, max_lr=10.0, steps=100)
    assert len(calls) == 2  # one init + one trace of the scan body: no retrace per step
    assert r.method == "ramp" and r.diverged
    assert 0 < r.suggestion < 2 / L
    assert 0 < r.suggestion_min_over_10 < 2 / L
    # the recorded rates are a prefix of the geometric ramp ...
    n = len(r.lrs)
    assert 10 < n < 100 and r.losses.shape == r.smoothed.shape == (n,)
    np.testing.assert_allclose(r.lrs, np.geomspace(1e-4, 10.0, 100)[:n], rtol=1e-5)
    # ... ending at the first divergence, which cannot come before the rate leaves the stable range
    assert r.lrs[-1] > 2 / L
    running_best = np.minimum.accumulate(r.smoothed)
    diverging = r.smoothed > 4.0 * running_best
    assert diverging[-1] and not diverging[:-1].any()
    assert np.isfinite(r.losses).all()


def test_ramp_smoothing_is_bias_corrected_ema_of_the_losses():
    r = tune.lr_find(loss_fn, jnp.ones(4), BATCHES, fo.sgd, min_lr=1e-4, max_lr=10.0, steps=60, smoothing=0.9)
    avg, expected = 0.0, []
    for i, loss in enumerate(r.losses.astype(np.float64)):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(r.smoothed, expected, rtol=1e-4)
    # the first raw loss is the initial loss (computed before the first update) on batch 0
    assert r.losses[0] == pytest.approx(float(loss_fn(jnp.ones(4), BATCHES[0])), rel=1e-6)


def test_ramp_without_divergence_records_everything():
    r = tune.lr_find(loss_fn, jnp.ones(4), BATCHES, fo.sgd, min_lr=1e-5, max_lr=0.3, steps=40)
    assert not r.diverged and len(r.lrs) == 40
    assert 0 < r.suggestion <= 0.3


def test_parallel_fixed_rates_via_sweep():
    r = tune.lr_find(
        loss_fn, jnp.ones(4), BATCHES, fo.sgd, min_lr=1e-3, max_lr=10.0, parallel=True, num_lrs=9, parallel_steps=8
    )
    assert r.method == "parallel" and r.diverged
    assert 0 < r.suggestion < 2 / L and r.suggestion_min_over_10 == pytest.approx(r.suggestion / 10)
    all_lrs = np.geomspace(1e-3, 10.0, 9)
    np.testing.assert_allclose(r.lrs, all_lrs[: len(r.lrs)], rtol=1e-6)
    assert r.lrs[-1] > 2 / L and np.all(r.lrs[:-1] < 2 / L + 0.2)
    # each point is an independent fixed-rate run: check one against plain gradient descent
    k = int(np.argmin(r.losses))
    p = jnp.ones(4)
    for i in range(8):
        p = p - r.lrs[k] * jax.grad(loss_fn)(p, BATCHES[i % 8])
    assert r.losses[k] == pytest.approx(float(loss_fn(p, BATCHES[8 % 8])), rel=1e-4, abs=1e-7)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(min_lr=1.0, max_lr=0.1), ValueError, "min_lr < max_lr"),
        (dict(min_lr=0.0), ValueError, "min_lr < max_lr"),
        (dict(steps=1), ValueError, "steps"),
        (dict(smoothing=1.0), ValueError, "smoothing"),
        (dict(diverge_factor=1.0), ValueError, "diverge_factor"),
        (dict(max_lr=float("nan")), TypeError, "finite"),
        (dict(parallel=True, num_lrs=0), ValueError, "num_lrs"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        tune.lr_find(loss_fn, jnp.ones(4), BATCHES, fo.sgd, **kwargs)


def test_bad_batches():
    with pytest.raises(ValueError, match="leading axis"):
        tune.lr_find(loss_fn, jnp.ones(4), {"x": jnp.zeros((3, 4)), "y": jnp.zeros((2,))}, fo.sgd)


def test_plot_writes_png(tmp_path):
    for parallel in (False, True):
        r = tune.lr_find(loss_fn, jnp.ones(4), BATCHES, fo.sgd, min_lr=1e-3, steps=30, parallel=parallel, num_lrs=4)
        path = r.plot(str(tmp_path / f"lr_{parallel}.png"))
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
