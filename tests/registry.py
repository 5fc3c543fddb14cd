"""The registry of every optimizer, for the contract tests.

Each entry maps a name to a factory ``learning_rate -> GradientTransformation``
(the learning rate may be a Python number, an array, a tracer or a schedule).
Entries also say which optional contract checks apply.

The entries are grouped by concept, in the order of the public API (core
optimizers, adaptive moments, sign and large-batch methods, memory-light,
learning-rate-free and schedule-free, orthogonalized and second-order, then
wrappers and chains). ``tests/test_contract.py`` (jit, vmap over the learning
rate, scan, no retrace, bf16, None leaves, eval_shape init, extra args),
``tests/test_flat.py``, ``tests/test_checkpoint.py`` and ``tests/test_bad_input.py``
cover every entry automatically.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp

import functional_opt as fo


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    make: Callable  # learning_rate -> GradientTransformation
    # set False for optimizers that need a loss value (`value=`) or a special update signature
    plain_update: bool = True
    # set False when the learning rate cannot be an array/tracer (should be rare)
    vmap_lr: bool = True
    # set False when a bf16 run with zero gradients is not meaningful
    bf16: bool = True
    # extra keyword arguments passed to every update (e.g. {"value": loss})
    extra: dict = dataclasses.field(default_factory=dict)


REGISTRY: dict[str, Entry] = {}


def register(name: str, make: Callable, **kw) -> None:
    if name in REGISTRY:
        raise ValueError(f"duplicate registry entry {name!r}")
    REGISTRY[name] = Entry(name, make, **kw)


def _not_scalar(params):
    return jax.tree.map(lambda p: jnp.ndim(p) > 0, params)


def _stacked_matrices(params):
    return jax.tree.map(lambda x: len(jnp.shape(x)) >= 2, params)


def _sq_loss(p):
    """A loss for any params tree, for the optimizers that need one in ``update``."""
    return sum(jnp.sum(jnp.square(x.astype(jnp.float32) - 0.1)) for x in jax.tree.leaves(p))


# --- gradient descent, momentum, RMSProp, Adam ---
register("gradient_descent", lambda lr: fo.gradient_descent(lr))
register("sgd", lambda lr: fo.sgd(lr))
register("sgd_nesterov", lambda lr: fo.sgd(lr, momentum=0.9, nesterov=True))
register("momentum", lambda lr: fo.momentum(lr, decay=0.9))
register("rmsprop", lambda lr: fo.rmsprop(lr))
register("rmsprop_centered_momentum", lambda lr: fo.rmsprop(lr, centered=True, momentum=0.9, eps_in_sqrt=False))
register("adam", lambda lr: fo.adam(lr))
register("adam_nesterov", lambda lr: fo.adam(lr, nesterov=True))
register("adamw", lambda lr: fo.adamw(lr, weight_decay=1e-2))

# --- adaptive moments: Adam's relatives ---
register("nadam", lambda lr: fo.nadam(lr))
register("nadam_torch", lambda lr: fo.nadam(lr, momentum_decay=4e-3))
register("nadamw", lambda lr: fo.nadamw(lr, weight_decay=1e-2))
register("nadamw_torch", lambda lr: fo.nadamw(lr, weight_decay=1e-2, momentum_decay=4e-3))
register("radam", lambda lr: fo.radam(lr))
register("radam_torch", lambda lr: fo.radam(lr, convention="torch"))
register("amsgrad", lambda lr: fo.amsgrad(lr))
register("amsgrad_optax", lambda lr: fo.amsgrad(lr, max_of_corrected=True))
register("adamax", lambda lr: fo.adamax(lr))
register("adamaxw", lambda lr: fo.adamaxw(lr, weight_decay=1e-2))
register("adabelief", lambda lr: fo.adabelief(lr))
register("yogi", lambda lr: fo.yogi(lr))
register("adan", lambda lr: fo.adan(lr, weight_decay=1e-2))
register("ademamix", lambda lr: fo.ademamix(lr, b3=0.999, weight_decay=1e-2))
register("adopt", lambda lr: fo.adopt(lr))
register("adagrad", lambda lr: fo.adagrad(lr))
register("adagrad_torch", lambda lr: fo.adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False))
register("adadelta", lambda lr: fo.adadelta(lr, weight_decay=1e-3))
register("novograd", lambda lr: fo.novograd(lr, weight_decay=1e-3))

# --- sign-based, noisy and step-size-adapting methods ---
register("sign_sgd", lambda lr: fo.sign_sgd(lr))
register("signum", lambda lr: fo.signum(lr))
register("lion", lambda lr: fo.lion(lr))
# rprop's learning_rate is the initial per-entry step size, not a schedule: a schedule is read at step 0
register("rprop", lambda lr: fo.rprop(lr(0) if callable(lr) else lr))
register("noisy_sgd", lambda lr: fo.noisy_sgd(lr, key=0))
register("polyak_sgd", lambda lr: fo.polyak_sgd(scaling=lr), plain_update=False, extra={"value": 1.0})
register("optimistic_gradient_descent", lambda lr: fo.optimistic_gradient_descent(lr, beta=0.5))
register("optimistic_adam_v2", lambda lr: fo.optimistic_adam_v2(lr))


def _optimistic_adam(lr):
    """optax's first interface: deprecated (as optax, a DeprecationWarning), refuses a schedule (read at step 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fo.optimistic_adam(lr(0) if callable(lr) else lr)


register("optimistic_adam", _optimistic_adam)
register("madgrad", lambda lr: fo.madgrad(lr, weight_decay=1e-3))
register("simplified_ademamix", lambda lr: fo.simplified_ademamix(lr, alpha=1.0, weight_decay=1e-2))
register("acprop", lambda lr: fo.acprop(lr, weight_decay=1e-2))

# --- layer-wise trust ratios (large batch) ---
register("lars", lambda lr: fo.lars(lr, weight_decay=1e-4))
register("lamb", lambda lr: fo.lamb(lr, weight_decay=1e-2))
register("fromage", lambda lr: fo.fromage(lr))

# --- memory-light statistics ---
register("adafactor", lambda lr: fo.adafactor(lr, min_dim_size_to_factor=2, momentum=0.9))
register("adafactor_paper", lambda lr: fo.adafactor(lr, min_dim_size_to_factor=1, relative_step=True))
register("sm3", lambda lr: fo.sm3(lr))
# 8-bit block-quantized moments (min_size=0: every leaf quantized, even the tiny test ones)
register("adamw8bit", lambda lr: fo.adamw8bit(lr, weight_decay=1e-2, min_size=0))

# --- learning-rate-free and schedule-free ---
register("prodigy", lambda lr: fo.prodigy(lr, weight_decay=1e-2))
register("dadapt_adamw", lambda lr: fo.dadapt_adamw(lr, weight_decay=1e-2))
register("schedule_free_sgd", lambda lr: fo.schedule_free_sgd(lr, warmup_steps=2, weight_decay=1e-3))
register("schedule_free_adamw", lambda lr: fo.schedule_free_adamw(lr, warmup_steps=2, weight_decay=1e-2))
# optax.contrib's learning-rate-free methods (the learning rate multiplies their step or gradient)
register("cocob", lambda lr: fo.cocob(lr, weight_decay=1e-3))
register("dog", lambda lr: fo.dog(lr, weight_decay=1e-3))
register("dowg", lambda lr: fo.dowg(lr))
register("mechanize_adam", lambda lr: fo.mechanize(fo.adam(lr)))
register("momo", lambda lr: fo.momo(lr, weight_decay=1e-3), plain_update=False, extra={"value": 1.0})
register("momo_adam", lambda lr: fo.momo_adam(lr, adapt_lower_bound=True), plain_update=False, extra={"value": 1.0})

# --- orthogonalized and second-order ---
register("muon", lambda lr: fo.muon(lr, weight_decay=1e-2))
register("galore", lambda lr: fo.galore(lr, rank=1, update_proj_gap=2, weight_decay=1e-2))
register("lbfgs_no_linesearch", lambda lr: fo.lbfgs(lr, linesearch=None))
register("shampoo", lambda lr: fo.shampoo(lr, momentum=0.9, precondition_frequency=2))
register("sophia", lambda lr: fo.sophia(lr, update_interval=2), plain_update=False, extra={"obj_fn": _sq_loss})
register(
    "sam_sgd",
    lambda lr: fo.sam(fo.sgd(lr, momentum=0.9), rho=0.05),
    plain_update=False,
    extra={"grad_fn": jax.grad(_sq_loss)},
)

# --- chains: clipping, proximal steps, parameter averages ---
register("sgd_prox_l1", lambda lr: fo.chain(fo.sgd(lr), fo.prox_l1(1e-3, lr)))
register("agc_sgd", lambda lr: fo.chain(fo.adaptive_grad_clip(0.1), fo.sgd(lr)))
register("clip_block_rms_sgd", lambda lr: fo.chain(fo.clip(0.5), fo.clip_by_block_rms(0.3), fo.sgd(lr)))
register(
    "named_clip_adamw",
    lambda lr: fo.named_chain(("clip", fo.clip_by_global_norm(1.0)), ("adamw", fo.adamw(lr, weight_decay=1e-2))),
)
register("ema_params_sgd", lambda lr: fo.chain(fo.sgd(lr, momentum=0.9), fo.ema_params(0.9)))
register(
    "adam_reduce_on_plateau",
    lambda lr: fo.chain(fo.adam(lr), fo.reduce_on_plateau(patience=1)),
    plain_update=False,
    extra={"value": 1.0},
)

# --- wrappers: masks, partitions, accumulation, guards, injected hyperparameters, stacked layers ---
register("masked_adam", lambda lr: fo.chain(fo.masked(fo.scale_by_adam(), _not_scalar), fo.scale_by_learning_rate(lr)))
register(
    "partition_adam_sgd",
    lambda lr: fo.partition(
        {"adam": fo.adam(lr), "sgd": fo.sgd(lr, momentum=0.9)},
        fo.labels_by_regex([(r"m|w", "adam")], default="sgd"),
    ),
)
register("freeze_adam", lambda lr: fo.freeze(fo.labels_by_regex([("s|b", True)], default=False), fo.adam(lr)))
register("multi_steps_adam", lambda lr: fo.multi_steps(fo.adam(lr), every_k=2))
register("apply_if_finite_adam", lambda lr: fo.apply_if_finite(fo.adam(lr), max_consecutive_errors=2))
register(
    "skip_loss_spikes_adam",
    lambda lr: fo.skip_loss_spikes(fo.adam(lr), window=4, min_history=2),
    plain_update=False,
    extra={"value": 1.0},
)
register("inject_hyperparams_adam", lambda lr: fo.inject_hyperparams(fo.adam)(learning_rate=lr, b2=0.99))
register("inject_hyperparams_adamw", lambda lr: fo.inject_hyperparams(fo.adamw)(lr, weight_decay=1e-2))
register("lookahead_adam", lambda lr: fo.lookahead(fo.adam(lr), sync_period=2, slow_step_size=0.5))
register("per_layer_lamb", lambda lr: fo.per_layer(fo.lamb(lr), stacked=_stacked_matrices))
