"""fo.tune.optuna_search: ask/tell over batches of vmapped sweeps (skipped without optuna)."""

import math
import sys

import jax
import jax.numpy as jnp
import pytest

import functional_opt as fo
from functional_opt import tune

optuna = pytest.importorskip("optuna")


def _log_bowl(hp, key):
    """Best at learning_rate = 0.01: (log10 lr + 2)^2, a 1-D function of the learning rate."""
    del key
    return {"loss": (jnp.log10(hp["learning_rate"]) + 2.0) ** 2}


def test_finds_the_minimum_of_a_1d_function_of_the_learning_rate():
    study = tune.optuna_search(
        _log_bowl, {"learning_rate": tune.log_uniform(1e-6, 1.0)}, n_trials=40, batch=8, metric="loss"
    )
    assert len(study.trials) == 40
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert abs(math.log10(study.best_params["learning_rate"]) + 2.0) < 0.3  # within a factor 2 of 0.01
    assert study.best_value < 0.09


def test_finds_the_best_learning_rate_of_a_quadratic_training_run():
    # gradient descent on 0.5 * L * x^2 for 10 steps: the final loss is minimal at lr = 1/L
    curvature = 4.0

    def train_fn(hp, key):
        x0 = 1.0 + 0.1 * jax.random.normal(key)
        opt = fo.gradient_descent(hp["learning_rate"])

        def step(carry, _):
            x, s = carry
            u, s = opt.update(curvature * x, s, x)
            x = fo.apply_updates(x, u)
            return (x, s), 0.5 * curvature * x**2

        _, curve = jax.lax.scan(step, (x0, opt.init(x0)), length=10)
        return {"loss": curve}

    study = tune.optuna_search(
        train_fn, {"learning_rate": tune.log_uniform(1e-3, 1.0)}, n_trials=32, batch=8, metric="loss", seeds=2
    )
    best = study.best_params["learning_rate"]
    assert 0.15 < best < 0.35, best
    assert len(study.best_trial.user_attrs["per_seed"]) == 2


def test_one_trace_across_batches_and_a_padded_last_batch():
    traces = []

    def train_fn(hp, key):
        traces.append(1)
        return {"loss": (hp["x"] - 0.3) ** 2 + 0.0 * hp["c"] + 0.0 * jax.random.uniform(key)}

    space = {"x": tune.uniform(-1.0, 1.0), "c": tune.choice([1, 2, 3])}
    study = tune.optuna_search(train_fn, space, n_trials=11, batch=4, metric="loss")  # batches 4, 4, 3 (+1 pad)
    assert len(study.trials) == 11
    assert len(traces) == 1
    assert {t.params["c"] for t in study.trials} <= {1, 2, 3}


def test_continues_a_given_study_and_maximizes():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1))
    fn = lambda hp, key: {"score": -((hp["x"] - 0.5) ** 2)}
    tune.optuna_search(fn, {"x": tune.uniform(0.0, 1.0)}, n_trials=6, batch=3, study=study, metric="score", mode="max")
    out = tune.optuna_search(
        fn, {"x": tune.uniform(0.0, 1.0)}, n_trials=6, batch=3, study=study, metric="score", mode="max"
    )
    assert out is study and len(study.trials) == 12
    assert study.best_value <= 0.0
    with pytest.raises(ValueError, match="direction"):
        tune.optuna_search(fn, {"x": tune.uniform(0.0, 1.0)}, n_trials=1, study=study, metric="score")


@pytest.mark.parametrize("nonfinite", ["worst", "fail"])
def test_diverged_trials(nonfinite):
    # loss is nan above x = 0.5: "worst" tells the worst finite value, "fail" marks the trial failed
    fn = lambda hp, key: {"loss": jnp.where(hp["x"] > 0.5, jnp.nan, hp["x"])}
    study = tune.optuna_search(
        fn, {"x": tune.uniform(0.0, 1.0)}, n_trials=16, batch=8, metric="loss", nonfinite=nonfinite
    )
    diverged = [t for t in study.trials if t.params["x"] > 0.5]
    assert diverged and all(math.isnan(t.user_attrs["value"]) for t in diverged)
    finite = [t.value for t in study.trials if t.params["x"] <= 0.5]
    if nonfinite == "worst":
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in diverged)
        assert all(t.value == max(finite) for t in diverged)
    else:
        assert all(t.state == optuna.trial.TrialState.FAIL for t in diverged)
    assert study.best_params["x"] <= 0.5


@pytest.mark.parametrize(
    "space, err, match",
    [
        ({}, ValueError, "empty"),
        ([("lr", tune.log_uniform(1e-3, 1.0))], TypeError, "dict"),
        ({"lr": (1e-3, 1.0)}, TypeError, "log_uniform"),
        ({"lr": [0.1, 0.01]}, TypeError, "'lr'"),
    ],
)
def test_bad_space(space, err, match):
    with pytest.raises(err, match=match):
        tune.optuna_search(_log_bowl, space, n_trials=2, metric="loss")


def test_bad_bounds_are_caught_by_the_distributions():
    with pytest.raises(ValueError, match="lo < hi"):
        tune.log_uniform(1.0, 1e-3)
    with pytest.raises(ValueError, match="> 0"):
        tune.log_uniform(-1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_trials=0), "n_trials"),
        (dict(n_trials=2, batch=0), "batch"),
        (dict(n_trials=2, seeds=0), "seeds"),
        (dict(n_trials=2, mode="best"), "mode"),
        (dict(n_trials=2, nonfinite="skip"), "nonfinite"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tune.optuna_search(_log_bowl, {"learning_rate": tune.log_uniform(1e-3, 1.0)}, metric="loss", **kwargs)


def test_unknown_metric_names_the_returned_ones():
    with pytest.raises(KeyError, match="loss"):
        tune.optuna_search(_log_bowl, {"learning_rate": tune.log_uniform(1e-3, 1.0)}, n_trials=2, metric="acc")


def test_missing_optuna_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install functional-opt\[tune\]"):
        tune.optuna_search(_log_bowl, {"learning_rate": tune.log_uniform(1e-3, 1.0)}, n_trials=2, metric="loss")


def test_optuna_verbosity_is_restored():
    before = optuna.logging.get_verbosity()
    tune.optuna_search(_log_bowl, {"learning_rate": tune.log_uniform(1e-3, 1.0)}, n_trials=2, metric="loss")
    assert optuna.logging.get_verbosity() == before
