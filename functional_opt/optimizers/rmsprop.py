"""RMSProp: gradients divided by the root of a moving average of their squares.

The optimizer is a documented ``chain`` of transforms; the update rule and
the table of conventions live on :func:`~functional_opt.scale_by_rms`.
"""

from __future__ import annotations

from functional_opt.base import GradientTransformation, chain
from functional_opt.optimizers._links import optional_trace
from functional_opt.transforms.rms import scale_by_rms
from functional_opt.transforms.scaling import scale_by_learning_rate


def rmsprop(
    learning_rate,
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum=None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp, as ``optax.rmsprop`` (same arguments and defaults).

    ``chain(scale_by_rms(decay, eps, initial_scale, eps_in_sqrt,
    bias_correction, centered), scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov) if momentum is not None)``; the rule is on
    :func:`scale_by_rms`. With the defaults it is Hinton's
    ``E[g^2]_t = 0.9 E[g^2]_{t-1} + 0.1 g_t**2``,
    ``theta_{t+1} = theta_t - eta / sqrt(E[g^2]_t + eps) * g_t``.

    ==============  ============  ============  ==============
    choice          this library  optax         torch
    ==============  ============  ============  ==============
    decay default   0.9           0.9           0.99 (alpha)
    eps placement   inside sqrt   inside sqrt   outside sqrt
    learning rate   inside the    inside the    outside the
                    momentum      momentum      momentum
    ==============  ============  ============  ==============

    ``torch.optim.RMSprop`` is ``eps_in_sqrt=False, decay=0.99``; its momentum
    buffer holds ``g / (sqrt(v) + eps)`` and the rate multiplies the buffer,
    which equals this chain for a constant rate.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        decay: ``beta`` in ``[0, 1]``.
        eps: ``>= 0``.
        initial_scale: initial ``E[g^2]`` (``>= 0``).
        eps_in_sqrt: eps inside (optax) or outside (torch) the root.
        centered: divide by the variance estimate (Graves).
        momentum: ``None`` or a momentum coefficient in ``[0, 1]``.
        nesterov: Nesterov momentum (with ``momentum``).
        bias_correction: bias-correct the averages as Adam does.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.rmsprop(0.01, eps=0.0)
        >>> u, _ = opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))
        >>> u.round(5)  # -0.01 / sqrt(0.1)
        Array([-0.03162], dtype=float32)

    References:
        Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA, 2012.
    """
    momentum_link = optional_trace(momentum, nesterov)  # checked first, before scale_by_rms's arguments
    return chain(
        scale_by_rms(
            decay=decay,
            eps=eps,
            initial_scale=initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
            centered=centered,
        ),
        scale_by_learning_rate(learning_rate),
        momentum_link,
    )
