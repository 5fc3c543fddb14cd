"""functional_opt: optimizers as pure ``(init, update)`` pairs over pytrees.

Import everything from here::

    import functional_opt as fo
    opt = fo.adam(1e-3)

Public paths, one per object:

* Every optimizer, transform, wrapper, schedule, loss and regularizer is at
  the top level, ``fo.<name>``, as in optax. The state types sit next to
  their transforms.
* ``fo.losses``, ``fo.schedules``, ``fo.transforms`` and ``fo.contrib``
  mirror the optax namespaces of the same names, so that code written for
  ``optax.losses.softmax_cross_entropy`` or ``optax.contrib.muon`` ports by
  renaming the package. ``fo.losses`` and ``fo.schedules`` hold every loss
  and every schedule of the library; ``fo.transforms`` and ``fo.contrib``
  hold exactly the names optax keeps there that the library implements.
  These are the only objects with two public paths (top level and the
  mirror), as in optax itself.
* ``fo.flat`` (flat buffers), ``fo.sharding``, ``fo.checkpoint`` and ``fo.tune`` are namespaces of their
  own: their names are reached only through them (``fo.flat.flatten_params``,
  ``fo.checkpoint.save``), never re-exported at the top level.
* Nothing else is public: helpers that an optimizer uses internally (the
  Newton-Schulz iteration, the Hessian estimator) are reached, for tests and
  experiments, through their module (``functional_opt.transforms.muon``).

Each name is written once below, as ``from .x import y as y`` (one line per
module), grouped by concept; ``__all__`` is derived from them.
"""

# The imports are grouped by concept (the sections below), not sorted alphabetically.
# ruff: noqa: I001

from functional_opt._exports import public_names as _public_names

__version__ = "0.1.0"

# --- core: the transformation type, composition, applying updates ---
from functional_opt._tree import global_norm as global_norm
from functional_opt.base import (
    EmptyState as EmptyState,
    GradientTransformation as GradientTransformation,
    GradientTransformationExtraArgs as GradientTransformationExtraArgs,
    MaskOrFn as MaskOrFn,
    OptState as OptState,
    Params as Params,
    ScalarOrSchedule as ScalarOrSchedule,
    Schedule as Schedule,
    TransformInitFn as TransformInitFn,
    TransformUpdateExtraArgsFn as TransformUpdateExtraArgsFn,
    TransformUpdateFn as TransformUpdateFn,
    Updates as Updates,
    apply_updates as apply_updates,
    chain as chain,
    identity as identity,
    init_empty_state as init_empty_state,
    stateless as stateless,
    stateless_with_tree_map as stateless_with_tree_map,
    with_extra_args_support as with_extra_args_support,
)

# --- transforms: one algorithmic idea each (state types beside their factories) ---
from functional_opt.transforms.adadelta import (
    ScaleByAdaDeltaState as ScaleByAdaDeltaState,
    scale_by_adadelta as scale_by_adadelta,
)
from functional_opt.transforms.adafactor import (
    FactoredState as FactoredState,
    scale_by_factored_rms as scale_by_factored_rms,
)
from functional_opt.transforms.adagrad import ScaleByRssState as ScaleByRssState, scale_by_rss as scale_by_rss
from functional_opt.transforms.adam import ScaleByAdamState as ScaleByAdamState, scale_by_adam as scale_by_adam
from functional_opt.transforms.adamax import scale_by_adamax as scale_by_adamax
from functional_opt.transforms.adan import ScaleByAdanState as ScaleByAdanState, scale_by_adan as scale_by_adan
from functional_opt.transforms.ademamix import (
    ScaleByAdemamixState as ScaleByAdemamixState,
    scale_by_ademamix as scale_by_ademamix,
)
from functional_opt.transforms.adopt import ScaleByAdoptState as ScaleByAdoptState, scale_by_adopt as scale_by_adopt
from functional_opt.transforms.amsgrad import (
    ScaleByAmsgradState as ScaleByAmsgradState,
    scale_by_amsgrad as scale_by_amsgrad,
)
from functional_opt.transforms.belief import (
    ScaleByBeliefState as ScaleByBeliefState,
    scale_by_belief as scale_by_belief,
)
from functional_opt.transforms.centralize import centralize as centralize
from functional_opt.transforms.clipping import (
    AdaptiveGradClipState as AdaptiveGradClipState,
    ClipByGlobalNormState as ClipByGlobalNormState,
    ClipState as ClipState,
    adaptive_grad_clip as adaptive_grad_clip,
    clip as clip,
    clip_by_block_rms as clip_by_block_rms,
    clip_by_global_norm as clip_by_global_norm,
    clip_by_per_example_global_norm as clip_by_per_example_global_norm,
    per_example_global_norm_clip as per_example_global_norm_clip,
    per_example_layer_norm_clip as per_example_layer_norm_clip,
    unitwise_clip as unitwise_clip,
    unitwise_norm as unitwise_norm,
)
from functional_opt.transforms.constraints import (
    NonNegativeParamsState as NonNegativeParamsState,
    ZeroNansState as ZeroNansState,
    keep_params_nonnegative as keep_params_nonnegative,
    zero_nans as zero_nans,
)
from functional_opt.transforms.dadapt import (
    DAdaptAdamWState as DAdaptAdamWState,
    scale_by_dadapt_adamw as scale_by_dadapt_adamw,
)
from functional_opt.transforms.fromage import (
    ScaleByFromageState as ScaleByFromageState,
    scale_by_fromage as scale_by_fromage,
)
from functional_opt.transforms.gradient_scaling import scale_gradient as scale_gradient
from functional_opt.transforms.lbfgs import ScaleByLBFGSState as ScaleByLBFGSState, scale_by_lbfgs as scale_by_lbfgs
from functional_opt.transforms.linesearch import (
    ScaleByBacktrackingLinesearchState as ScaleByBacktrackingLinesearchState,
    ScaleByZoomLinesearchState as ScaleByZoomLinesearchState,
    ZoomLinesearchInfo as ZoomLinesearchInfo,
    scale_by_backtracking_linesearch as scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch as scale_by_zoom_linesearch,
    value_and_grad_from_state as value_and_grad_from_state,
)
from functional_opt.transforms.lion import ScaleByLionState as ScaleByLionState, scale_by_lion as scale_by_lion
from functional_opt.transforms.momentum import (
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from functional_opt.transforms.muon import MuonDimensionNumbers as MuonDimensionNumbers
from functional_opt.transforms.muon import ScaleByMuonState as ScaleByMuonState, scale_by_muon as scale_by_muon
from functional_opt.transforms.nadam import ScaleByNadamState as ScaleByNadamState, scale_by_nadam as scale_by_nadam
from functional_opt.transforms.noise import AddNoiseState as AddNoiseState, add_noise as add_noise
from functional_opt.transforms.novograd import (
    ScaleByNovogradState as ScaleByNovogradState,
    scale_by_novograd as scale_by_novograd,
)
from functional_opt.transforms.param_block import (
    scale_by_param_block_norm as scale_by_param_block_norm,
    scale_by_param_block_rms as scale_by_param_block_rms,
)
from functional_opt.transforms.plateau import (
    ReduceLROnPlateauState as ReduceLROnPlateauState,
    reduce_on_plateau as reduce_on_plateau,
)
from functional_opt.transforms.polyak import scale_by_polyak as scale_by_polyak
from functional_opt.transforms.prodigy import ProdigyState as ProdigyState, scale_by_prodigy as scale_by_prodigy
from functional_opt.transforms.proximal import ProxL1State as ProxL1State, prox_l1 as prox_l1
from functional_opt.transforms.radam import scale_by_radam as scale_by_radam
from functional_opt.transforms.rms import ScaleByRmsState as ScaleByRmsState, scale_by_rms as scale_by_rms
from functional_opt.transforms.rprop import ScaleByRpropState as ScaleByRpropState, scale_by_rprop as scale_by_rprop
from functional_opt.transforms.scaling import (
    ScaleByScheduleState as ScaleByScheduleState,
    ScaleState as ScaleState,
    scale as scale,
    scale_by_learning_rate as scale_by_learning_rate,
    scale_by_schedule as scale_by_schedule,
)
from functional_opt.transforms.schedule_free import (
    ScheduleFreeState as ScheduleFreeState,
    schedule_free as schedule_free,
    schedule_free_eval_params as schedule_free_eval_params,
)
from functional_opt.transforms.shampoo import (
    ScaleByShampooState as ScaleByShampooState,
    scale_by_shampoo as scale_by_shampoo,
)
from functional_opt.transforms.sign import scale_by_sign as scale_by_sign
from functional_opt.transforms.sm3 import ScaleBySM3State as ScaleBySM3State, scale_by_sm3 as scale_by_sm3
from functional_opt.transforms.sophia import (
    ScaleBySophiaState as ScaleBySophiaState,
    scale_by_sophia as scale_by_sophia,
)
from functional_opt.transforms.stddev import (
    ScaleByRStdDevState as ScaleByRStdDevState,
    scale_by_stddev as scale_by_stddev,
)
from functional_opt.transforms.trust_ratio import (
    ScaleByTrustRatioState as ScaleByTrustRatioState,
    scale_by_trust_ratio as scale_by_trust_ratio,
)
from functional_opt.transforms.weight_decay import (
    AddDecayedWeightsState as AddDecayedWeightsState,
    add_decayed_weights as add_decayed_weights,
)
from functional_opt.transforms.yogi import scale_by_yogi as scale_by_yogi
from functional_opt.transforms.acprop import scale_by_acprop as scale_by_acprop
from functional_opt.transforms.cocob import COCOBState as COCOBState, scale_by_cocob as scale_by_cocob
from functional_opt.transforms.complex_split import (
    SplitRealAndImaginaryState as SplitRealAndImaginaryState,
    split_real_and_imaginary as split_real_and_imaginary,
)
from functional_opt.transforms.dog import (
    DoGState as DoGState,
    DoWGState as DoWGState,
    ScaleByDistanceOverGradientsState as ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients as scale_by_distance_over_gradients,
)
from functional_opt.transforms.hutchinson import (
    HutchinsonState as HutchinsonState,
    hutchinson_estimator_diag_hessian as hutchinson_estimator_diag_hessian,
)
from functional_opt.transforms.galore import (
    GaLoreDimensionNumbers as GaLoreDimensionNumbers,
    GaLoreState as GaLoreState,
    galore as galore,
    scale_by_galore as scale_by_galore,
)
from functional_opt.transforms.madgrad import MadgradState as MadgradState, scale_by_madgrad as scale_by_madgrad
from functional_opt.transforms.mechanic import MechanicState as MechanicState, mechanize as mechanize
from functional_opt.transforms.momo import (
    MomoAdamState as MomoAdamState,
    MomoState as MomoState,
    momo as momo,
    momo_adam as momo_adam,
)
from functional_opt.transforms.normalize import NormalizeState as NormalizeState, normalize as normalize
from functional_opt.transforms.update_norm import normalize_by_update_norm as normalize_by_update_norm
from functional_opt.transforms.optimistic import (
    ScaleByOptimisticGradientState as ScaleByOptimisticGradientState,
    scale_by_optimistic_gradient as scale_by_optimistic_gradient,
)
from functional_opt.transforms.privacy import (
    DifferentiallyPrivateAggregateState as DifferentiallyPrivateAggregateState,
    differentially_private_aggregate as differentially_private_aggregate,
)
from functional_opt.transforms.simplified_ademamix import (
    ScaleBySimplifiedAdEMAMixState as ScaleBySimplifiedAdEMAMixState,
    scale_by_simplified_ademamix as scale_by_simplified_ademamix,
)

# --- optimizers: each a documented chain(...) of the transforms above ---
from functional_opt.optimizers.adagrad import adadelta as adadelta, adagrad as adagrad, sm3 as sm3
from functional_opt.optimizers.adam import (
    adam as adam,
    adamax as adamax,
    adamaxw as adamaxw,
    adamw as adamw,
    amsgrad as amsgrad,
    nadam as nadam,
    nadamw as nadamw,
)
from functional_opt.optimizers.adam_variants import (
    adabelief as adabelief,
    adan as adan,
    ademamix as ademamix,
    adopt as adopt,
    radam as radam,
    yogi as yogi,
)
from functional_opt.optimizers.layerwise import (
    fromage as fromage,
    lamb as lamb,
    lars as lars,
    novograd as novograd,
)
from functional_opt.optimizers.lion import lion as lion
from functional_opt.optimizers.lr_free import dadapt_adamw as dadapt_adamw, prodigy as prodigy
from functional_opt.optimizers.memory_light import adafactor as adafactor
from functional_opt.optimizers.muon import muon as muon
from functional_opt.optimizers.rmsprop import rmsprop as rmsprop
from functional_opt.optimizers.rprop import rprop as rprop
from functional_opt.optimizers.schedule_free import (
    schedule_free_adamw as schedule_free_adamw,
    schedule_free_sgd as schedule_free_sgd,
)
from functional_opt.optimizers.second_order import shampoo as shampoo, sophia as sophia
from functional_opt.optimizers.lbfgs import lbfgs as lbfgs
from functional_opt.optimizers.sgd import (
    gradient_descent as gradient_descent,
    momentum as momentum,
    noisy_sgd as noisy_sgd,
    polyak_sgd as polyak_sgd,
    sgd as sgd,
    sign_sgd as sign_sgd,
    signum as signum,
)
from functional_opt.optimizers.contrib_extra import (
    acprop as acprop,
    cocob as cocob,
    dog as dog,
    dowg as dowg,
    dpsgd as dpsgd,
    madgrad as madgrad,
    optimistic_adam as optimistic_adam,
    optimistic_adam_v2 as optimistic_adam_v2,
    optimistic_gradient_descent as optimistic_gradient_descent,
    simplified_ademamix as simplified_ademamix,
)

# --- schedules: every name of fo.schedules (AdEMAMix's warmups and inject_hyperparams included) ---
from functional_opt import schedules as schedules
from functional_opt.schedules import *  # noqa: F403

# --- wrappers: parameter groups, accumulation, guards, averaging, monitoring, naming, SAM ---
from functional_opt.sam import (
    SAMState as SAMState,
    SamState as SamState,
    sam as sam,
    sam_perturbation as sam_perturbation,
    sam_train_step as sam_train_step,
)
from functional_opt.wrappers.accumulation import ApplyEvery as ApplyEvery, apply_every as apply_every
from functional_opt.wrappers.accumulation import MultiSteps as MultiSteps
from functional_opt.wrappers.accumulation import MultiStepsState as MultiStepsState, multi_steps as multi_steps
from functional_opt.wrappers.averaging import (
    EmaParamsState as EmaParamsState,
    LookaheadParams as LookaheadParams,
    LookaheadState as LookaheadState,
    ema_params as ema_params,
    get_ema_params as get_ema_params,
    lookahead as lookahead,
    lookahead_slow_params as lookahead_slow_params,
)
from functional_opt.wrappers.conditional import (
    ConditionallyMaskState as ConditionallyMaskState,
    ConditionallyTransformState as ConditionallyTransformState,
    ShouldSkipUpdateFunction as ShouldSkipUpdateFunction,
    conditionally_mask as conditionally_mask,
    conditionally_transform as conditionally_transform,
    skip_large_updates as skip_large_updates,
    skip_not_finite as skip_not_finite,
)
from functional_opt.wrappers.guards import (
    ApplyIfFiniteState as ApplyIfFiniteState,
    SkipLossSpikesState as SkipLossSpikesState,
    apply_if_finite as apply_if_finite,
    skip_loss_spikes as skip_loss_spikes,
)

# (inject_hyperparams and its state arrive with fo.schedules, where optax keeps them)
from functional_opt.wrappers.hyperparams import (
    current_hyperparams as current_hyperparams,
    get_hyperparam as get_hyperparam,
    set_hyperparam as set_hyperparam,
)
from functional_opt.wrappers.layout import flatten as flatten
from functional_opt.wrappers.masking import (
    MaskedNode as MaskedNode,
    MaskedState as MaskedState,
    MultiTransformState as MultiTransformState,
    PartitionState as PartitionState,
    freeze as freeze,
    labels_by_regex as labels_by_regex,
    masked as masked,
    multi_transform as multi_transform,
    partition as partition,
    set_to_zero as set_to_zero,
)
from functional_opt.wrappers.microbatching import microbatch as microbatch
from functional_opt.wrappers.monitoring import (
    LeafMetrics as LeafMetrics,
    MonitorState as MonitorState,
    MonitorWrapperState as MonitorWrapperState,
    SnapshotState as SnapshotState,
    measure_with_ema as measure_with_ema,
    monitor as monitor,
    monitor_metrics as monitor_metrics,
    monitor_to_mlflow as monitor_to_mlflow,
    monitor_to_tensorboard as monitor_to_tensorboard,
    snapshot as snapshot,
)
from functional_opt.wrappers.naming import (
    find_states as find_states,
    get_substate as get_substate,
    named_chain as named_chain,
)
from functional_opt.wrappers.quantized import (
    QuantizedArray as QuantizedArray,
    adam8bit as adam8bit,
    adamw8bit as adamw8bit,
    lion8bit as lion8bit,
    quantized_state as quantized_state,
)
from functional_opt.wrappers.selective import selective_transform as selective_transform
from functional_opt.wrappers.stacked import PerLayerState as PerLayerState, per_layer as per_layer

# --- losses and regularization: every name of fo.losses, penalties, dropout, batch norm ---
from functional_opt import losses as losses
from functional_opt.batch_norm import (
    BatchNormStats as BatchNormStats,
    batch_norm as batch_norm,
    batch_norm_init as batch_norm_init,
)
from functional_opt.losses import *  # noqa: F403
from functional_opt.regularizers import (
    dropout as dropout,
    elastic_net_penalty as elastic_net_penalty,
    l1_penalty as l1_penalty,
    l2_penalty as l2_penalty,
)

# --- flat mode and training step (flat buffers live in the fo.flat namespace) ---
from functional_opt import flat as flat
from functional_opt.train_step import make_train_step as make_train_step

# --- scaling out (the fo.sharding namespace: state_shardings, zero_shardings, make_train_step, ...) ---
from functional_opt import sharding as sharding

# --- checkpoint (the fo.checkpoint namespace: save, restore, load_arrays) ---
from functional_opt import checkpoint as checkpoint

# --- tuning (the fo.tune namespace: grid, sample, sweep, lr_find, ...) ---
from functional_opt import tune as tune

# --- numerics optax exports at its top level: safe norms, target-network updates, linear algebra ---
from functional_opt._hparams import safe_increment as safe_increment
from functional_opt.numerics import (
    incremental_update as incremental_update,
    matrix_inverse_pth_root as matrix_inverse_pth_root,
    multi_normal as multi_normal,
    nnls as nnls,
    periodic_update as periodic_update,
    power_iteration as power_iteration,
    safe_int32_increment as safe_int32_increment,
    safe_norm as safe_norm,
    safe_root_mean_squares as safe_root_mean_squares,
)

# --- optax's utility namespaces (fo.tree_utils, fo.tree, fo.projections, fo.second_order, fo.assignment, ...) ---
from functional_opt import tree_utils as tree_utils, tree as tree
from functional_opt import projections as projections, second_order as second_order
from functional_opt import assignment as assignment, perturbations as perturbations

# --- namespaces mirroring optax.transforms and optax.contrib ---
from functional_opt import contrib as contrib, transforms as transforms

# --- optax.microbatching (fo.microbatch is also at the top level, as optax.microbatch) ---
from functional_opt import microbatching as microbatching

__all__ = _public_names(globals())

# optax's legacy top-level names of its tree utilities, outside optax's __all__ as here: the same objects as
# fo.tree_utils' (so they are not in __all__, which lists each object once)
tree_map_params = tree_utils.tree_map_params
bias_correction = tree_utils.tree_bias_correction
update_moment = tree_utils.tree_update_moment
update_infinity_moment = tree_utils.tree_update_infinity_moment
update_moment_per_elem_norm = tree_utils.tree_update_moment_per_elem_norm
