"""pbt: concentrates on a known-best hyperparameter, matches a numpy exploit/explore, compiles once."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import tune

LR_STAR = 1e-2


def _log_score(member):
    """A synthetic score, lowest at lr = LR_STAR: (log10 lr - log10 lr*)^2."""
    return (jnp.log10(member["hparams"]["learning_rate"]) - np.log10(LR_STAR)) ** 2


def test_population_concentrates_near_the_best_value():
    size = 16
    pop: Any = {"params": jnp.zeros((size, 2)), "hparams": {"learning_rate": jnp.logspace(-5, 1, size)}}
    r = tune.pbt(lambda m, k: m, pop, intervals=40, steps_per_interval=1, eval_fn=_log_score, key=jax.random.key(3))
    final = np.log10(np.asarray(r.population["hparams"]["learning_rate"]))
    start = np.log10(np.asarray(pop["hparams"]["learning_rate"]))
    err, err0 = np.abs(final - np.log10(LR_STAR)), np.abs(start - np.log10(LR_STAR))
    assert np.median(err) < 0.25 < np.median(err0)
    assert err.max() < 1.0 < err0.max()
    assert r.scores.shape == (40, size) and r.hparams["learning_rate"].shape == (40, size)
    assert np.median(r.scores[-1]) < np.median(r.scores[0])
    # the best lineage's schedule ends at the best member's value
    assert r.schedule()["learning_rate"][-1] == pytest.approx(10 ** float(final[r.best]), rel=1e-5)
    np.testing.assert_array_equal(r.parents[-1], np.arange(size))  # no exploit after the last interval


def _step_fn(member, key):
    """x <- x - lr * (x - noise) + wd * x: uses both hyperparameters and the member's key."""
    hp = member["hparams"]
    noise = jax.random.normal(key, member["x"].shape)
    return {**member, "x": member["x"] - hp["lr"] * (member["x"] - noise) - hp["wd"] * member["x"]}


def _eval_fn(member):
    return jnp.sum((member["x"] - 0.5) ** 2)


def _resample_lr(key):
    return jnp.exp(jax.random.uniform(key, minval=-5.0, maxval=0.0))


def test_exploit_explore_match_numpy_from_the_same_draws():
    size, intervals, steps, n_swap, perturb = 8, 6, 3, 2, (0.8, 1.25)
    key = jax.random.key(11)
    pop: Any = {
        "x": jax.random.normal(jax.random.key(1), (size, 2)),
        "hparams": {"lr": jnp.linspace(0.05, 0.6, size), "wd": jnp.linspace(0.0, 0.1, size)},
    }
    r = tune.pbt(
        _step_fn,
        pop,
        intervals=intervals,
        steps_per_interval=steps,
        eval_fn=_eval_fn,
        key=key,
        fraction=0.25,
        perturb=perturb,
        resample_prob=0.5,
        resample={"lr": _resample_lr},
    )

    x = np.asarray(pop["x"], np.float64)
    paths = {"resampled": 0, "perturbed": 0}
    hp = {n: np.asarray(v, np.float64) for n, v in pop["hparams"].items()}
    for i in range(intervals):
        k_steps, k_donor, per_name = tune.pbt_keys(key, i, ["lr", "wd"])
        np.testing.assert_allclose(r.hparams["lr"][i], hp["lr"], rtol=1e-5)
        np.testing.assert_allclose(r.hparams["wd"][i], hp["wd"], rtol=1e-5)
        for t in range(steps):
            keys = jax.random.split(jax.random.fold_in(k_steps, t), size)
            noise = np.stack([np.asarray(jax.random.normal(k, (2,))) for k in keys])
            x = x - hp["lr"][:, None] * (x - noise) - hp["wd"][:, None] * x
        scores = np.sum((x - 0.5) ** 2, axis=1)
        np.testing.assert_allclose(r.scores[i], scores, rtol=1e-4, atol=1e-6)
        if i == intervals - 1:
            break
        order = np.argsort(scores, kind="stable")
        choice = np.asarray(jax.random.randint(k_donor, (n_swap,), 0, n_swap))
        parents = np.arange(size)
        parents[order[size - n_swap :]] = order[choice]
        np.testing.assert_array_equal(r.parents[i], parents)
        copied = parents != np.arange(size)
        x = x[parents]
        new_hp = {}
        for name, h in hp.items():
            k_factor, k_coin, k_draw = per_name[name]
            h = h[parents]
            factor = np.asarray(perturb)[np.asarray(jax.random.randint(k_factor, (size,), 0, len(perturb)))]
            new = h * factor
            if name == "lr":
                coin = np.asarray(jax.random.uniform(k_coin, (size,))) < 0.5
                drawn = np.array([float(_resample_lr(k)) for k in jax.random.split(k_draw, size)])
                new = np.where(coin, drawn, new)
                paths["resampled"] += int((coin & copied).sum())
                paths["perturbed"] += int((~coin & copied).sum())
            new_hp[name] = np.where(copied, new, h)
        hp = new_hp
    np.testing.assert_allclose(np.asarray(r.population["x"]), x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(r.population["hparams"]["lr"]), hp["lr"], rtol=1e-5)
    # at least one copied lr was resampled and one perturbed: the test covers both paths
    assert paths["resampled"] > 0 and paths["perturbed"] > 0, paths


def test_compiles_once_with_an_optimizer_rebuilt_from_hparams():
    traces = []

    def step_fn(member, key):
        traces.append("step")
        opt = fo.sgd(member["hparams"]["learning_rate"], momentum=0.9)
        g = jax.grad(lambda p: jnp.sum((p - 1.0) ** 2))(member["params"])
        u, s = opt.update(g, member["opt_state"], member["params"])
        return {**member, "params": fo.apply_updates(member["params"], u), "opt_state": s}

    def eval_fn(member):
        traces.append("eval")
        return jnp.sum((member["params"] - 1.0) ** 2)

    def population(lrs):
        params = jnp.zeros((len(lrs), 3))
        opt_state = jax.vmap(fo.sgd(0.1, momentum=0.9).init)(params)
        return {"params": params, "opt_state": opt_state, "hparams": {"learning_rate": jnp.asarray(lrs)}}

    kw: Any = {"intervals": 5, "steps_per_interval": 4, "eval_fn": eval_fn}
    r = tune.pbt(step_fn, population([1e-3, 1e-2, 3e-2, 1e-1]), key=jax.random.key(0), **kw)
    assert traces == ["step", "eval"]
    assert r.scores[-1].min() < r.scores[0].max()
    r2 = tune.pbt(step_fn, population([2e-3, 2e-2, 5e-2, 2e-1]), key=jax.random.key(1), **kw)
    assert traces == ["step", "eval"]  # new hyperparameter values and key: no retrace
    assert jax.tree.structure(r2.population) == jax.tree.structure(population([0.1] * 4))


@pytest.mark.parametrize(
    ("pop", "kw", "match"),
    [
        ({"x": jnp.zeros(4)}, {}, "'hparams'"),
        ({"x": jnp.zeros(3), "hparams": {"lr": jnp.ones(4)}}, {}, "leading population axis"),
        ({"hparams": {"lr": jnp.ones(1)}}, {}, "P >= 2"),
        ({"hparams": {"n": jnp.ones(4, jnp.int32)}}, {}, "float"),
        ({"hparams": {"lr": jnp.ones(4)}}, {"fraction": 0.6}, "fraction"),
        ({"hparams": {"lr": jnp.ones(4)}}, {"perturb": (0.8, -1.0)}, "perturb"),
        ({"hparams": {"lr": jnp.ones(4)}}, {"resample_prob": 0.5}, "samplers"),
        ({"hparams": {"lr": jnp.ones(4)}}, {"resample": {"b1": _resample_lr}}, "'b1'"),
        ({"hparams": {"lr": jnp.ones(4)}}, {"intervals": 0}, "intervals"),
    ],
)
def test_bad_arguments(pop, kw, match):
    args: Any = {"intervals": 2, "steps_per_interval": 1, "eval_fn": _log_score, "key": jax.random.key(0)} | kw
    with pytest.raises((TypeError, ValueError), match=match):
        tune.pbt(lambda m, k: m, pop, **args)


def test_eval_fn_must_return_a_scalar():
    pop = {"x": jnp.zeros((4, 2)), "hparams": {"lr": jnp.ones(4)}}
    with pytest.raises(ValueError, match="scalar per member"):
        tune.pbt(
            lambda m, k: m, pop, intervals=2, steps_per_interval=1, eval_fn=lambda m: m["x"], key=jax.random.key(0)
        )
