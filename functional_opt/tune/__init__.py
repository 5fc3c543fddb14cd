"""Tuning in one compiled program: search spaces, vmapped sweeps and a learning-rate finder.

Every numeric hyperparameter of the library's optimizers, schedules and losses
accepts a traced array, so a whole set of configurations trains side by side
under ``jax.vmap`` in one compiled program, and changing a hyperparameter never
recompiles. This namespace turns that into tools:

* :func:`grid`, :func:`sample` (with :func:`log_uniform`, :func:`uniform`,
  :func:`choice`): configuration sets, dicts of equal-length 1-D arrays;
* :func:`sweep`: every configuration x seed in one jit-compiled vmapped
  program, chunked and sharded over local devices, giving a :class:`SweepResult`;
* :func:`lr_find`: the learning-rate range test, one compiled ``lax.scan``
  (or, with ``parallel=True``, fixed rates trained side by side);
* :func:`pbt`: population-based training, exploit and explore inside one compiled ``lax.scan``;
* :func:`optuna_search`: an Optuna study (TPE by default), each batch of asked
  trials evaluated as one vmapped :func:`sweep` (optuna is an optional extra).
"""

# isort would split the `name as name` re-exports into one statement each; grouped by concept instead.
# ruff: noqa: I001

# --- search spaces: configuration sets, dicts of equal-length 1-D arrays ---
from functional_opt.tune.spaces import (
    Choice as Choice,
    LogUniform as LogUniform,
    Uniform as Uniform,
    check_configs as check_configs,
    choice as choice,
    grid as grid,
    log_uniform as log_uniform,
    sample as sample,
    uniform as uniform,
)

# --- sweeps: every configuration x seed in one compiled program ---
from functional_opt.tune.sweep import StaticHyperparameterError as StaticHyperparameterError, sweep as sweep
from functional_opt.tune.result import Best as Best, SweepResult as SweepResult

# --- the learning-rate range test ---
from functional_opt.tune.lr_find import LRFindResult as LRFindResult, lr_find as lr_find

# --- Optuna search (optuna is optional: imported inside optuna_search only) ---
from functional_opt.tune.optuna import optuna_search as optuna_search

# --- population-based training: exploit and explore inside one compiled lax.scan ---
from functional_opt.tune.pbt import PBTResult as PBTResult, pbt as pbt, pbt_keys as pbt_keys

__all__ = [
    "Best",
    "Choice",
    "LRFindResult",
    "LogUniform",
    "PBTResult",
    "StaticHyperparameterError",
    "SweepResult",
    "Uniform",
    "check_configs",
    "choice",
    "grid",
    "log_uniform",
    "lr_find",
    "optuna_search",
    "pbt",
    "pbt_keys",
    "sample",
    "sweep",
    "uniform",
]
