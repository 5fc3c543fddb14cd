"""Gradient descent and its stochastic variants: plain, with momentum (the
learning rate inside or outside the buffer), on the gradient's sign (signSGD,
Signum), with annealed noise, and with Polyak's step size.

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt._hparams import check_number
from functional_opt.base import GradientTransformation, chain
from functional_opt.optimizers._links import optional_trace
from functional_opt.transforms.momentum import ema, trace
from functional_opt.transforms.noise import add_noise, resolve_seed
from functional_opt.transforms.polyak import scale_by_polyak
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.sign import scale_by_sign


def gradient_descent(learning_rate) -> GradientTransformation:
    """Plain gradient descent: ``theta <- theta - eta * grad J(theta)``, ``eta = learning_rate``.

    ``chain(scale_by_learning_rate(learning_rate))``; equal to
    ``sgd(learning_rate)`` (no momentum). A schedule is evaluated at the
    step count, ``eta = learning_rate(count)``.

    Args:
        learning_rate: ``eta >= 0``: a number, an array or a schedule.

    Examples:
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

    Examples:
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

    Examples:
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
    return chain(optional_trace(momentum, nesterov, accumulator_dtype), scale_by_learning_rate(learning_rate))


def sign_sgd(learning_rate) -> GradientTransformation:
    """signSGD: descend along the sign of the gradient, as optax's ``sign_sgd``.

    ``chain(scale_by_sign(), scale_by_learning_rate(learning_rate))``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sign_sgd(0.1)
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex Problems", ICML 2018.
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate, beta=0.9, accumulator_dtype: Any = None) -> GradientTransformation:
    """Signum: descend along the sign of a moving average of the gradients.

    ``chain(ema(beta, debias=False, accumulator_dtype), scale_by_sign(),
    scale_by_learning_rate(learning_rate))``. The average is not
    bias-corrected (the sign does not change). Same as optax's ``signum`` and
    the paper's Algorithm 3.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        beta: momentum in ``[0, 1]`` (number, array or schedule).
        accumulator_dtype: dtype of ``m``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.signum(0.1)
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., ICML 2018.
    """
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


def noisy_sgd(learning_rate, eta=0.01, gamma=0.55, key: Any = None, *, seed: Any = None) -> GradientTransformation:
    """SGD on gradients with annealed Gaussian noise, as optax's ``noisy_sgd``.

    ``chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))``
    (the noise schedule is on :func:`~functional_opt.add_noise`). Default
    ``key=None``, meaning seed 0 (as optax, without its warning); the same
    ``key`` gives optax's noise.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        eta: base variance ``>= 0``.
        gamma: decay exponent ``>= 0``.
        key: an int seed or a PRNG key (``None`` means 0).
        seed: optax's deprecated name for ``key`` (a ``DeprecationWarning``).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.noisy_sgd(0.1, eta=0.0)
        >>> opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.3], dtype=float32)

    References:
        Neelakantan et al., arXiv:1511.06807, 2015.
    """
    key = resolve_seed(key, seed)
    return chain(add_noise(eta=eta, gamma=gamma, key=key), scale_by_learning_rate(learning_rate))


def polyak_sgd(max_learning_rate=1.0, scaling=1.0, f_min=0.0, eps=0.0, variant: str = "sps") -> GradientTransformation:
    """SGD with Polyak's step size; ``update`` needs ``value=loss``.

    ``chain(scale_by_learning_rate(scaling), scale_by_polyak(f_min,
    max_learning_rate, eps, variant))``, as optax: the scaling comes first, so
    the step size is computed from the scaled gradient. With ``scaling=1``
    this is SPS_max of Loizou et al. with ``gamma_b = max_learning_rate``;
    ``scaling`` plays their constant ``c`` in the denominator and also scales
    the cap.

    Args:
        max_learning_rate: the cap ``> 0``.
        scaling: ``c >= 0``: number, array or schedule.
        f_min: lower bound on the loss.
        eps: ``>= 0``.
        variant: ``"sps"`` or ``"sps+"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.polyak_sgd()
        >>> p = jnp.array([2.0])  # loss p**2 = 4, gradient 4
        >>> opt.update(jnp.array([4.0]), opt.init(p), p, value=4.0)[0]  # -min(4/16, 1) * 4
        Array([-1.], dtype=float32)

    References:
        Loizou et al., "Stochastic Polyak Step-size for SGD", AISTATS 2021.
    """
    return chain(
        scale_by_learning_rate(scaling),
        scale_by_polyak(f_min=f_min, max_learning_rate=max_learning_rate, eps=eps, variant=variant),
    )
