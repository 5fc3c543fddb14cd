"""Normalize the whole update tree to unit global norm (optax.contrib's ``normalize``, SAM's ascent direction)."""

from __future__ import annotations

from typing import NamedTuple

from functional_opt import _tree
from functional_opt.base import GradientTransformation


class NormalizeState(NamedTuple):
    """State of :func:`normalize`: empty (optax's ``NormalizeState`` is its ``EmptyState``)."""


def normalize() -> GradientTransformation:
    """Divide the updates by their global norm.

    Update rule: ``u = g / ||g||`` with ``||g||`` the Euclidean norm over all
    leaves together.

    Conventions: as ``optax.contrib.normalize``: no epsilon, so a zero
    gradient gives NaN (as optax); guard with ``fo.zero_nans()`` or add an
    epsilon upstream when that can happen.

    State: :class:`NormalizeState` (empty).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.normalize()
        >>> t.update(jnp.array([3.0, 4.0]), t.init(None))[0]
        Array([0.6, 0.8], dtype=float32)

    References:
        Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
        Generalization", ICLR 2021 (the normalised ascent step).
    """

    def init(params):
        del params
        return NormalizeState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        inv = 1 / _tree.global_norm(updates)
        u, _ = _tree.map_moments("normalize", lambda g: (g * inv,), updates)
        return u, state

    return GradientTransformation(init, update)
