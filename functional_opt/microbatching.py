"""Microbatching (``optax.microbatching``): evaluate a function one microbatch at a time, then combine.

A loss, or per-example gradients (:func:`micro_grad`: clipped, transformed,
summed), computed over a large batch with the peak memory of one microbatch.

``fo.microbatch`` is also at the top level, as ``optax.microbatch`` is.
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.wrappers.microbatching import AccumulationType as AccumulationType
from functional_opt.wrappers.microbatching import Accumulator as Accumulator
from functional_opt.wrappers.microbatching import micro_grad as micro_grad
from functional_opt.wrappers.microbatching import micro_vmap as micro_vmap
from functional_opt.wrappers.microbatching import microbatch as microbatch
from functional_opt.wrappers.microbatching import reshape_batch_axis as reshape_batch_axis

__all__ = _public_names(globals())
