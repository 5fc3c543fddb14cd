"""Scaling by the root mean square of past gradients (RMSProp's denominator)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, concrete_scalar, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`.

    ``count`` is the int32 step count (kept whether ``decay`` is a constant
    or a schedule; optax keeps it too), ``nu`` the moving average of
    ``|g|**2`` and ``mu`` the moving average of ``g`` (an empty tuple unless
    centered).
    """

    count: Any
    nu: Any
    mu: Any


def scale_by_rms(
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    centered: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Divide the updates by the root of a moving average of their squares.

    Update rule (RMSProp's denominator), ``t = count + 1``::

        nu <- decay * nu + (1 - decay) * |g|**2
        mu <- decay * mu + (1 - decay) * g              (centered only)
        nu_hat = nu / (1 - decay**t) if bias_correction else nu   (same for mu_hat)
        s = nu_hat - |mu_hat|**2 if centered else nu_hat
        u <- g / sqrt(s + eps)        (eps_in_sqrt=True: Hinton's lecture, optax)
        u <- g / (sqrt(s) + eps)      (eps_in_sqrt=False: torch.optim.RMSprop)

    Conventions:

    =================  ==============  =============  ==============
    choice             this library    optax          torch
    =================  ==============  =============  ==============
    eps placement      inside sqrt     inside sqrt    outside sqrt
    default eps        1e-8            1e-8           1e-8
    initial nu         0               0              0
    bias correction    off             off            off
    =================  ==============  =============  ==============

    Args:
        decay: ``beta`` in ``[0, 1]`` (number, array or schedule).
        eps: ``epsilon >= 0``, guards the division.
        initial_scale: initial value of ``nu`` (``>= 0``); TF1 used 1.0.
        eps_in_sqrt: where ``eps`` goes (see the table).
        bias_correction: divide the averages by ``1 - decay**t``.
        centered: divide by an estimate of the variance instead of the second
            moment (Graves 2013; optax's ``scale_by_stddev``).
        nu_dtype: dtype of the accumulators; default the param dtype.

    State: :class:`ScaleByRmsState` ``(count, nu, mu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_rms(decay=0.9, eps=0.0)
        >>> u, s = t.update(jnp.full(1, 2.0), t.init(jnp.zeros(1)))
        >>> u  # 2 / sqrt(0.1 * 4)
        Array([3.1622777], dtype=float32)

    References:
        Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA, 2012.
        Graves, "Generating Sequences With Recurrent Neural Networks", 2013.
    """
    check_number("decay", decay, low=0.0, high=1.0, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    # 0 / 0 is possible only when eps may be 0 (a Python 0, an array or a tracer);
    # a positive Python eps needs no guard (one op less per leaf)
    guard_zero = not (concrete_scalar(eps) or 0.0) > 0.0
    check_number("initial_scale", initial_scale, low=0.0)
    nu_dtype = check_dtype("nu_dtype", nu_dtype)

    def init(params):
        _tree.check_inexact("scale_by_rms", "the parameter", params)
        nu = _tree.full_like(_tree.real_dtype_zeros(params, nu_dtype), initial_scale)
        mu = _tree.zeros_like(params, nu_dtype) if centered else ()
        return ScaleByRmsState(count=zero_count(), nu=nu, mu=mu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k = _tree.decay_scalars(decay, state.count)
        eps_ = value_at(eps, None)

        def leaf(g, nu, mu=None):
            nu = _tree.ema(nu, _tree.abs_sq(g), k.omb)
            s = nu_hat = nu * k.c if bias_correction else nu
            if centered:
                mu = _tree.ema(mu, g, k.omb)
                mu_hat = mu * k.c if bias_correction else mu
                s = nu_hat - _tree.abs_sq(mu_hat)
            den = jnp.sqrt(s + eps_) if eps_in_sqrt else jnp.sqrt(s) + eps_
            # den == 0 only for an all-zero gradient history with eps == 0: 0 / 0 := 0
            u = jnp.where(den == 0, 0, g / den) if guard_zero else g / den
            return (u, nu, mu) if centered else (u, nu)

        moments = {"nu": state.nu, "mu": state.mu} if centered else {"nu": state.nu}
        u, (nu, *mu) = _tree.map_moments("scale_by_rms", leaf, updates, **moments)
        return u, ScaleByRmsState(count=safe_increment(state.count), nu=nu, mu=mu[0] if centered else ())

    return GradientTransformation(init, update)
