"""Scaling by the size of each parameter block (leaf): its norm or its root mean square."""

from __future__ import annotations

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, init_empty_state
from functional_opt.flat import check_not_flat


def _block_scaling(where, min_scale, size):
    check_number("min_scale", min_scale, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del extra_args
        check_not_flat(updates, where)
        lo = value_at(min_scale, None)

        def leaf(u, p):
            return (u * jnp.maximum(size(p), lo),)

        u, _ = _tree.map_moments(where, leaf, updates, params=params)
        return u, state

    return GradientTransformation(init_empty_state, update)


def scale_by_param_block_norm(min_scale=1e-3) -> GradientTransformation:
    """Multiply each leaf's update by the norm of that leaf's parameter (at least ``min_scale``).

    Update rule, per leaf (a "block": a weight vector or matrix)::

        u <- u * max(||p||_2, min_scale)        (||p||_2 over all entries: Frobenius)

    Used by layer-wise rules (e.g. Fromage, LAMB-like schemes) so that the
    step is relative to the size of the weights.

    Conventions: as optax's (``safe_norm``); ``|p|`` is the complex modulus
    for complex parameters.

    Args:
        min_scale: the floor of the factor, ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`. Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_param_block_norm()
        >>> p = jnp.array([3.0, 4.0])
        >>> t.update(jnp.ones(2), t.init(p), p)[0]
        Array([5., 5.], dtype=float32)

    References:
        optax.scale_by_param_block_norm; You et al., "Large Batch
        Optimization for Deep Learning: Training BERT in 76 minutes", 2020.
    """
    return _block_scaling("scale_by_param_block_norm", min_scale, lambda p: jnp.sqrt(jnp.sum(_tree.abs_sq(p))))


def scale_by_param_block_rms(min_scale=1e-3) -> GradientTransformation:
    """Multiply each leaf's update by the root mean square of that leaf's parameter (at least ``min_scale``).

    Update rule, per leaf::

        u <- u * max(sqrt(mean(|p|**2)), min_scale)

    Adafactor's relative step size (``multiply_by_parameter_scale``).

    Conventions: as optax's (``safe_root_mean_squares``).

    Args:
        min_scale: the floor of the factor, ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`. Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_param_block_rms()
        >>> p = jnp.array([1.0, 7.0])
        >>> t.update(jnp.ones(2), t.init(p), p)[0]
        Array([5., 5.], dtype=float32)

    References:
        optax.scale_by_param_block_rms; Shazeer & Stern, "Adafactor:
        Adaptive Learning Rates with Sublinear Memory Cost", ICML 2018.
    """
    return _block_scaling("scale_by_param_block_rms", min_scale, lambda p: jnp.sqrt(jnp.mean(_tree.abs_sq(p))))
