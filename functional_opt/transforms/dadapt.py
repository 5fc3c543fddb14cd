"""D-Adaptation for Adam: a lower bound on the distance to the solution sets the step size."""

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


class DAdaptAdamWState(NamedTuple):
    """State of :func:`scale_by_dadapt_adamw`.

    ``estim_lr`` is the current adapted step size ``d`` (a scalar of at least float32);
    ``numerator_weighted`` the running numerator of its estimate;
    ``exp_avg`` Adam's first moment of ``dlr * g``, ``exp_avg_sq`` the second
    moment of ``g``, ``grad_sum`` the weighted sum ``s`` of ``dlr * g``.
    """

    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    estim_lr: Any
    numerator_weighted: Any


def scale_by_dadapt_adamw(
    learning_rate=1.0,
    betas=(0.9, 0.999),
    eps=1e-8,
    estim_lr0=1e-6,
    weight_decay=0.0,
    *,
    bias_correction: bool = True,
    growth_rate=math.inf,
) -> GradientTransformation:
    """D-Adapted Adam's step, learning rate included (it points along the gradient).

    Update rule, ``k = count``, ``t = k + 1``, ``d = estim_lr``, ``q = sqrt(b2)``,
    sums over every coordinate of every leaf::

        dlr = d * learning_rate(k) * (sqrt(1 - b2**t) / (1 - b1**t) if bias_correction else 1)
        r  <- q * r + (1 - q) * dlr * <g, s / (sqrt(v) + eps)>      (old s and v)
        m  <- b1 * m + (1 - b1) * dlr * g
        v  <- b2 * v + (1 - b2) * |g|**2
        s  <- q * s + (1 - q) * dlr * g
        d_hat = r / ((1 - q) * sum|s|)
        d  <- max(d, min(d_hat, d * growth_rate))
        u   = m / (sqrt(v) + eps) + weight_decay * dlr * x

    The learning rate is inside ``m`` (``m`` accumulates ``dlr * g``), so a
    changing ``d`` or ``learning_rate`` only affects new gradients. That is
    why this transform applies the learning rate itself, unlike Adam's: it
    cannot be factored out of ``u`` into a later
    :func:`~functional_opt.scale_by_learning_rate`, and
    :func:`functional_opt.dadapt_adamw` ends with
    ``scale_by_learning_rate(1.0)`` for the descent sign only. ``d`` never
    decreases; while ``sum|s| == 0`` it is kept (the reference skips the
    step).

    Conventions:

    ==================  ====================  ====================  ==================
    choice              this library          reference DAdaptAdam  optax.contrib
    ==================  ====================  ====================  ==================
    bias correction     on (option)           off (option)          always on
    weight decay        decoupled (x dlr)     coupled by default    decoupled (x dlr)
    growth_rate         inf (option)          inf (option)          none
    d while sum|s|=0    kept                  step skipped          NaN
    ==================  ====================  ====================  ==================

    Args:
        learning_rate: ``>= 0`` multiplier of the adapted step (1 recommended).
        betas: ``(b1, b2)``, each in ``[0, 1)``.
        eps: ``>= 0``, outside the root.
        estim_lr0: initial ``d > 0``.
        weight_decay: ``>= 0``, decoupled.
        bias_correction: Adam's bias correction folded into ``dlr``.
        growth_rate: ``>= 1``, cap on ``d``'s growth per step.

    State: :class:`DAdaptAdamWState` (``estim_lr`` is the adapted ``d``).
    Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.dadapt_adamw()
        >>> x = jnp.array([1.0, -2.0]); s = opt.init(x)
        >>> for _ in range(30):
        ...     u, s = opt.update(2 * x, s, x)
        ...     x = fo.apply_updates(x, u)
        >>> bool(s[0].estim_lr > 1e-3)
        True

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation",
        ICML 2023; facebookresearch/dadaptation (reference).
    """
    check_betas(betas)
    b1, b2 = betas
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    check_number("estim_lr0", estim_lr0, low=0.0, low_inclusive=False)
    check_number("weight_decay", weight_decay, low=0.0)
    check_number("growth_rate", growth_rate, low=1.0, allow_inf=True)

    def init(params):
        sdt = compute_dtype(*[jnp.result_type(p) for p in jax.tree.leaves(params)])  # >= float32
        return DAdaptAdamWState(
            count=zero_count(),
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            estim_lr=value_at(estim_lr0, None, sdt),
            numerator_weighted=jnp.zeros([], sdt),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        sdt = state.estim_lr.dtype
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        q = jnp.sqrt(value_at(b2, None, sdt))
        omq = k2.omb / (1 + q)  # 1 - sqrt(b2) without cancellation
        lr = value_at(learning_rate, state.count, sdt)
        bc = (k1.c / jnp.sqrt(k2.c)).astype(sdt) if bias_correction else 1.0
        d = state.estim_lr
        dlr = d * lr * bc
        eps_, wd = value_at(eps, None, sdt), value_at(weight_decay, None, sdt)

        def leaf(g, m, v, s, x):
            r_term = jnp.sum(g * s / (jnp.sqrt(v) + eps_))  # old s and v
            m = _tree.ema(m, dlr * g, k1.omb)
            v = _tree.ema(v, _tree.abs_sq(g), k2.omb)
            s = _tree.ema(s, dlr * g, omq)
            u = m / (jnp.sqrt(v) + eps_) + wd * dlr * x
            return u, m, v, s, r_term, jnp.sum(jnp.abs(s))

        u, (m, v, s, r_terms, l1) = _tree.map_moments(
            "scale_by_dadapt_adamw",
            leaf,
            updates,
            params=params,
            m=state.exp_avg,
            v=state.exp_avg_sq,
            s=state.grad_sum,
        )
        r = q * state.numerator_weighted + omq * dlr * _tree.tree_sum(jax.tree.leaves(r_terms))
        l1_sum = _tree.tree_sum(jax.tree.leaves(l1))
        d_hat = r / (omq * jnp.where(l1_sum > 0, l1_sum, 1.0))
        adapt = (l1_sum > 0) & (lr > 0)  # otherwise the reference skips the estimate
        d_new = jnp.where(adapt, jnp.maximum(d, jnp.minimum(d_hat, d * value_at(growth_rate, None, sdt))), d)
        new_state = DAdaptAdamWState(
            count=safe_increment(state.count),
            exp_avg=m,
            exp_avg_sq=v,
            grad_sum=s,
            estim_lr=d_new,
            numerator_weighted=r,
        )
        return u, new_state

    return GradientTransformation(init, update)
