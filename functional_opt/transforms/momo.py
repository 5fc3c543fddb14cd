"""MoMo and MoMo-Adam: momentum methods with a Polyak-type adaptive step from the loss value."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation

_TINY = float(jnp.finfo(float).eps)  # optax's guard on the squared momentum norm


class MomoState(NamedTuple):
    """State of :func:`momo` (optax's fields): ``d``, ``f_bar``, ``gamma``, the lower bound and the count."""

    exp_avg: Any
    barf: Any
    gamma: Any
    lb: Any
    count: Any


def _needs(where, params, value):
    if params is None:
        raise ValueError(f"{where} needs params: call update(updates, state, params, value=loss)")
    if value is None:
        raise ValueError(f"{where} needs the loss: call update(updates, state, params, value=loss)")


def _polyak(where, learning_rate, lower_bound, weight_decay, adapt_lower_bound):
    """MoMo's truncated Polyak step, shared by both methods: ``(init_scalars, step)``.

    Validates ``lower_bound`` and ``weight_decay``. ``init_scalars(params)``
    gives the scalar state fields (``barf``, ``gamma``, ``lb``, ``count``).
    ``step(updates, params, state, value, mix, d, dw, c1)`` averages ``f``
    and ``<g, x>`` with ``mix(old, new)``, steps along ``dw`` (``d`` for
    MoMo, ``d / D`` for MoMo-Adam) with ``c1 = 1 - b1**k`` (1 for MoMo) and
    returns the update and the new scalar fields.
    """
    check_number("lower_bound", lower_bound)
    check_number("weight_decay", weight_decay, low=0.0)

    def init_scalars(params):
        _tree.check_inexact(where, "the parameter", params)
        z = jnp.zeros([], jnp.float32)
        return dict(barf=z, gamma=z, lb=jnp.asarray(lower_bound, jnp.float32), count=zero_count())

    def step(updates, params, state, value, mix, d, dw, c1):
        eta, lam = value_at(learning_rate, state.count), value_at(weight_decay, None)
        barf = mix(state.barf, jnp.asarray(value, jnp.float32))
        gamma = mix(state.gamma, _tree.real_vdot(updates, params))
        d_norm, dx = _tree.real_vdot(d, dw), _tree.real_vdot(d, params)
        one_lam = 1 + eta * lam
        lb = state.lb
        if adapt_lower_bound:
            cap = one_lam * (barf - gamma) + dx
            lb = jnp.where(cap < one_lam * c1 * lb, jnp.maximum(cap / (2 * c1 * one_lam), lower_bound), lb)
        t1 = jnp.where(d_norm <= _TINY, 0.0, jnp.maximum(one_lam * (barf - c1 * lb - gamma) + dx, 0.0) / d_norm)
        tau = jnp.minimum(eta / c1, t1)
        shrink = eta * lam / one_lam
        u, _ = _tree.map_moments(where, lambda g, q, x: (-(shrink * x + tau * q), q), updates, params=params, dw=dw)
        new_lb = jnp.maximum((barf + dx - gamma - tau * d_norm / 2) / c1, lower_bound) if adapt_lower_bound else lb
        return u, dict(
            barf=barf.astype(jnp.float32),
            gamma=gamma.astype(jnp.float32),
            lb=jnp.asarray(new_lb, jnp.float32),
            count=safe_increment(state.count),
        )

    return init_scalars, step


def momo(
    learning_rate=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0, adapt_lower_bound=False
) -> GradientTransformation:
    """MoMo: model-based momentum with a truncated Polyak step, read from ``value=``.

    Update rule (Schaipp et al., Algorithm 1), ``k = count``, ``rho = 1`` on
    the first step (``beta`` from the second on), ``eta = learning_rate(k)``,
    ``lam = weight_decay``, ``f`` the loss passed as ``value=``::

        f_bar <- rho * f_bar + (1 - rho) * f
        d     <- rho * d + (1 - rho) * g
        gamma <- rho * gamma + (1 - rho) * <g, x>
        h = (1 + eta * lam) * (f_bar - lb - gamma) + <d, x>
        tau = min(eta, max(h, 0) / ||d||**2)        (0 if ||d||**2 <= eps)
        u = -(eta * lam / (1 + eta * lam) * x + tau * d)

    With ``adapt_lower_bound`` the lower bound ``lb`` is estimated online
    (the paper's MoMo*), never below ``lower_bound``.

    Conventions: as ``optax.contrib.momo`` (arguments, defaults, state
    fields; the scalars are float32). The update is the full step (the
    learning rate caps ``tau``), so nothing is chained after it.

    Args:
        learning_rate: the step cap ``eta >= 0`` (number, array or schedule).
        beta: momentum in ``[0, 1)``.
        lower_bound: a lower bound on the loss (0 for non-negative losses).
        weight_decay: ``lam >= 0``, decoupled.
        adapt_lower_bound: estimate the lower bound online.

    State: :class:`MomoState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.momo(learning_rate=10.0)
        >>> p = jnp.array([2.0])  # f(x) = x**2 / 2: the Polyak step lands on 0
        >>> opt.update(p, opt.init(p), p, value=2.0)[0]
        Array([-2.], dtype=float32)

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models
        for Adaptive Learning Rates", ICML 2024.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    init_scalars, polyak_step = _polyak("momo", learning_rate, lower_bound, weight_decay, adapt_lower_bound)

    def init(params):
        return MomoState(exp_avg=_tree.zeros_like(params), **init_scalars(params))

    def update(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _needs("momo", params, value)
        rho = jnp.where(state.count == 0, 0.0, value_at(beta, None))

        def average(g, d):
            d = rho * d + (1 - rho) * g
            return d, d

        _, (d,) = _tree.map_moments("momo", average, updates, exp_avg=state.exp_avg)
        mix = lambda old, new: rho * old + (1 - rho) * new  # noqa: E731
        u, scalars = polyak_step(updates, params, state, value, mix, d, d, 1.0)
        return u, MomoState(exp_avg=d, **scalars)

    return GradientTransformation(init, update)


class MomoAdamState(NamedTuple):
    """State of :func:`momo_adam` (optax's fields): both moments, ``f_bar``, ``gamma``, lower bound, count."""

    exp_avg: Any
    exp_avg_sq: Any
    barf: Any
    gamma: Any
    lb: Any
    count: Any


def momo_adam(
    learning_rate=1e-2, b1=0.9, b2=0.999, eps=1e-8, lower_bound=0.0, weight_decay=0.0, adapt_lower_bound=False
) -> GradientTransformation:
    """MoMo-Adam: MoMo's truncated Polyak step in Adam's preconditioned geometry, read from ``value=``.

    Update rule (Schaipp et al., Algorithm 2), ``k = count + 1``,
    ``eta = learning_rate(count)``, ``lam = weight_decay``, ``f = value``::

        f_bar <- b1 * f_bar + (1 - b1) * f
        d     <- b1 * d + (1 - b1) * g
        v     <- b2 * v + (1 - b2) * g**2
        D = eps + sqrt(v / (1 - b2**k))
        gamma <- b1 * gamma + (1 - b1) * <g, x>
        c1 = 1 - b1**k
        h = (1 + eta * lam) * (f_bar - c1 * lb - gamma) + <d, x>
        tau = min(eta / c1, max(h, 0) / <d, d / D>)   (0 if <d, d / D> <= eps)
        u = -(eta * lam / (1 + eta * lam) * x + tau * d / D)

    Conventions: as ``optax.contrib.momo_adam`` (arguments, defaults, state
    fields; float32 scalars). The full step is returned.

    Args:
        learning_rate: the step cap ``eta >= 0`` (number, array or schedule).
        b1, b2: decays in ``[0, 1)``.
        eps: ``>= 0``, outside the root.
        lower_bound: a lower bound on the loss.
        weight_decay: ``lam >= 0``, decoupled.
        adapt_lower_bound: estimate the lower bound online.

    State: :class:`MomoAdamState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.momo_adam(learning_rate=0.1)
        >>> p = jnp.array([2.0])
        >>> opt.update(p, opt.init(p), p, value=2.0)[0]  # eta / c1 = 1 caps the step: -1 * sign(g)
        Array([-1.], dtype=float32)

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models
        for Adaptive Learning Rates", ICML 2024.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False)
    check_number("eps", eps, low=0.0)
    init_scalars, polyak_step = _polyak("momo_adam", learning_rate, lower_bound, weight_decay, adapt_lower_bound)

    def init(params):
        return MomoAdamState(
            exp_avg=_tree.zeros_like(params), exp_avg_sq=_tree.real_dtype_zeros(params), **init_scalars(params)
        )

    def update(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _needs("momo_adam", params, value)
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        eps_ = value_at(eps, None)

        def moments(g, d, v):
            d = _tree.ema(d, g, k1.omb)
            v = _tree.ema(v, _tree.abs_sq(g), k2.omb)
            D = eps_ + jnp.sqrt(v * k2.c)
            return d / D, d, v

        dw, (d, v) = _tree.map_moments(
            "momo_adam", moments, updates, exp_avg=state.exp_avg, exp_avg_sq=state.exp_avg_sq
        )
        mix = lambda old, new: _tree.ema(old, new, k1.omb)  # noqa: E731
        u, scalars = polyak_step(updates, params, state, value, mix, d, dw, 1 / k1.c)  # c1 = 1 - b1**k
        return u, MomoAdamState(exp_avg=d, exp_avg_sq=v, **scalars)

    return GradientTransformation(init, update)
