"""Gradient transformations, one algorithmic idea per module (``adam.py``, ``clipping.py``, ...).

The namespace ``fo.transforms`` mirrors ``optax.transforms``: it holds the
names optax keeps there that this library implements (the combinators and
wrappers ``chain``, ``masked``, ``partition``, clipping, ``trace``, ``ema``,
...), so ``optax.transforms.clip_by_global_norm`` is
``fo.transforms.clip_by_global_norm``. Like optax's, each of them is also at
the top level, where every transform lives (``fo.scale_by_adam``,
``fo.trace``): import from ``functional_opt`` unless you are porting code that
spells ``optax.transforms``.
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.base import chain as chain
from functional_opt.transforms.clipping import (
    adaptive_grad_clip as adaptive_grad_clip,
)
from functional_opt.transforms.clipping import (
    clip as clip,
)
from functional_opt.transforms.clipping import (
    clip_by_block_rms as clip_by_block_rms,
)
from functional_opt.transforms.clipping import (
    clip_by_global_norm as clip_by_global_norm,
)
from functional_opt.transforms.clipping import (
    per_example_global_norm_clip as per_example_global_norm_clip,
)
from functional_opt.transforms.clipping import (
    per_example_layer_norm_clip as per_example_layer_norm_clip,
)
from functional_opt.transforms.clipping import unitwise_clip as unitwise_clip
from functional_opt.transforms.clipping import unitwise_norm as unitwise_norm
from functional_opt.transforms.constraints import NonNegativeParamsState as NonNegativeParamsState
from functional_opt.transforms.constraints import ZeroNansState as ZeroNansState
from functional_opt.transforms.constraints import keep_params_nonnegative as keep_params_nonnegative
from functional_opt.transforms.constraints import zero_nans as zero_nans
from functional_opt.transforms.momentum import (
    EmaState as EmaState,
)
from functional_opt.transforms.momentum import (
    TraceState as TraceState,
)
from functional_opt.transforms.momentum import (
    ema as ema,
)
from functional_opt.transforms.momentum import (
    trace as trace,
)
from functional_opt.transforms.noise import AddNoiseState as AddNoiseState
from functional_opt.transforms.noise import add_noise as add_noise
from functional_opt.transforms.weight_decay import add_decayed_weights as add_decayed_weights
from functional_opt.wrappers.accumulation import MultiSteps as MultiSteps
from functional_opt.wrappers.accumulation import MultiStepsState as MultiStepsState
from functional_opt.wrappers.conditional import ConditionallyMaskState as ConditionallyMaskState
from functional_opt.wrappers.conditional import ConditionallyTransformState as ConditionallyTransformState
from functional_opt.wrappers.conditional import ShouldSkipUpdateFunction as ShouldSkipUpdateFunction
from functional_opt.wrappers.conditional import conditionally_mask as conditionally_mask
from functional_opt.wrappers.conditional import conditionally_transform as conditionally_transform
from functional_opt.wrappers.conditional import skip_large_updates as skip_large_updates
from functional_opt.wrappers.conditional import skip_not_finite as skip_not_finite
from functional_opt.wrappers.guards import ApplyIfFiniteState as ApplyIfFiniteState
from functional_opt.wrappers.guards import apply_if_finite as apply_if_finite
from functional_opt.wrappers.layout import flatten as flatten
from functional_opt.wrappers.masking import (
    MaskedNode as MaskedNode,
)
from functional_opt.wrappers.masking import (
    MaskedState as MaskedState,
)
from functional_opt.wrappers.masking import (
    PartitionState as PartitionState,
)
from functional_opt.wrappers.masking import (
    freeze as freeze,
)
from functional_opt.wrappers.masking import (
    masked as masked,
)
from functional_opt.wrappers.masking import (
    partition as partition,
)
from functional_opt.wrappers.monitoring import MonitorState as MonitorState
from functional_opt.wrappers.monitoring import SnapshotState as SnapshotState
from functional_opt.wrappers.monitoring import measure_with_ema as measure_with_ema
from functional_opt.wrappers.monitoring import monitor as monitor
from functional_opt.wrappers.monitoring import snapshot as snapshot
from functional_opt.wrappers.naming import named_chain as named_chain
from functional_opt.wrappers.selective import selective_transform as selective_transform

__all__ = _public_names(globals())

# optax's type of the condition functions, also outside optax.transforms.__all__
from functional_opt.wrappers.conditional import ConditionFn as ConditionFn  # noqa: E402
