"""Gradient centralization: subtract each weight's mean over its fan-in axes."""

from __future__ import annotations

from functional_opt import _tree
from functional_opt.base import GradientTransformation, init_empty_state
from functional_opt.flat import check_not_flat


def centralize() -> GradientTransformation:
    """Subtract from each gradient its mean over every axis but the first (leaves of rank >= 2).

    Update rule, for a leaf ``g`` of rank ``>= 2``::

        u[i, ...] <- g[i, ...] - mean(g[i, ...])

    (the mean over axes ``1, ..., ndim - 1``); scalars and vectors (biases)
    pass unchanged.

    Conventions: as optax's ``centralize``. The paper reduces over every
    axis but the *output* one; with flax's ``[in, out]`` kernels the first
    axis is the input one, so apply it to the layout the rule assumes.

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> g = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        >>> fo.centralize().update(g, fo.EmptyState())[0]
        Array([[-1.,  0.,  1.],
               [-1.,  0.,  1.]], dtype=float32)

    References:
        Yong et al., "Gradient Centralization: A New Optimization Technique
        for Deep Neural Networks", ECCV 2020 (arXiv:2004.01461).
    """

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        check_not_flat(updates, "centralize")

        def leaf(g):
            if g.ndim < 2:
                return (g,)
            return (g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True),)

        u, _ = _tree.map_moments("centralize", leaf, updates)
        return u, state

    return GradientTransformation(init_empty_state, update)
