"""Prodigy: Adam whose step size ``d`` is estimated from the distance travelled."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_number,
    compute_dtype,
    log_of,
    one_minus,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation


class ProdigyState(NamedTuple):
    """State of :func:`scale_by_prodigy`.

    ``estim_lr`` is the current adapted step size ``d`` (a scalar of at least float32: read
    it to log the learning rate Prodigy found); ``estim_lr_max`` the largest
    estimate so far; ``numerator_weighted`` the running numerator of the
    estimate; ``exp_avg``/``exp_avg_sq`` Adam's moments of ``d * g``;
    ``grad_sum`` the weighted gradient sum ``s``; ``params0`` the initial params.
    """

    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: Any
    estim_lr_max: Any
    numerator_weighted: Any


def _check_betas(betas):
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (b1, b2), got {betas!r}")
    check_number("betas[0]", betas[0], low=0.0, high=1.0, high_inclusive=False)
    check_number("betas[1]", betas[1], low=0.0, high=1.0, high_inclusive=False)


def scale_by_prodigy(
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
    """Prodigy's step (positive: negate it, as :func:`functional_opt.prodigy` does).

    Update rule, ``k = count``, ``t = k + 1``, ``d = estim_lr``, ``d0 = estim_lr0``,
    ``lr = learning_rate(k)``, sums over every coordinate of every leaf::

        dlr = d * lr * (sqrt(1 - b2**t) / (1 - b1**t) if bias_correction else 1)
        r   <- b3 * r + (d / d0) * dlr * <g, x0 - x>                  (numerator_weighted)
        m   <- b1 * m + (1 - b1) * d * g
        v   <- b2 * v + (1 - b2) * d**2 * g**2
        s   <- b3 * s + (d / d0) * (d if safeguard_warmup else dlr) * g
        d_hat = estim_lr_coef * r / sum|s|
        d_max <- max(d_max, d_hat)
        d   <- min(d_max, max(d, d_hat) * growth_rate)  while d == d0 (the first jump is uncapped)
        d   <- min(d_max, d * growth_rate)              afterwards
        u   = dlr * (m / (sqrt(v) + d_new * eps) + weight_decay * x)

    ``d`` only grows. While ``sum|s| == 0`` (no gradient yet, or ``lr = 0``)
    ``d`` is kept (the reference skips such a step; optax divides 0 by 0).

    Conventions:

    ==================  ====================  ===================  ==================
    choice              this library          reference (PyTorch)  optax.contrib
    ==================  ====================  ===================  ==================
    bias correction     on (option)           off (option)         always on
    growth_rate         inf (option)          inf (option)         none
    weight decay        decoupled (x dlr)     decoupled (default)  decoupled
    d while sum|s|=0    kept                  step skipped         NaN
    ==================  ====================  ===================  ==================

    Args:
        learning_rate: ``>= 0`` multiplier of the adapted step (1 recommended).
        betas: ``(b1, b2)``, each in ``[0, 1)``.
        beta3: decay of ``r`` and ``s`` in ``[0, 1]``; default ``sqrt(b2)``.
        eps: ``>= 0``; the denominator uses ``d * eps``.
        estim_lr0: initial ``d > 0``.
        estim_lr_coef: ``> 0`` multiplier of the estimate (``d_coef``).
        weight_decay: ``>= 0``, decoupled.
        safeguard_warmup: leave ``lr`` out of ``s`` (for warmup schedules).
        bias_correction: Adam's bias correction folded into ``dlr``.
        growth_rate: ``>= 1``, cap on ``d``'s growth per step.

    State: :class:`ProdigyState` (``estim_lr`` is the adapted step size ``d``).
    Needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.prodigy()
        >>> x = jnp.array([1.0, -2.0]); s = opt.init(x)
        >>> for _ in range(40):
        ...     u, s = opt.update(2 * x, s, x)   # gradient of sum(x**2)
        ...     x = fo.apply_updates(x, u)
        >>> bool(s[0].estim_lr > 1e-2)   # d grew from 1e-6 by orders of magnitude
        True

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive
        Parameter-Free Learner", ICML 2024; konstmish/prodigy (reference).
    """
    _check_betas(betas)
    b1, b2 = betas
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    if beta3 is not None:
        check_number("beta3", beta3, low=0.0, high=1.0)
    check_number("eps", eps, low=0.0)
    check_number("estim_lr0", estim_lr0, low=0.0, low_inclusive=False)
    check_number("estim_lr_coef", estim_lr_coef, low=0.0, low_inclusive=False)
    check_number("weight_decay", weight_decay, low=0.0)
    check_number("growth_rate", growth_rate, low=1.0, allow_inf=True)

    def init(params):
        sdt = compute_dtype(*[jnp.result_type(p) for p in jax.tree.leaves(params)])  # >= float32
        zeros = _tree.zeros_like(params)
        f32 = lambda x: value_at(x, None, sdt)  # noqa: E731
        return ProdigyState(
            count=zero_count(), exp_avg=zeros, exp_avg_sq=_tree.zeros_like(params), grad_sum=_tree.zeros_like(params),
            params0=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
            estim_lr=f32(estim_lr0), estim_lr_max=f32(estim_lr0), numerator_weighted=jnp.zeros([], sdt),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("prodigy needs params: call update(updates, state, params)")
        sdt = state.estim_lr.dtype
        f32 = lambda x: value_at(x, None, sdt)  # noqa: E731
        k = state.count
        t = safe_increment(k)
        beta1, beta2 = f32(b1), f32(b2)
        omb1, omb2 = one_minus(b1, None).astype(sdt), one_minus(b2, None).astype(sdt)
        b3 = jnp.sqrt(beta2) if beta3 is None else f32(beta3)
        lr = value_at(learning_rate, k, sdt)
        if bias_correction:
            bc = jnp.sqrt(-jnp.expm1(t * log_of(b2, None))) / -jnp.expm1(t * log_of(b1, None))
            bc = bc.astype(sdt)
        else:
            bc = jnp.ones([], sdt)
        d, d0 = state.estim_lr, f32(estim_lr0)
        dlr = d * lr * bc
        s_scale = (d / d0) * (d if safeguard_warmup else dlr)

        def moments(g, m, v, s, x, x0):
            dt = compute_dtype(g.dtype, m.dtype)
            g_ = g.astype(dt)
            num = jnp.sum(g_ * (x0.astype(dt) - jnp.asarray(x).astype(dt)))
            m_new = beta1 * m.astype(dt) + omb1 * d * g_
            v_new = beta2 * v.astype(dt) + omb2 * d * d * g_ * g_
            s_new = b3 * s.astype(dt) + s_scale * g_
            return m_new.astype(m.dtype), v_new.astype(v.dtype), s_new.astype(s.dtype), num, jnp.sum(jnp.abs(s_new))

        treedef = jax.tree.structure(updates)
        out = jax.tree.map(moments, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum, params, state.params0)
        m, v, s, num, l1 = _tree.unzip(out, treedef, 5)
        numerator = b3 * state.numerator_weighted + (d / d0) * dlr * _tree.tree_sum(jax.tree.leaves(num))
        denom = _tree.tree_sum(jax.tree.leaves(l1))
        d_hat = f32(estim_lr_coef) * numerator / jnp.where(denom > 0, denom, 1.0)
        adapt = (denom > 0) & (lr > 0)  # otherwise the reference skips the estimate
        d_max = jnp.where(adapt, jnp.maximum(state.estim_lr_max, d_hat), state.estim_lr_max)
        d_first = jnp.where(d == d0, jnp.maximum(d, d_hat), d)  # the first jump is not capped
        d_new = jnp.where(adapt, jnp.minimum(d_max, d_first * f32(growth_rate)), d)
        wd = f32(weight_decay)

        def step(g, m_, v_, x):
            dt = compute_dtype(g.dtype, m_.dtype)
            u = dlr * (m_.astype(dt) / (jnp.sqrt(v_.astype(dt)) + d_new * f32(eps)) + wd * jnp.asarray(x).astype(dt))
            return u.astype(g.dtype)

        u = jax.tree.map(step, updates, m, v, params)
        new_state = ProdigyState(
            count=t, exp_avg=m, exp_avg_sq=v, grad_sum=s, params0=state.params0,
            estim_lr=d_new, estim_lr_max=d_max, numerator_weighted=numerator,
        )
        return u, new_state

    return GradientTransformation(init, update)
