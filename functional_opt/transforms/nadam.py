"""NAdam with Dozat's momentum-decay schedule (the paper's and torch's form)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_dtype,
    check_number,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation

_LOG_096 = math.log(0.96)


class ScaleByNadamState(NamedTuple):
    """State of :func:`scale_by_nadam`.

    ``count`` (int32), the moments ``mu`` and ``nu``, and ``mu_product``, the
    float32 scalar ``prod_{i <= t} mu_i`` of the momentum schedule.
    """

    count: Any
    mu: Any
    nu: Any
    mu_product: Any


def scale_by_nadam(
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    momentum_decay=0.004,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with NAdam and its momentum-decay schedule (torch's form).

    Update rule, ``t = count + 1``, ``psi = momentum_decay``::

        mu_t = b1 * (1 - 0.5 * 0.96**(t * psi)),  mu_{t+1} likewise
        P_t = mu_1 * mu_2 * ... * mu_t                  (state.mu_product)
        mu <- b1 * mu + (1 - b1) * g,   nu <- b2 * nu + (1 - b2) * g**2
        d = sqrt(nu / (1 - b2**t) + eps_root) + eps
        u = ((1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t * mu_{t+1}) * mu) / d

    Conventions:

    ================  ================  ===============  ================  =================
    choice            this transform    optax ``nadam``  torch ``NAdam``   paper (Dozat)
    ================  ================  ===============  ================  =================
    momentum factor   schedule mu_t     constant ``b1``  schedule mu_t     schedule mu_t
    EMA of ``g``      ``b1``            ``b1``           ``b1``            ``mu_t``
    ================  ================  ===============  ================  =================

    This transform is torch's ``NAdam`` (``momentum_decay=4e-3`` is
    ``psi = 1/250`` of Dozat's paper). Dozat's Algorithm 2 writes the moving
    average of ``g`` with ``mu_t``; torch and Keras use ``b1`` and so does this
    transform. optax's constant-momentum form is
    :func:`~functional_opt.scale_by_adam` with ``nesterov=True``; the
    optimizer :func:`~functional_opt.nadam` chooses between the two.

    Args:
        b1: base momentum in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, outside the square root.
        eps_root: ``>= 0``, inside the square root.
        momentum_decay: ``psi >= 0`` (number or array); ``0`` gives the
            constant factor ``mu_t = b1 / 2``.
        mu_dtype: dtype of ``mu``; default the param dtype.

    State: :class:`ScaleByNadamState` ``(count, mu, nu, mu_product)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_nadam()
        >>> u, s = t.update(jnp.array([2.0, -0.5]), t.init(jnp.zeros(2)))
        >>> u.round(4)  # (g + mu_2 / (1 - mu_1 mu_2) * 0.1 g) / |g|
        Array([ 1.0565, -1.0565], dtype=float32)

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    check_number("momentum_decay", momentum_decay, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)

    def init(params):
        return ScaleByNadamState(
            count=zero_count(),
            mu=_tree.zeros_like(params, mu_dtype),
            nu=_tree.real_dtype_zeros(params),
            mu_product=jnp.ones([], jnp.float32),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)
        # the momentum schedule in float32, the dtype of state.mu_product
        beta1 = value_at(b1, state.count, jnp.float32)
        psi = value_at(momentum_decay, None, jnp.float32)
        t = safe_increment(state.count)
        mu_t = beta1 * (1 - 0.5 * jnp.exp(t * psi * _LOG_096))
        mu_next = beta1 * (1 - 0.5 * jnp.exp((t + 1) * psi * _LOG_096))
        p_t = state.mu_product * mu_t
        coef_g = (1 - mu_t) / (1 - p_t)
        coef_m = mu_next / (1 - p_t * mu_next)

        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            d = jnp.sqrt(nu * k2.c + eps_root_) + eps_
            return (coef_g * g + coef_m * mu) / d, mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_nadam", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByNadamState(count=safe_increment(state.count), mu=mu, nu=nu, mu_product=p_t)

    return GradientTransformation(init, update)
