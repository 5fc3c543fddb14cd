"""Layer-wise trust ratios (LARS, LAMB): rescale each leaf by ``||param|| / ||update||``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import EmptyState, GradientTransformation
from functional_opt.flat import check_not_flat

# optax's state name of scale_by_trust_ratio: EmptyState itself, as in optax.
ScaleByTrustRatioState = EmptyState


def scale_by_trust_ratio(
    min_norm=0.0,
    trust_coefficient=1.0,
    eps=0.0,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Scale each leaf ("layer") by its trust ratio ``||w|| / ||u||``.

    Update rule, for every leaf ``w`` of the params and its update ``u``::

        w_norm = max(||w||_2, min_norm)
        u_norm = max(||u||_2, min_norm)
        ratio  = trust_coefficient * w_norm / (u_norm + eps)
        ratio  = 1        where w_norm == 0 or u_norm == 0
        u     <- ratio * u

    A *leaf* of the pytree is what the LARS/LAMB papers call a *layer*: a
    dense layer's kernel and its bias are two leaves with two trust ratios.
    To get one ratio per block of several arrays, nest them differently;
    this transform never looks across leaves. Scalars are leaves like any
    other (their "norm" is their absolute value).

    Conventions: the zero-norm fallback to 1 (a freshly zero-initialised
    bias, or a zero update, is neither frozen nor blown up) is optax's; the
    LAMB paper's ``phi`` (a clipping of ``||w||``) is the identity here, as in
    optax and the reference LAMB implementations; ``min_norm`` gives a floor.

    Args:
        min_norm: floor ``>= 0`` for both norms.
        trust_coefficient: multiplier ``> 0`` (LARS's ``eta``, 0.001 in the
            paper; 1 for LAMB).
        eps: ``>= 0``, added to the update norm in the denominator.
        mask: optional tree of bools (or function of the params returning
            one); leaves marked ``False`` pass through unscaled (optax's
            ``trust_ratio_mask``).

    State: :class:`~functional_opt.EmptyState`. Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_trust_ratio()
        >>> p = {"w": jnp.array([3.0, 4.0])}
        >>> u, _ = t.update({"w": jnp.array([0.0, 0.5])}, t.init(p), p)
        >>> u["w"]  # ||w|| / ||u|| = 5 / 0.5 = 10
        Array([0., 5.], dtype=float32)

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional
        Networks" (LARS), 2017. You et al., "Large Batch Optimization for Deep
        Learning: Training BERT in 76 minutes" (LAMB), ICLR 2020.
    """
    check_number("min_norm", min_norm, low=0.0)
    check_number("trust_coefficient", trust_coefficient, low=0.0, low_inclusive=False)
    check_number("eps", eps, low=0.0)

    def init(params):
        check_not_flat(params, "scale_by_trust_ratio")
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_trust_ratio")
        del extra_args
        min_norm_ = value_at(min_norm, None)
        tc, eps_ = value_at(trust_coefficient, None), value_at(eps, None)

        def leaf(u, w):
            w_norm = jnp.maximum(jnp.sqrt(jnp.sum(_tree.abs_sq(w))), min_norm_)
            u_norm = jnp.maximum(jnp.sqrt(jnp.sum(_tree.abs_sq(u))), min_norm_)
            ratio = tc * w_norm / (u_norm + eps_)
            ratio = jnp.where((w_norm == 0) | (u_norm == 0), jnp.ones_like(ratio), ratio)
            return (ratio * u,)

        u, _ = _tree.map_moments("scale_by_trust_ratio", leaf, updates, params=params, mask=mask)
        return u, state

    return GradientTransformation(init, update)
