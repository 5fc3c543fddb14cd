"""Train some leaves with an optimizer and freeze the others (optax's ``selective_transform``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from functional_opt.base import GradientTransformation, check_transform
from functional_opt.wrappers.masking import partition, set_to_zero


def selective_transform(optimizer: GradientTransformation, *, freeze_mask: Any) -> GradientTransformation:
    """Apply ``optimizer`` to the leaves whose ``freeze_mask`` is false; zero the updates of the others.

    Rule, per leaf::

        u <- optimizer's update    if not freeze_mask[leaf]    (its state covers only these leaves)
        u <- 0                     if freeze_mask[leaf]

    It is ``partition({"train": optimizer, "freeze": set_to_zero()},
    param_labels)``, with the labels read from ``freeze_mask``; unlike
    :func:`freeze` (``masked(set_to_zero(), mask)``), the frozen leaves
    carry no optimizer state.

    Conventions: as optax's ``selective_transform`` (keyword-only
    ``freeze_mask``, a static mask).

    Args:
        optimizer: the transformation for the trained leaves.
        freeze_mask: a bool (freeze everything or nothing) or a tree of
            bools with the params' structure (or a prefix of it); ``True``
            freezes. Static: Python bools (or concrete arrays).

    State: :class:`PartitionState` with the labels ``"train"`` and ``"freeze"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.selective_transform(fo.sgd(1.0), freeze_mask={"a": True, "b": False})
        >>> p = {"a": jnp.ones(1), "b": jnp.ones(1)}
        >>> u, _ = opt.update(p, opt.init(p), p)
        >>> u["a"], u["b"]
        (Array([0.], dtype=float32), Array([-1.], dtype=float32))

    References:
        optax.selective_transform.
    """
    check_transform(optimizer, "optimizer")
    leaves = jax.tree.leaves(freeze_mask)
    if not leaves or any(not isinstance(m, bool) and getattr(m, "dtype", None) != np.dtype(bool) for m in leaves):
        raise TypeError(f"freeze_mask must be a bool or a tree of bools, got {freeze_mask!r}")
    labels = jax.tree.map(lambda m: "freeze" if bool(m) else "train", freeze_mask)
    return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=labels)
