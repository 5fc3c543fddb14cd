"""Scaling by the root mean square of past gradients (RMSProp's denominator)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    concrete_scalar,
    check_dtype,
    check_number,
    compute_dtype,
    log_of,
    one_minus,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`.

    ``count`` is the int32 step count, ``nu`` the moving average of ``g**2``
    and ``mu`` the moving average of ``g`` (an empty tuple unless centered).
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

    Update rule (the tutorial's RMSProp denominator), ``t = count + 1``::

        nu <- decay * nu + (1 - decay) * g**2           (E[g^2] in the tutorial)
        mu <- decay * mu + (1 - decay) * g              (centered only)
        nu_hat = nu / (1 - decay**t) if bias_correction else nu   (same for mu_hat)
        s = nu_hat - mu_hat**2 if centered else nu_hat
        u <- g / sqrt(s + eps)        (eps_in_sqrt=True: the tutorial, optax)
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

    Example:
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
        nu = jax.tree.map(
            lambda p: jnp.full(jnp.shape(p), initial_scale, nu_dtype or jnp.finfo(jnp.result_type(p)).dtype),
            params,
        )
        mu = _tree.zeros_like(params, nu_dtype) if centered else ()
        return ScaleByRmsState(count=zero_count(), nu=nu, mu=mu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_same_shapes("scale_by_rms", "updates", updates, "state.nu", state.nu)
        _tree.check_inexact("scale_by_rms", "the update", updates)
        omb = one_minus(decay, state.count)
        eps_ = value_at(eps, None)
        count = safe_increment(state.count)
        c = _tree.bias_correction_factor(log_of(decay, state.count), count) if bias_correction else None

        def leaf(g, nu, mu=None):
            dt = compute_dtype(g.dtype, nu.dtype)
            g_ = g.astype(dt)
            nu_f = nu.astype(dt)
            nu_new = nu_f + omb * (_tree.abs_sq(g_) - nu_f)
            s = nu_new if c is None else nu_new * c
            if centered:
                mu_f = mu.astype(dt)
                mu_new = mu_f + omb * (g_ - mu_f)
                mu_hat = mu_new if c is None else mu_new * c
                s = s - _tree.abs_sq(mu_hat)
            den = jnp.sqrt(s + eps_) if eps_in_sqrt else jnp.sqrt(s) + eps_
            # den == 0 only for an all-zero gradient history with eps == 0: 0 / 0 := 0
            u = jnp.where(den == 0, 0, g_ / den) if guard_zero else g_ / den
            out = (u.astype(g.dtype), nu_new.astype(nu.dtype))
            if centered:
                out = out + (mu_new.astype(mu.dtype),)
            return out

        treedef = jax.tree.structure(updates)
        if centered:
            out = jax.tree.map(leaf, updates, state.nu, state.mu)
            u, nu, mu = _tree.unzip(out, treedef, 3)
        else:
            out = jax.tree.map(leaf, updates, state.nu)
            u, nu = _tree.unzip(out, treedef, 2)
            mu = ()
        return u, ScaleByRmsState(count=count, nu=nu, mu=mu)

    return GradientTransformation(init, update)
