"""Prodigy: Adam whose step size ``d`` is estimated from the distance travelled."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_betas,
    check_number,
    compute_dtype,
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
    optax's ``ProdigyState`` has the same fields except ``estim_lr_max`` (the
    reference's ``d_max``, needed by ``growth_rate``), with ``count`` last.
    """

    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: Any
    estim_lr_max: Any
    numerator_weighted: Any


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
    """Prodigy's step before the learning rate: Adam on ``d * g``, with ``d`` estimated online.

    Update rule, ``k = count``, ``t = k + 1``, ``d = estim_lr``, ``d0 = estim_lr0``,
    ``lr = learning_rate(k)``, sums over every coordinate of every leaf::

        bc  = sqrt(1 - b2**t) / (1 - b1**t)     (1 if not bias_correction)
        dlr = d * lr * bc
        r   <- b3 * r + (d / d0) * dlr * <g, x0 - x>                  (numerator_weighted)
        m   <- b1 * m + (1 - b1) * d * g
        v   <- b2 * v + (1 - b2) * d**2 * |g|**2
        s   <- b3 * s + (d / d0) * (d if safeguard_warmup else dlr) * g
        d_hat = estim_lr_coef * r / sum|s|
        d_max <- max(d_max, d_hat)
        d_new = min(d_max, max(d, d_hat) * growth_rate)  while d == d0 (the first jump is uncapped)
        d_new = min(d_max, d * growth_rate)              afterwards
        u   = d * bc * (m / (sqrt(v) + d_new * eps) + weight_decay * x)

    ``u`` leaves the learning rate out: :func:`functional_opt.prodigy` ends
    with ``scale_by_learning_rate(learning_rate)``, so the step taken is
    ``-lr * u = -dlr * (...)``, the reference's. ``learning_rate`` is also an
    argument here because it enters the estimate of ``d`` (through ``dlr``
    in ``r`` and ``s``), as in the reference: give both the same value or
    schedule.

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
        learning_rate: ``>= 0`` (number, array or schedule), as it enters the
            estimate of ``d`` (1 recommended; a warmup/decay *shape*).
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

    Examples:
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
    check_betas(betas)
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
        sdt = compute_dtype(*[jnp.result_type(p) for p in jax.tree.leaves(params)])  # the d-estimate's dtype
        return ProdigyState(
            count=zero_count(),
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            params0=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
            estim_lr=value_at(estim_lr0, None, sdt),
            estim_lr_max=value_at(estim_lr0, None, sdt),
            numerator_weighted=jnp.zeros([], sdt),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        sdt = state.estim_lr.dtype
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        b3 = jnp.sqrt(value_at(b2, None, sdt)) if beta3 is None else value_at(beta3, None, sdt)
        lr = value_at(learning_rate, state.count, sdt)
        bc = (k1.c / jnp.sqrt(k2.c)).astype(sdt) if bias_correction else 1.0
        d, d0 = state.estim_lr, value_at(estim_lr0, None, sdt)
        dlr = d * lr * bc
        s_scale = (d / d0) * (d if safeguard_warmup else dlr)

        # first pass: the moments and the two sums of d's estimate (u needs the new d)
        def estimate(g, m, v, s, x0, x):
            m = _tree.ema(m, d * g, k1.omb)
            v = _tree.ema(v, d * d * _tree.abs_sq(g), k2.omb)
            s = b3 * s + s_scale * g
            return None, m, v, s, x0, jnp.sum(g * (x0 - x)), jnp.sum(jnp.abs(s))

        _, (m, v, s, _, num, l1) = _tree.map_moments(
            "scale_by_prodigy",
            estimate,
            updates,
            params=params,
            m=state.exp_avg,
            v=state.exp_avg_sq,
            s=state.grad_sum,
            x0=state.params0,
        )
        r = b3 * state.numerator_weighted + (d / d0) * dlr * _tree.tree_sum(jax.tree.leaves(num))
        l1_sum = _tree.tree_sum(jax.tree.leaves(l1))
        d_hat = value_at(estim_lr_coef, None, sdt) * r / jnp.where(l1_sum > 0, l1_sum, 1.0)
        adapt = (l1_sum > 0) & (lr > 0)  # otherwise the reference skips the estimate
        d_max = jnp.where(adapt, jnp.maximum(state.estim_lr_max, d_hat), state.estim_lr_max)
        d_first = jnp.where(d == d0, jnp.maximum(d, d_hat), d)  # the first jump is not capped
        d_new = jnp.where(adapt, jnp.minimum(d_max, d_first * value_at(growth_rate, None, sdt)), d)
        eps_, wd = value_at(eps, None, sdt), value_at(weight_decay, None, sdt)

        # second pass: the step (m and v are read, not changed)
        def step(g, m, v, x):
            return d * bc * (m / (jnp.sqrt(v) + d_new * eps_) + wd * x), m, v

        u, _ = _tree.map_moments("scale_by_prodigy", step, updates, params=params, m=m, v=v)
        new_state = ProdigyState(
            count=safe_increment(state.count),
            exp_avg=m,
            exp_avg_sq=v,
            grad_sum=s,
            params0=state.params0,
            estim_lr=d_new,
            estim_lr_max=d_max,
            numerator_weighted=r,
        )
        return u, new_state

    return GradientTransformation(init, update)
