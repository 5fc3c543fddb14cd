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
    clip as clip,
    clip_by_block_rms as clip_by_block_rms,
    clip_by_global_norm as clip_by_global_norm,
    per_example_global_norm_clip as per_example_global_norm_clip,
)
from functional_opt.transforms.momentum import (
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from functional_opt.transforms.noise import AddNoiseState as AddNoiseState, add_noise as add_noise
from functional_opt.transforms.weight_decay import add_decayed_weights as add_decayed_weights
from functional_opt.wrappers.accumulation import MultiStepsState as MultiStepsState
from functional_opt.wrappers.guards import ApplyIfFiniteState as ApplyIfFiniteState, apply_if_finite as apply_if_finite
from functional_opt.wrappers.masking import (
    MaskedNode as MaskedNode,
    MaskedState as MaskedState,
    PartitionState as PartitionState,
    freeze as freeze,
    masked as masked,
    partition as partition,
)
from functional_opt.wrappers.naming import named_chain as named_chain

__all__ = _public_names(globals())
