"""Learning-rate-free optimizers: Prodigy and D-Adaptation AdamW.

Both estimate the step size ``d`` online and keep it in the state
(``state[0].estim_lr``); ``learning_rate`` is only a multiplier of ``d``
(leave it at 1, or give it a warmup/decay *shape*).
"""

from __future__ import annotations

import math

from functional_opt.base import GradientTransformation, chain
from functional_opt.transforms.dadapt import scale_by_dadapt_adamw
from functional_opt.transforms.prodigy import scale_by_prodigy
from functional_opt.transforms.scaling import scale_by_learning_rate


def prodigy(
    learning_rate=1.0,
    betas=(0.9, 0.999),
    beta3=None,
    eps=1e-8,
    estim_lr0=1e-6,
    estim_lr_coef=1.0,
    weight_decay=0.0,
    safeguard_warmup: bool = False,
    *,
    bias_correction: bool = True,
    growth_rate=math.inf,
) -> GradientTransformation:
    """Prodigy, as ``optax.contrib.prodigy`` (argument names and defaults).

    ``chain(scale_by_prodigy(learning_rate, ...),
    scale_by_learning_rate(learning_rate))``: the transform reads the
    learning rate for its estimate of ``d`` and the second member applies it
    (and the descent sign). The equations and the conventions table (bias
    correction, growth rate, zero-denominator handling versus the reference
    and optax) are on :func:`scale_by_prodigy`.
    The adapted step size is ``state[0].estim_lr``. The state keeps a copy of
    the initial params (``x0``): five param-sized buffers in all.

    Args:
        learning_rate: as :func:`scale_by_prodigy`, and so are ``betas``, ``beta3``, ``eps``,
            ``estim_lr0``, ``estim_lr_coef``, ``weight_decay``, ``safeguard_warmup``,
            ``bias_correction`` and ``growth_rate``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.prodigy()
        >>> x = jnp.array([3.0]); s = opt.init(x)
        >>> u, s = opt.update(jnp.array([1.0]), s, x)
        >>> float(s[0].estim_lr)   # the first estimate is d0 (x has not moved yet)
        1e-06

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive
        Parameter-Free Learner", ICML 2024.
    """
    return chain(
        scale_by_prodigy(
            learning_rate,
            betas,
            beta3,
            eps,
            estim_lr0,
            estim_lr_coef,
            weight_decay,
            safeguard_warmup,
            bias_correction=bias_correction,
            growth_rate=growth_rate,
        ),
        scale_by_learning_rate(learning_rate),
    )


def dadapt_adamw(
    learning_rate=1.0,
    betas=(0.9, 0.999),
    eps=1e-8,
    estim_lr0=1e-6,
    weight_decay=0.0,
    *,
    bias_correction: bool = True,
    growth_rate=math.inf,
) -> GradientTransformation:
    """D-Adaptation AdamW, as ``optax.contrib.dadapt_adamw`` (names and defaults).

    ``chain(scale_by_dadapt_adamw(learning_rate, ...), scale_by_learning_rate(1.0))``;
    the equations and the conventions table are on
    :func:`scale_by_dadapt_adamw`. The learning rate is applied inside the
    transform, because it sits inside the moment buffers (``m`` and ``s``
    accumulate ``d * learning_rate * g``, as in the reference, so a new rate
    affects only new gradients) and cannot be factored out of the step;
    the second member only flips the sign for descent. The adapted step
    size is ``state[0].estim_lr``.

    Args:
        learning_rate, betas, eps, estim_lr0, weight_decay, bias_correction, growth_rate: see
            :func:`scale_by_dadapt_adamw`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.dadapt_adamw(weight_decay=0.01)
        >>> x = jnp.array([3.0]); s = opt.init(x)
        >>> u, s = opt.update(jnp.array([1.0]), s, x)
        >>> float(s[0].estim_lr)
        1e-06

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023.
    """
    return chain(
        scale_by_dadapt_adamw(
            learning_rate,
            betas,
            eps,
            estim_lr0,
            weight_decay,
            bias_correction=bias_correction,
            growth_rate=growth_rate,
        ),
        scale_by_learning_rate(1.0),  # the sign only: the rate is inside the moments
    )
