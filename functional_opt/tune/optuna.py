"""``optuna_search``: an Optuna study driven by ask/tell, each batch of trials evaluated as one vmapped sweep.

Optuna is an optional dependency (``pip install functional-opt[tune]``), imported
inside :func:`optuna_search` only, so ``import functional_opt`` never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from functional_opt.tune.spaces import Choice, LogUniform, Uniform
from functional_opt.tune.sweep import sweep

__all__ = ["optuna_search"]

_INSTALL = "optuna_search needs optuna (an optional dependency): pip install functional-opt[tune]"


def _distributions(space: Any, optuna: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``space`` as Optuna distributions, and each name's numpy dtype for the configuration arrays."""
    if not isinstance(space, Mapping):
        raise TypeError(f"optuna_search: space must be a dict {{name: distribution}}, got {type(space).__name__}")
    if not space:
        raise ValueError("optuna_search: space is empty; give at least one name=log_uniform(lo, hi)/uniform/choice")
    dists: dict[str, Any] = {}
    dtypes: dict[str, Any] = {}
    for name, d in space.items():
        if not isinstance(name, str):
            raise TypeError(f"optuna_search: hyperparameter names must be strings, got {name!r}")
        if isinstance(d, LogUniform):
            dists[name] = optuna.distributions.FloatDistribution(d.lo, d.hi, log=True)
            dtypes[name] = np.float32
        elif isinstance(d, Uniform):
            dists[name] = optuna.distributions.FloatDistribution(d.lo, d.hi)
            dtypes[name] = np.float32
        elif isinstance(d, Choice):
            values = np.asarray(d.values)
            dists[name] = optuna.distributions.CategoricalDistribution(tuple(values.tolist()))
            dtypes[name] = values.dtype
        else:
            raise TypeError(
                f"optuna_search: space[{name!r}] must be fo.tune.log_uniform(lo, hi), uniform(lo, hi) or "
                f"choice(values), got {d!r}"
            )
    return dists, dtypes


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"optuna_search: {name} must be a Python int >= 1, got {v!r}")
    return int(v)


def optuna_search(
    train_fn: Callable[[dict[str, jax.Array], jax.Array], Mapping[str, Any]],
    space: Mapping[str, LogUniform | Uniform | Choice],
    *,
    n_trials: int,
    batch: int = 16,
    study: Any = None,
    metric: str,
    mode: str = "min",
    seeds: int = 1,
    key: jax.Array | None = None,
    sampler_seed: int = 0,
    nonfinite: str = "worst",
) -> Any:
    """Search ``space`` with an Optuna study, evaluating each batch of asked trials as one vmapped :func:`sweep`.

    The loop is Optuna's ask/tell interface: ask ``batch`` trials (with the fixed distributions
    translated from ``space``), run them together with :func:`sweep` (all trials x ``seeds`` in one
    compiled program), tell each trial its metric, repeat until ``n_trials`` trials are told.

    Conventions:

    * ``space`` maps names to :func:`log_uniform` (``FloatDistribution(lo, hi, log=True)``),
      :func:`uniform` (``FloatDistribution(lo, hi)``) or :func:`choice`
      (``CategoricalDistribution(values)``); ``train_fn`` receives them as 0-d float32 arrays
      (a choice keeps its values' dtype), exactly as in :func:`sweep`;
    * the value told is the metric's last element (the final value of a curve) averaged over
      ``seeds``; every batch uses the same ``key``, so all trials share their seeds' initialisations
      and batches (common random numbers);
    * a short last batch is padded with copies of its last trial (results dropped), so every batch
      has the same shape and ``train_fn`` is traced once for the whole search;
    * a non-finite value (a diverged run): ``nonfinite="worst"`` (default) tells the worst finite
      value told so far in this call, including the current batch, so the sampler learns to avoid
      the region (``TrialState.FAIL`` while there is none yet); ``nonfinite="fail"`` always tells
      ``TrialState.FAIL`` (Optuna's samplers then ignore the trial). The raw value and the
      per-seed values are kept in each trial's user attributes ``"value"`` and ``"per_seed"``;
    * with ``study=None``, a new in-memory study: ``optuna.create_study(direction=...,
      sampler=optuna.samplers.TPESampler(seed=sampler_seed))``. A given study (its own sampler,
      storage, earlier trials) must be single-objective with the direction ``mode`` names.
      Optuna's logging is set to WARNING during the call (restored after).

    Args:
        train_fn: ``(hparams, key) -> dict of metrics``, as for :func:`sweep`.
        space: ``{name: log_uniform | uniform | choice}``.
        n_trials: trials to run in this call, ``>= 1``.
        batch: trials per sweep, ``>= 1`` (more explores in parallel, fewer lets TPE adapt sooner).
        study: an ``optuna.Study`` to continue, or ``None`` for a new one.
        metric: the key of ``train_fn``'s result to optimize.
        mode: ``"min"`` or ``"max"``.
        seeds: seeds per trial, ``>= 1``.
        key: PRNG key (default ``jax.random.key(0)``).
        sampler_seed: the TPE sampler's seed when ``study`` is ``None``.
        nonfinite: ``"worst"`` or ``"fail"`` (see above).

    Returns:
        The ``optuna.Study`` (``study.best_params``, ``study.best_value``, ``study.trials_dataframe()``).

    Raises:
        ImportError: optuna is not installed.
        TypeError: a bad ``space`` (a value that is not one of the three distributions) or bad counts.
        ValueError: an empty ``space``, bad counts, ``mode`` or ``nonfinite``, a study of the wrong
            direction, or a ``metric`` that ``train_fn`` does not return.

    Examples:
        >>> import jax.numpy as jnp
        >>> from functional_opt import tune
        >>> train_fn = lambda hp, key: {"loss": (jnp.log10(hp["lr"]) + 2.0) ** 2}  # best at lr = 0.01
        >>> space = {"lr": tune.log_uniform(1e-5, 1.0)}
        >>> study = tune.optuna_search(train_fn, space, n_trials=32, batch=8, metric="loss")
        >>> 3e-3 < study.best_params["lr"] < 3e-2
        True

    References:
        Akiba et al., "Optuna: a next-generation hyperparameter optimization framework", KDD 2019.
        Bergstra et al., "Algorithms for hyper-parameter optimization", NeurIPS 2011 (TPE).
    """
    try:
        import optuna
    except ImportError as err:
        raise ImportError(_INSTALL) from err

    dists, dtypes = _distributions(space, optuna)
    n_trials = _positive_int("n_trials", n_trials)
    batch = _positive_int("batch", batch)
    seeds = _positive_int("seeds", seeds)
    if mode not in ("min", "max"):
        raise ValueError(f"optuna_search: mode must be 'min' or 'max', got {mode!r}")
    if nonfinite not in ("worst", "fail"):
        raise ValueError(f"optuna_search: nonfinite must be 'worst' or 'fail', got {nonfinite!r}")
    if not isinstance(metric, str):
        raise TypeError(f"optuna_search: metric must be the name of one of train_fn's metrics, got {metric!r}")
    direction = optuna.study.StudyDirection.MINIMIZE if mode == "min" else optuna.study.StudyDirection.MAXIMIZE
    if study is not None:
        if len(study.directions) != 1:
            raise ValueError("optuna_search: the study must be single-objective (one direction)")
        if study.direction != direction:
            raise ValueError(f"optuna_search: mode={mode!r} but the study's direction is {study.direction.name}")
    if key is None:
        key = jax.random.key(0)
    # traced once: every batch has the same shapes and dtypes, and this wrapper is the same function each time
    traced_fn = jax.jit(train_fn)

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if study is None:
            study = optuna.create_study(
                direction="minimize" if mode == "min" else "maximize",
                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
            )
        worst = -math.inf if mode == "min" else math.inf
        pick_worst = max if mode == "min" else min
        size = min(batch, n_trials)
        told = 0
        while told < n_trials:
            trials = [study.ask(dists) for _ in range(min(size, n_trials - told))]
            rows = trials + [trials[-1]] * (size - len(trials))  # pad: one shape for every batch
            configs = {name: np.asarray([t.params[name] for t in rows], dtypes[name]) for name in dists}
            result = sweep(traced_fn, configs, seeds=seeds, key=key)
            if metric not in result.metrics:
                for t in trials:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                raise KeyError(f"optuna_search: unknown metric {metric!r}; train_fn returned {sorted(result.metrics)}")
            v = np.asarray(result.metrics[metric], np.float64)
            per_seed = v.reshape(v.shape[:2] + (-1,))[: len(trials), :, -1]
            values = per_seed.mean(axis=1)
            finite = values[np.isfinite(values)]
            if finite.size:
                worst = pick_worst(worst, float(pick_worst(finite)))
            for t, value, ps in zip(trials, values, per_seed):
                t.set_user_attr("value", float(value))
                t.set_user_attr("per_seed", ps.tolist())
                if math.isfinite(value):
                    study.tell(t, float(value))
                elif nonfinite == "worst" and math.isfinite(worst):
                    study.tell(t, worst)
                else:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
            told += len(trials)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study
