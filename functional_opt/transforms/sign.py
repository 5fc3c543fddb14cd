"""Sign compression: keep only the sign of each update entry."""

from __future__ import annotations

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt.base import GradientTransformation, stateless


def scale_by_sign() -> GradientTransformation:
    """Replace each entry of the updates by its sign.

    Update rule: ``u = sign(g)`` (``0`` where ``g == 0``), in the gradient's
    dtype. Before :func:`~functional_opt.scale_by_learning_rate` this is
    signSGD; after an :func:`~functional_opt.ema` it is Signum. optax agrees.

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_sign()
        >>> t.update(jnp.array([-3.0, 0.0, 0.2]), t.init(None))[0]
        Array([-1.,  0.,  1.], dtype=float32)

    References:
        Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex
        Problems", ICML 2018.
    """

    def update(updates, params):
        del params
        return _tree.map_moments("scale_by_sign", lambda g: (jnp.sign(g),), updates)[0]

    return stateless(update)
