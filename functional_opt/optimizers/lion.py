"""Lion (EvoLved Sign Momentum): the sign of an interpolated momentum.

The optimizer is a documented ``chain`` of transforms; the update rule and
the conventions live on :func:`~functional_opt.scale_by_lion`.
"""

from __future__ import annotations

from typing import Any

from functional_opt.base import GradientTransformation
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.transforms.lion import scale_by_lion


def lion(
    learning_rate,
    b1=0.9,
    b2=0.99,
    mu_dtype: Any = None,
    weight_decay=1e-3,
    mask: Any = None,
) -> GradientTransformation:
    """Lion (EvoLved Sign Momentum), as ``optax.lion``.

    ``chain(scale_by_lion(b1, b2, mu_dtype), add_decayed_weights(weight_decay,
    mask), scale_by_learning_rate(learning_rate))``; the sign-of-interpolation
    rule is on :func:`scale_by_lion`.

    Conventions: decoupled weight decay multiplied by the learning rate (the
    paper's Algorithm 2, optax). Defaults ``b1 = 0.9, b2 = 0.99`` (paper,
    optax); ``weight_decay = 1e-3`` is optax's (the paper tunes it, typically
    3-10x AdamW's, with a learning rate 3-10x smaller).

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        b1: interpolation coefficient in ``[0, 1]``.
        b2: momentum decay in ``[0, 1]``.
        mu_dtype: dtype of the momentum buffer.
        weight_decay: ``>= 0``.
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.lion(0.1, weight_decay=0.0)
        >>> p = jnp.zeros(2)
        >>> u, _ = opt.update(jnp.array([0.5, -3.0]), opt.init(p), p)
        >>> u
        Array([-0.1,  0.1], dtype=float32)

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023.
    """
    return with_decoupled_decay(scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype), learning_rate, weight_decay, mask)
