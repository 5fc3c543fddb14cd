"""The tutorial's four optimizers, written exactly as it states them, and
optax's ``sgd`` and ``adamw``.

The equations live on the transforms (:mod:`functional_opt.transforms`); each
optimizer here is a ``chain`` of them, documented with the rule it implements.
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
    """Plain gradient descent, the tutorial's section 3.1.

    Update rule: ``theta <- theta - eta * grad J(theta)`` with
    ``eta = learning_rate`` (or ``learning_rate(count)`` for a schedule).
    Equal to ``sgd(learning_rate)`` without momentum.

    Args:
        learning_rate: ``eta >= 0``: a number, an array or a schedule.

    Returns:
        ``chain(scale_by_learning_rate(learning_rate))``.

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
    """Momentum exactly as the tutorial writes it (section 3.2), learning rate inside.

    Update rule::

        v_t = gamma * v_{t-1} + eta * g_t        (gamma = decay, eta = learning_rate)
        theta_{t+1} = theta_t - v_t

    Conventions: the learning rate multiplies the gradient *before* it enters
    the buffer (``chain(scale_by_learning_rate, trace)``). With a constant rate
    this equals ``sgd(learning_rate, momentum=decay)`` (optax, torch, which keep
    ``eta`` outside: ``v = gamma v + g; theta -= eta v``). With a scheduled rate
    the two differ: here a change of ``eta`` only affects new gradients, there
    it rescales the whole accumulated velocity.

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
    """RMSProp as the tutorial writes it (section 3.3), with optax's options.

    Update rule (defaults)::

        E[g^2]_t = beta * E[g^2]_{t-1} + (1 - beta) * g_t**2      (beta = decay)
        theta_{t+1} = theta_t - eta / sqrt(E[g^2]_t + eps) * g_t

    The defaults reproduce the tutorial and ``optax.rmsprop`` exactly (``eps``
    inside the root). ``torch.optim.RMSprop`` puts ``eps`` outside the root
    (``eps_in_sqrt=False``), defaults ``alpha=0.99`` and applies momentum as
    ``b = m b + g / (sqrt(v) + eps); theta -= lr b`` (learning rate outside the
    buffer); here, as in optax, momentum is a :func:`trace` after the
    learning-rate scaling, equal for a constant rate.

    ==============  ============  ============  ==============
    choice          this library  optax         torch
    ==============  ============  ============  ==============
    decay default   0.9           0.9           0.99 (alpha)
    eps placement   inside sqrt   inside sqrt   outside sqrt
    ==============  ============  ============  ==============

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        decay: ``beta`` in ``[0, 1]``.
        eps: ``>= 0``.
        initial_scale: initial ``E[g^2]`` (``>= 0``).
        eps_in_sqrt: eps inside (tutorial, optax) or outside (torch) the root.
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
    """Adam as the tutorial writes it (section 3.4); the same as ``optax.adam``.

    Update rule, ``t`` the 1-based step::

        m_t = b1 m_{t-1} + (1 - b1) g_t
        v_t = b2 v_{t-1} + (1 - b2) g_t**2
        m_hat = m_t / (1 - b1**t),  v_hat = v_t / (1 - b2**t)
        theta_{t+1} = theta_t - eta / (sqrt(v_hat) + eps) * m_hat

    Conventions: ``eps`` outside the root (paper, optax, torch agree);
    ``eps_root`` inside it. See :func:`scale_by_adam`.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2: decays in ``[0, 1)``.
        eps, eps_root: ``>= 0``.
        mu_dtype: dtype of the first moment (e.g. ``jnp.bfloat16``).
        nesterov: NAdam's first-moment estimate.

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

    Update rule::

        v <- momentum * v + g                 (if momentum is not None)
        u = v  or  momentum * v + g           (heavy ball / nesterov)
        theta <- theta - eta * u

    Conventions: learning rate outside the momentum buffer and no dampening,
    as optax and ``torch.optim.SGD(dampening=0)``. For the tutorial's form
    (rate inside the buffer) see :func:`momentum`.

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
    """Adam with decoupled weight decay, as ``optax.adamw``.

    Update rule::

        u = adam_direction(g)                          (see scale_by_adam)
        theta <- theta - eta * (u + weight_decay * theta)

    Conventions: the decay is multiplied by the learning rate (optax, torch,
    and the paper's ``eta_t`` schedule multiplier with ``alpha = eta``).
    Defaults: ``weight_decay=1e-4`` (optax); torch's ``AdamW`` uses ``1e-2``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, mu_dtype, nesterov: as :func:`adam`.
        weight_decay: ``>= 0``: number, array or schedule.
        mask: tree of bools or function of the params; ``False`` leaves are
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
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
