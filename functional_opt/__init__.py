"""functional_opt: optimizers as pure ``(init, update)`` pairs over pytrees.

Import everything from here::

    import functional_opt as fo
    opt = fo.adam(1e-3)

The public API is the explicit list below (``__all__``); each section is
owned by one area of the library.
"""

__version__ = "0.1.0"

# --- core (base, transforms, tutorial optimizers) ---
from functional_opt.base import (
    EmptyState,
    GradientTransformation,
    apply_updates,
    chain,
    identity,
    stateless,
)
from functional_opt.transforms.adam import ScaleByAdamState, scale_by_adam
from functional_opt.transforms.momentum import (
    EmaState,
    TraceState,
    ema,
    trace,
)
from functional_opt.transforms.rms import ScaleByRmsState, scale_by_rms
from functional_opt.transforms.scaling import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from functional_opt.transforms.weight_decay import AddDecayedWeightsState, add_decayed_weights
from functional_opt.optimizers.core import (
    adam,
    adamw,
    gradient_descent,
    momentum,
    rmsprop,
    sgd,
)
from functional_opt._tree import global_norm

_CORE = [
    "EmptyState", "GradientTransformation", "apply_updates", "chain", "identity", "stateless",
    "ScaleByAdamState", "scale_by_adam", "EmaState", "TraceState", "ema",
    "trace", "ScaleByRmsState", "scale_by_rms", "ScaleByScheduleState", "scale",
    "scale_by_learning_rate", "scale_by_schedule", "AddDecayedWeightsState", "add_decayed_weights",
    "adam", "adamw", "gradient_descent", "momentum", "rmsprop", "sgd", "global_norm",
]

# --- issue 3: losses, regularizers, dropout, batch norm ---
from functional_opt.losses import (
    cosine_distance,
    cosine_similarity,
    huber_loss,
    l2_loss,
    log_cosh,
    squared_error,
)
from functional_opt.losses_classification import (
    hinge_loss,
    kl_divergence,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from functional_opt.regularizers import dropout, elastic_net_penalty, l1_penalty, l2_penalty
from functional_opt.batch_norm import BatchNormStats, batch_norm, batch_norm_init
from functional_opt.transforms.proximal import ProxL1State, prox_l1

_LOSSES = [
    "cosine_distance", "cosine_similarity", "huber_loss", "l2_loss", "log_cosh", "squared_error",
    "hinge_loss", "kl_divergence", "sigmoid_binary_cross_entropy", "sigmoid_focal_loss",
    "smooth_labels", "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
    "dropout", "elastic_net_penalty", "l1_penalty", "l2_penalty",
    "BatchNormStats", "batch_norm", "batch_norm_init", "ProxL1State", "prox_l1",
]

# --- issue 4: schedules ---
from functional_opt.schedules.basic import (
    constant_schedule,
    exponential_decay,
    inverse_time_decay,
    linear_schedule,
    polynomial_schedule,
    step_decay_schedule,
    warmup_constant_schedule,
    warmup_exponential_decay_schedule,
)
from functional_opt.schedules.combine import join_schedules, multiply_schedules
from functional_opt.schedules.cosine import (
    cosine_decay_schedule,
    cosine_restarts_schedule,
    sgdr_schedule,
    warmup_cosine_decay_schedule,
)
from functional_opt.schedules.modern import (
    cyclic_schedule,
    inverse_sqrt_schedule,
    warmup_stable_decay_schedule,
)
from functional_opt.schedules.onecycle import (
    cosine_onecycle_schedule,
    linear_onecycle_schedule,
    onecycle_schedules,
)
from functional_opt.schedules.piecewise import (
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
)
from functional_opt.transforms.plateau import ReduceLROnPlateauState, reduce_on_plateau

_SCHEDULES = [
    "constant_schedule", "exponential_decay", "inverse_time_decay", "linear_schedule",
    "polynomial_schedule", "step_decay_schedule", "warmup_constant_schedule",
    "warmup_exponential_decay_schedule", "join_schedules", "multiply_schedules",
    "cosine_decay_schedule", "cosine_restarts_schedule", "sgdr_schedule",
    "warmup_cosine_decay_schedule", "cyclic_schedule", "inverse_sqrt_schedule",
    "warmup_stable_decay_schedule", "cosine_onecycle_schedule", "linear_onecycle_schedule",
    "onecycle_schedules", "piecewise_constant_schedule", "piecewise_interpolate_schedule",
    "ReduceLROnPlateauState", "reduce_on_plateau",
]

# --- issue 5: combinators, wrappers, clipping ---
from functional_opt.transforms.clipping import (
    adaptive_grad_clip,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    per_example_global_norm_clip,
)
from functional_opt.wrappers.accumulation import MultiStepsState, multi_steps
from functional_opt.wrappers.averaging import (
    EmaParamsState,
    LookaheadState,
    ema_params,
    get_ema_params,
    lookahead,
    lookahead_slow_params,
)
from functional_opt.wrappers.guards import (
    ApplyIfFiniteState,
    SkipLossSpikesState,
    apply_if_finite,
    skip_loss_spikes,
)
from functional_opt.wrappers.hyperparams import (
    InjectHyperparamsState,
    get_hyperparam,
    inject_hyperparams,
    set_hyperparam,
)
from functional_opt.wrappers.masking import (
    MaskedNode,
    MaskedState,
    PartitionState,
    freeze,
    labels_by_regex,
    masked,
    partition,
    set_to_zero,
)
from functional_opt.wrappers.naming import find_states, get_substate, named_chain

_WRAPPERS = [
    "adaptive_grad_clip", "clip", "clip_by_block_rms", "clip_by_global_norm",
    "per_example_global_norm_clip", "MultiStepsState", "multi_steps", "EmaParamsState",
    "LookaheadState", "ema_params", "get_ema_params", "lookahead", "lookahead_slow_params",
    "ApplyIfFiniteState", "SkipLossSpikesState", "apply_if_finite", "skip_loss_spikes",
    "InjectHyperparamsState", "get_hyperparam", "inject_hyperparams", "set_hyperparam",
    "MaskedNode", "MaskedState", "PartitionState", "freeze", "labels_by_regex", "masked",
    "partition", "set_to_zero", "find_states", "get_substate", "named_chain",
]

# --- issue 6: optimizer catalogue part 1 ---
from functional_opt.transforms.adadelta import ScaleByAdaDeltaState, scale_by_adadelta
from functional_opt.transforms.adagrad import ScaleByRssState, scale_by_rss
from functional_opt.transforms.adamax import scale_by_adamax
from functional_opt.transforms.amsgrad import ScaleByAmsgradState, scale_by_amsgrad
from functional_opt.transforms.belief import ScaleByBeliefState, scale_by_belief
from functional_opt.transforms.fromage import ScaleByFromageState, scale_by_fromage
from functional_opt.transforms.nadam import ScaleByNadamState, scale_by_nadam
from functional_opt.transforms.noise import AddNoiseState, add_noise
from functional_opt.transforms.novograd import ScaleByNovogradState, scale_by_novograd
from functional_opt.transforms.polyak import scale_by_polyak
from functional_opt.transforms.radam import scale_by_radam
from functional_opt.transforms.rprop import ScaleByRpropState, scale_by_rprop
from functional_opt.transforms.sign import scale_by_sign
from functional_opt.transforms.sm3 import ScaleBySM3State, scale_by_sm3
from functional_opt.transforms.yogi import scale_by_yogi
from functional_opt.optimizers.adaptive import (
    adabelief,
    adamax,
    adamaxw,
    amsgrad,
    nadam,
    nadamw,
    radam,
    yogi,
)
from functional_opt.optimizers.adaptive_more import (
    adadelta,
    adagrad,
    fromage,
    noisy_sgd,
    novograd,
    polyak_sgd,
    rprop,
    sign_sgd,
    signum,
    sm3,
)

_CATALOGUE_1 = [
    "ScaleByAdaDeltaState", "scale_by_adadelta", "ScaleByRssState", "scale_by_rss", "scale_by_adamax",
    "ScaleByAmsgradState", "scale_by_amsgrad", "ScaleByBeliefState", "scale_by_belief",
    "ScaleByFromageState", "scale_by_fromage", "ScaleByNadamState", "scale_by_nadam", "AddNoiseState",
    "add_noise", "ScaleByNovogradState", "scale_by_novograd", "scale_by_polyak", "scale_by_radam",
    "ScaleByRpropState", "scale_by_rprop", "scale_by_sign", "ScaleBySM3State", "scale_by_sm3",
    "scale_by_yogi", "adabelief", "adamax", "adamaxw", "amsgrad", "nadam", "nadamw", "radam", "yogi",
    "adadelta", "adagrad", "fromage", "noisy_sgd", "novograd", "polyak_sgd", "rprop", "sign_sgd",
    "signum", "sm3",
]

# --- issue 7: optimizer catalogue part 2 ---
_CATALOGUE_2 = []
# issue 7, first half: large-batch, memory-light, schedule-free, learning-rate-free
from functional_opt.transforms.trust_ratio import scale_by_trust_ratio
from functional_opt.transforms.lion import ScaleByLionState, scale_by_lion
from functional_opt.optimizers.large_batch import lamb, lars, lion
from functional_opt.transforms.adafactor import FactoredState, scale_by_factored_rms
from functional_opt.optimizers.memory_light import adafactor
_CATALOGUE_2 += [
    "scale_by_trust_ratio", "ScaleByLionState", "scale_by_lion", "lamb", "lars", "lion",
    "FactoredState", "scale_by_factored_rms", "adafactor",
]
from functional_opt.transforms.schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_eval_params,
)
from functional_opt.optimizers.schedule_free import schedule_free_adamw, schedule_free_sgd
_CATALOGUE_2 += [
    "ScheduleFreeState", "schedule_free", "schedule_free_eval_params", "schedule_free_adamw",
    "schedule_free_sgd",
]
from functional_opt.transforms.prodigy import ProdigyState, scale_by_prodigy
from functional_opt.transforms.dadapt import DAdaptAdamWState, scale_by_dadapt_adamw
from functional_opt.optimizers.lr_free import dadapt_adamw, prodigy
_CATALOGUE_2 += [
    "ProdigyState", "scale_by_prodigy", "DAdaptAdamWState", "scale_by_dadapt_adamw", "dadapt_adamw", "prodigy",
]
# issue 7, second half: orthogonalized, second-order and other modern optimizers
from functional_opt.transforms.muon import MUON_NS_COEFFS, ScaleByMuonState, newton_schulz, scale_by_muon
from functional_opt.transforms.shampoo import ScaleByShampooState, scale_by_shampoo
from functional_opt.transforms.adan import ScaleByAdanState, scale_by_adan
from functional_opt.transforms.ademamix import (
    ScaleByAdemamixState,
    ademamix_alpha_schedule,
    ademamix_b3_schedule,
    scale_by_ademamix,
)
from functional_opt.transforms.adopt import ScaleByAdoptState, scale_by_adopt
from functional_opt.transforms.sophia import ScaleBySophiaState, hutchinson_diag_hessian, scale_by_sophia
from functional_opt.optimizers.modern import adan, ademamix, adopt, muon, shampoo, sophia
from functional_opt.sam import SamState, sam, sam_perturbation, sam_train_step
_CATALOGUE_2 += [
    "MUON_NS_COEFFS", "ScaleByMuonState", "newton_schulz", "scale_by_muon", "ScaleByShampooState",
    "scale_by_shampoo", "ScaleByAdanState", "scale_by_adan", "ScaleByAdemamixState",
    "ademamix_alpha_schedule", "ademamix_b3_schedule", "scale_by_ademamix", "ScaleByAdoptState",
    "scale_by_adopt", "ScaleBySophiaState", "hutchinson_diag_hessian", "scale_by_sophia", "adan",
    "ademamix", "adopt", "muon", "shampoo", "sophia", "SamState", "sam", "sam_perturbation",
    "sam_train_step",
]

# --- issue 8: reliability (checkpoint) ---
from functional_opt import checkpoint

_RELIABILITY = ["checkpoint"]

# --- issue 9: performance (flat buckets, train step) ---
from functional_opt import flat
from functional_opt.flat import FlatParams, flatten_params, per_leaf, unflatten_params
from functional_opt.train_step import make_train_step

from functional_opt.wrappers.stacked import PerLayerState, per_layer

_PERFORMANCE = ["flat", "FlatParams", "flatten_params", "per_leaf", "unflatten_params", "make_train_step",
                "PerLayerState", "per_layer"]

__all__ = sorted(
    set(_CORE + _LOSSES + _SCHEDULES + _WRAPPERS + _CATALOGUE_1 + _CATALOGUE_2 + _RELIABILITY + _PERFORMANCE)
)
