"""Gradient descent, momentum, RMSProp and Adam in their textbook forms, and
optax's ``sgd`` and ``adamw``.

Each optimizer is a documented ``chain`` of transforms; the update rules live
on the transforms (:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.transforms.adam import scale_by_adam
from functional_opt.transforms.momentum import trace
from functional_opt.transforms.rms import scale_by_rms
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.weight_decay import add_decayed_weights
from functional_opt._hparams import check_number


def gradient_descent(learning_rate) -> GradientTransformation:
    """Plain gradient descent: ``theta <- theta - eta * grad J(theta)``, ``eta = learning_rate``.

    ``chain(scale_by_learning_rate(learning_rate))``; equal to
    ``sgd(learning_rate)`` (no momentum). A schedule is evaluated at the
    step count, ``eta = learning_rate(count)``.

    Args:
        learning_rate: ``eta >= 0``: a number, an array or a schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.gradient_descent(0.1)
        >>> p = jnp.array([1.0])
        >>> u, _ = opt.update(jnp.array([2.0]), opt.init(p), p)
        >>> fo.apply_updates(p, u)
        Array([0.8], dtype=float32)

    References:
        Cauchy, "Méthode générale pour la résolution des systèmes d'équations
        simultanées", 1847.
    """
    return chain(scale_by_learning_rate(learning_rate))


def momentum(learning_rate, decay=0.9) -> GradientTransformation:
    """Momentum with the learning rate inside the velocity.

    ``chain(scale_by_learning_rate(learning_rate), trace(decay))``, which is
    the textbook rule ``v_t = gamma * v_{t-1} + eta * grad J(theta_t)``,
    ``theta_{t+1} = theta_t - v_t`` (``gamma = decay``, ``eta = learning_rate``).

    Conventions: the rate multiplies the gradient *before* it enters the
    buffer. optax's and torch's ``sgd(momentum=...)`` keep it outside
    (``v = gamma v + g; theta -= eta v``): equal for a constant rate; with a
    schedule, here a change of ``eta`` affects only new gradients, there it
    rescales the whole accumulated velocity. Default ``decay=0.9``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        decay: ``gamma`` in ``[0, 1]``: number, array or schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.momentum(0.1, decay=0.9)
        >>> p = jnp.zeros(1); s = opt.init(p)
        >>> u, s = opt.update(jnp.ones(1), s, p)
        >>> u, s = opt.update(jnp.ones(1), s, p)
        >>> u  # -(0.9 * 0.1 + 0.1)
        Array([-0.19], dtype=float32)

    References:
        Polyak, "Some methods of speeding up the convergence of iteration
        methods", 1964; Qian, "On the momentum term in gradient descent
        learning algorithms", Neural Networks 1999.
    """
    check_number("decay", decay, low=0.0, high=1.0, allow_schedule=True)
    return chain(scale_by_learning_rate(learning_rate), trace(decay=decay))


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

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.rmsprop(0.01, eps=0.0)
        >>> u, _ = opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))
        >>> u.round(5)  # -0.01 / sqrt(0.1)
        Array([-0.03162], dtype=float32)

    References:
        Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA, 2012.
    """
    if momentum is not None:
        check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
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
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
    )


def adam(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam, as ``optax.adam`` (same arguments and defaults).

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
    scale_by_learning_rate(learning_rate))``; the rule, with ``eps_root`` and
    the Nesterov form, is on :func:`scale_by_adam`. With ``eps_root=0`` and
    ``nesterov=False`` (the defaults) it is Kingma & Ba's
    ``m_t = b1 m_{t-1} + (1 - b1) g_t``, ``v_t = b2 v_{t-1} + (1 - b2) g_t**2``,
    ``theta_{t+1} = theta_t - eta * (m_t / (1 - b1**t)) / (sqrt(v_t / (1 - b2**t)) + eps)``.

    Defaults: ``b1=0.9, b2=0.999, eps=1e-8`` (paper, optax, torch); no default
    learning rate (torch: 1e-3). ``eps`` sits outside the root in all three.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2: decays in ``[0, 1)``.
        eps, eps_root: ``>= 0``, outside and inside the root.
        mu_dtype: dtype of the first moment (e.g. ``jnp.bfloat16``).
        nesterov: NAdam's first-moment estimate (optax's ``nadam``).

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adam(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def sgd(learning_rate, momentum=None, nesterov: bool = False, accumulator_dtype: Any = None) -> GradientTransformation:
    """Stochastic gradient descent with optional momentum, as ``optax.sgd``.

    ``chain(trace(momentum, nesterov, accumulator_dtype) if momentum is not
    None, scale_by_learning_rate(learning_rate))``; the momentum rule is on
    :func:`trace`.

    Conventions: the learning rate is outside the momentum buffer and there is
    no dampening, as optax and ``torch.optim.SGD(dampening=0)``; for the rate
    inside the buffer see :func:`momentum`.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        momentum: ``None`` (no buffer) or a coefficient in ``[0, 1]``.
        nesterov: Nesterov momentum.
        accumulator_dtype: dtype of the momentum buffer.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sgd(0.1, momentum=0.9)
        >>> u, _ = opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Robbins & Monro, "A Stochastic Approximation Method", 1951;
        Sutskever et al., ICML 2013.
    """
    if momentum is not None:
        check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
    return chain(
        trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
        if momentum is not None
        else identity(),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    weight_decay=1e-4,
    mask=None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam with decoupled weight decay, as ``optax.adamw`` (same arguments and defaults).

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``.

    Conventions: the decay is multiplied by the learning rate (optax, torch;
    the paper's schedule multiplier ``eta_t`` with ``alpha = eta``). Default
    ``weight_decay=1e-4`` (optax); torch's ``AdamW`` uses ``1e-2``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, mu_dtype, nesterov: as :func:`adam`.
        weight_decay: ``>= 0``: number, array or schedule.
        mask: a tree of bools with the params' structure or a prefix of it
            (optax's semantics, e.g. ``{"encoder": False, "head": True}``),
            or a function of the params returning one; ``False`` leaves are
            not decayed.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adamw(0.1, weight_decay=0.5)
        >>> p = jnp.array([2.0])
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(p), p)
        >>> u  # -0.1 * (1 + 0.5 * 2)
        Array([-0.2], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_learning_rate(learning_rate),
    )
