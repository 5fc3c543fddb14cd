"""Scaling by the inverse of the updates' global norm (optax's ``normalize_by_update_norm``)."""

from __future__ import annotations

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, init_empty_state


def normalize_by_update_norm(scale_factor=1.0, eps=1e-6) -> GradientTransformation:
    """Scale the updates by ``scale_factor`` over their global norm.

    Update rule: ``u = scale_factor * g / (||g|| + eps)`` with ``||g||`` the
    Euclidean norm over all leaves together (``|g|**2`` for complex leaves),
    computed in at least float32. Stateless (:class:`EmptyState`), as optax's
    ``normalize_by_update_norm``, with the same arguments and defaults.
    Conventions: a descent step needs a negative ``scale_factor`` (or a
    following :func:`~functional_opt.scale_by_learning_rate`); ``eps``
    keeps an all-zero update at zero. :func:`~functional_opt.contrib.normalize`
    is the same rule with ``eps = 0`` and ``scale_factor = 1``.

    Args:
        scale_factor: the length of the normalized update (a number or an array; may be negative).
        eps: ``>= 0``, added to the norm.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.normalize_by_update_norm(scale_factor=2.0, eps=0.0)
        >>> t.update(jnp.array([3.0, 4.0]), t.init(None))[0]
        Array([1.2, 1.6], dtype=float32)

    References:
        optax.normalize_by_update_norm; normalized gradient descent (Nesterov, "Introductory Lectures
        on Convex Optimization", 2004, section 3.2.3).
    """
    check_number("scale_factor", scale_factor)
    check_number("eps", eps, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        norm = _tree.global_norm(updates)
        factor = value_at(scale_factor, None, norm.dtype) / (norm + value_at(eps, None, norm.dtype))
        u, _ = _tree.map_moments("normalize_by_update_norm", lambda g: (g * factor,), updates)
        return u, state

    return GradientTransformation(init_empty_state, update)
