"""Polyak's step size: the loss gap over the squared gradient norm."""

from __future__ import annotations

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, init_empty_state

_VARIANTS = ("sps", "sps+")
# optax's guard: no step when the squared norm is below float64 machine epsilon
_TINY = float(jnp.finfo(jnp.float64).eps)


def scale_by_polyak(f_min=0.0, max_learning_rate=1.0, eps=0.0, variant: str = "sps") -> GradientTransformation:
    """Scale the updates by the (capped) Polyak step size; reads ``value=``.

    Update rule, with ``f = value`` the current loss passed as
    ``update(updates, state, params, value=f)``::

        gap = f - f_min                       (variant "sps")
        gap = max(f - f_min, 0)               (variant "sps+")
        gamma = min(gap / (||g||**2 + eps), max_learning_rate)
        gamma = 0  if ||g||**2 + eps <= 2.2e-16
        u = gamma * g

    ``||g||`` is the global norm over all leaves. The sign is not flipped here:
    :func:`~functional_opt.polyak_sgd` puts a negating
    :func:`~functional_opt.scale_by_learning_rate` in front, as optax does.
    This is SPS_max of Loizou et al. with ``c = 1`` and ``gamma_b =
    max_learning_rate``.

    Args:
        f_min: a lower bound on the loss (0 for models that interpolate the data).
        max_learning_rate: the cap ``gamma_b > 0``.
        eps: ``>= 0``, added to the squared norm.
        variant: ``"sps"`` or ``"sps+"`` (clip a negative gap to 0).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_polyak()
        >>> g = jnp.array([1.0, 1.0])
        >>> t.update(g, t.init(g), value=0.5)[0]  # 0.5 / 2 * g
        Array([0.25, 0.25], dtype=float32)

    References:
        Polyak, "Introduction to Optimization", 1987.
        Loizou et al., "Stochastic Polyak Step-size for SGD: An Adaptive
        Learning Rate for Fast Convergence", AISTATS 2021.
    """
    check_number("f_min", f_min)
    check_number("max_learning_rate", max_learning_rate, low=0.0, low_inclusive=False)
    check_number("eps", eps, low=0.0)
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")

    def update(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise TypeError("scale_by_polyak needs the current loss: call update(updates, state, params, value=loss)")
        sq = _tree.squared_norm(updates)  # in at least float32
        gap = jnp.asarray(value, sq.dtype) - value_at(f_min, None, sq.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0.0)
        denom = sq + value_at(eps, None, sq.dtype)
        safe = jnp.where(denom <= _TINY, 1.0, denom)
        gamma = jnp.where(denom <= _TINY, 0.0, jnp.minimum(gap / safe, value_at(max_learning_rate, None)))
        u, _ = _tree.map_moments("scale_by_polyak", lambda g: (gamma * g,), updates)
        return u, state

    return GradientTransformation(init_empty_state, update)
