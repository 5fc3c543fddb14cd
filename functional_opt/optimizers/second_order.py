"""Preconditioned and second-order optimizers: Shampoo (Kronecker-factored
preconditioners) and Sophia (momentum over a clipped Hessian-diagonal
estimate).

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt.base import GradientTransformation, chain
from functional_opt.optimizers._links import optional_trace, with_decoupled_decay
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.shampoo import scale_by_shampoo
from functional_opt.transforms.sophia import scale_by_sophia


def shampoo(
    learning_rate,
    eps=1e-4,
    precondition_frequency: int = 1,
    max_preconditioner_dim: int = 1024,
    momentum=None,
    nesterov: bool = False,
) -> GradientTransformation:
    """Shampoo: Kronecker-factored preconditioning of each leaf (optionally with momentum).

    ``chain(scale_by_shampoo(eps, precondition_frequency, max_preconditioner_dim),
    trace(momentum, nesterov) if momentum is not None,
    scale_by_learning_rate(learning_rate))``; see :func:`scale_by_shampoo`
    for the rule on tensors of any order, the update frequency and the
    memory. Momentum, when given, is heavy-ball on the preconditioned
    direction (learning rate outside the buffer). optax has no Shampoo.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        eps, precondition_frequency, max_preconditioner_dim: see :func:`scale_by_shampoo`.
        momentum: ``None`` or a coefficient in ``[0, 1]``; nesterov: Nesterov momentum.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.shampoo(0.1, eps=1e-8)
        >>> u, s = opt.update(jnp.array([[3.0]]), opt.init(jnp.zeros((1, 1))))
        >>> u.round(3)  # 1x1: -lr * g / (g^2)^(1/2)
        Array([[-0.1]], dtype=float32)

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
        Optimization", ICML 2018.
    """
    momentum_link = optional_trace(momentum, nesterov)  # checked first, before the transform's own arguments
    return chain(
        scale_by_shampoo(
            eps=eps, precondition_frequency=precondition_frequency, max_preconditioner_dim=max_preconditioner_dim
        ),
        momentum_link,
        scale_by_learning_rate(learning_rate),
    )


def sophia(
    learning_rate,
    b1=0.965,
    b2=0.99,
    eps=1e-8,
    weight_decay=1e-4,
    weight_decay_mask=None,
    gamma=0.01,
    clip_threshold=1.0,
    update_interval: int = 10,
    seed: int = 0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Sophia-H: momentum preconditioned by a clipped Hessian-diagonal estimate.

    ``chain(scale_by_sophia(b1, b2, eps, gamma, clip_threshold,
    update_interval, seed, mu_dtype), add_decayed_weights(weight_decay,
    weight_decay_mask), scale_by_learning_rate(learning_rate))``. ``update``
    needs ``params`` and ``obj_fn=`` (the batch loss as a function of the
    params), from which a Hutchinson estimate of the Hessian diagonal is drawn
    every ``update_interval`` steps; see :func:`scale_by_sophia`. Defaults
    are optax's (``b1=0.965``, ``b2=0.99``, ``gamma=0.01``,
    ``weight_decay=1e-4``, ``update_interval=10``); ``seed`` replaces optax's
    ``hessian_diagonal_fn``.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        weight_decay: ``>= 0`` decoupled decay.
        weight_decay_mask: tree of bools (the params' structure or a prefix of
            it) or a function of the params; ``False`` leaves are not decayed.
        b1, b2, eps, gamma, clip_threshold, update_interval, seed, mu_dtype: see
            :func:`scale_by_sophia`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda p: jnp.sum(p ** 2)
        >>> opt = fo.sophia(0.1, weight_decay=0.0)
        >>> p = jnp.array([1.0, -1.0])
        >>> u, s = opt.update(jax.grad(loss)(p), opt.init(p), p, obj_fn=loss)
        >>> u  # mu / (gamma * h) = 0.07 / 0.0002 is clipped to 1
        Array([-0.1,  0.1], dtype=float32)

    References:
        Liu et al., "Sophia: A Scalable Stochastic Second-order Optimizer for
        Language Model Pre-training", ICLR 2024.
    """
    direction = scale_by_sophia(
        b1=b1,
        b2=b2,
        eps=eps,
        gamma=gamma,
        clip_threshold=clip_threshold,
        update_interval=update_interval,
        seed=seed,
        mu_dtype=mu_dtype,
    )
    return with_decoupled_decay(direction, learning_rate, weight_decay, weight_decay_mask)
