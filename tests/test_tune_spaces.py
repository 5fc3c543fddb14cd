"""Search spaces: grid and sample return equal-length 1-D arrays; bad spaces raise clear errors."""

import itertools

import jax
import numpy as np
import pytest

from functional_opt import tune


def test_grid_is_the_cartesian_product_first_axis_slowest():
    g = tune.grid(lr=[0.1, 0.01], wd=[0.0, 1e-4, 1e-2], n=[1, 2])
    expected = list(itertools.product([0.1, 0.01], [0.0, 1e-4, 1e-2], [1, 2]))
    assert set(g) == {"lr", "wd", "n"}
    assert all(v.ndim == 1 and v.shape == (12,) for v in g.values())
    got = list(zip(g["lr"].tolist(), g["wd"].tolist(), g["n"].tolist()))
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6)
    assert g["n"].dtype == np.int32 and g["lr"].dtype == np.float32


def test_grid_single_axis_and_arrays():
    g = tune.grid(lr=np.array([1.0, 2.0, 3.0]))
    assert g["lr"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "axes, err, match",
    [
        ({}, ValueError, "no axes"),
        ({"lr": []}, ValueError, "'lr' is empty"),
        ({"lr": [[0.1, 0.2]]}, ValueError, "1-D"),
        ({"lr": ["a", "b"]}, TypeError, "numbers"),
    ],
)
def test_bad_grids(axes, err, match):
    with pytest.raises(err, match=match):
        tune.grid(**axes)


def test_sample_ranges_shapes_and_reproducibility():
    key = jax.random.key(3)
    dists = dict(lr=tune.log_uniform(1e-4, 1e-1), b1=tune.uniform(0.8, 0.99), bs=tune.choice([16, 32, 64]))
    s = tune.sample(key, 64, **dists)
    assert all(v.shape == (64,) for v in s.values())
    lr, b1, bs = np.asarray(s["lr"]), np.asarray(s["b1"]), np.asarray(s["bs"])
    assert ((lr >= 1e-4) & (lr < 1e-1)).all() and ((b1 >= 0.8) & (b1 < 0.99)).all()
    assert set(bs.tolist()) <= {16, 32, 64} and len(set(bs.tolist())) > 1
    # log-uniform: about half of the draws lie below the geometric midpoint
    assert 16 < (lr < np.sqrt(1e-4 * 1e-1)).sum() < 48
    again = tune.sample(key, 64, **dists)
    assert all(np.array_equal(s[k], again[k]) for k in s)


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: tune.log_uniform(0.0, 1.0), ValueError, "> 0"),
        (lambda: tune.log_uniform(-1.0, 1.0), ValueError, "> 0"),
        (lambda: tune.log_uniform(1e-2, 1e-3), ValueError, "lo < hi"),
        (lambda: tune.uniform(1.0, 1.0), ValueError, "lo < hi"),
        (lambda: tune.uniform(0.0, float("inf")), TypeError, "finite"),
        (lambda: tune.uniform("0", 1.0), TypeError, "finite"),
        (lambda: tune.choice([]), ValueError, "empty"),
        (lambda: tune.sample(jax.random.key(0), 0, lr=tune.uniform(0.0, 1.0)), ValueError, "n must be >= 1"),
        (lambda: tune.sample(jax.random.key(0), 2.0, lr=tune.uniform(0.0, 1.0)), TypeError, "Python int"),
        (lambda: tune.sample(jax.random.key(0), 2), ValueError, "no distributions"),
        (lambda: tune.sample(jax.random.key(0), 2, lr=(0.1, 1.0)), TypeError, "'lr' must be"),
    ],
)
def test_bad_distributions(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_check_configs_mismatched_lengths_and_other_errors():
    with pytest.raises(ValueError, match=r"lengths differ: \{'lr': 2, 'wd': 3\}"):
        tune.check_configs({"lr": [0.1, 0.2], "wd": [0.0, 0.1, 0.2]})
    with pytest.raises(ValueError, match="empty"):
        tune.check_configs({})
    with pytest.raises(TypeError, match="dict"):
        tune.check_configs([0.1, 0.2])
    out = tune.check_configs(tune.grid(lr=[0.1, 0.2], wd=[0.0, 0.1]))
    assert {k: v.shape for k, v in out.items()} == {"lr": (4,), "wd": (4,)}
