"""Adagrad and its descendants: Adadelta (a leaky average and a unit
correction instead of a learning rate) and SM3 (one accumulator per axis, for
memory).

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from functional_opt._hparams import check_number
from functional_opt.base import GradientTransformation, chain
from functional_opt.transforms.adadelta import scale_by_adadelta
from functional_opt.transforms.adagrad import scale_by_rss
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.sm3 import scale_by_sm3
from functional_opt.transforms.weight_decay import add_decayed_weights


def adagrad(
    learning_rate, initial_accumulator_value=0.1, eps=1e-7, *, eps_in_sqrt: bool = True
) -> GradientTransformation:
    """Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.

    ``chain(scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt),
    scale_by_learning_rate(learning_rate))``. Defaults follow optax (the sum
    starts at 0.1, ``eps=1e-7`` inside the root).
    ``torch.optim.Adagrad`` (and the paper's ``delta``) is
    ``adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)``
    (torch's default learning rate is 1e-2; its ``lr_decay`` is the schedule
    ``lambda count: lr / (1 + count * lr_decay)``). Table on
    :func:`~functional_opt.scale_by_rss`.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        initial_accumulator_value: initial ``G``, ``>= 0``.
        eps: ``>= 0``.
        eps_in_sqrt: ``eps`` inside (optax) or outside (torch, paper) the root.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Duchi, Hazan & Singer, JMLR 2011.
    """
    return chain(
        scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps, eps_in_sqrt=eps_in_sqrt),
        scale_by_learning_rate(learning_rate),
    )


def adadelta(learning_rate=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, weight_decay_mask=None) -> GradientTransformation:
    """Adadelta; with the default ``learning_rate=1.0`` exactly Zeiler's method.

    ``chain(add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate))``
    (with ``weight_decay=0`` no params are needed).

    Conventions: the weight decay is coupled (added to the gradient before
    the adaptive scaling, as torch and optax). Defaults follow torch
    (``lr=1.0``); optax's ``adadelta`` has no default learning rate.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule (default 1.0).
        rho: decay in ``[0, 1]``.
        eps: ``> 0``.
        weight_decay: ``>= 0``, an L2 term added to the gradient (needs params when not 0).
        weight_decay_mask: tree of bools (the params' structure or a prefix
            of it) or a function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adadelta()
        >>> u, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
        >>> (u * 1e3).round(3)  # a small step downhill
        Array([-3.162], dtype=float32)

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.
    """
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)
    # always the decay transform, so the state has one layout whether weight_decay is 0, an array or injected
    decay = add_decayed_weights(weight_decay=weight_decay, mask=weight_decay_mask)
    return chain(decay, scale_by_adadelta(rho=rho, eps=eps), scale_by_learning_rate(learning_rate))


def sm3(learning_rate, momentum=0.9) -> GradientTransformation:
    """SM3: Adagrad with one accumulator per row/column (per axis) of each leaf.

    ``chain(scale_by_sm3(b1=momentum), scale_by_learning_rate(learning_rate))``
    (``b2 = 1``), as optax's ``sm3`` (whose learning rate cannot be a
    schedule; here it can).

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        momentum: in ``[0, 1]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sm3(0.1, momentum=0.0)
        >>> opt.update(jnp.array([[3.0, -4.0]]), opt.init(jnp.zeros((1, 2))))[0]
        Array([[-0.1,  0.1]], dtype=float32)

    References:
        Anil et al., "Memory-Efficient Adaptive Optimization", NeurIPS 2019.
    """
    return chain(scale_by_sm3(b1=momentum), scale_by_learning_rate(learning_rate))
