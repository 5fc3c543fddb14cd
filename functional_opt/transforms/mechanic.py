"""Mechanic: a learned global scale for any base optimizer's updates (learning-rate tuning by online betting)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


class MechanicState(NamedTuple):
    """State of :func:`mechanize` (optax's fields): the base state, count, the bettors' ``r, m, v, s`` and ``x0``."""

    base_optimizer_state: Any
    count: Any
    r: Any
    m: Any
    v: Any
    s: Any
    x0: Any


def mechanize(
    base_optimizer: GradientTransformation, weight_decay=1e-2, eps=1e-8, s_init=1e-6, num_betas: int = 6
) -> GradientTransformation:
    """Wrap an optimizer so that Mechanic learns the scale of its updates.

    Update rule (Cutkosky, Defazio & Mehta, Algorithm 1), ``Delta_t`` the
    base optimizer's (descent) update, ``x0`` the first params,
    ``S = sum(s)``, ``beta_j = 1 - 10**-j`` for ``j = 1..num_betas``::

        delta_prev = (x0 - x_t) / (S + eps)
        g~ = g + weight_decay * S * ||g|| / (||x_t|| + eps) * x_t
        h = <g~, delta_prev>
        m <- max(beta * m, |h| + eps)
        v <- beta**2 * v + h**2
        r <- beta * r + clip(h, -m_old, m_old) * s
        s <- (s_init / num_betas * m + max(r, 0)) / (sqrt(v) + eps)
        x_{t+1} = x0 - sum(s) * (delta_prev - Delta_t),   u = x_{t+1} - x_t

    Conventions: as ``optax.contrib.mechanize`` (arguments, defaults, state
    fields; the scalars are float32). The returned update is the full step
    (the base optimizer carries the sign and learning rate). Extra
    arguments are forwarded to the base optimizer.

    Args:
        base_optimizer: the optimizer whose updates are rescaled.
        weight_decay: ``>= 0``, Mechanic's own scale-aware decay.
        eps: ``> 0``.
        s_init: ``> 0``, the initial scale of each bettor.
        num_betas: the number of bettors (int ``>= 1``).

    State: :class:`MechanicState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.mechanize(fo.sgd(1.0))
        >>> p = jnp.ones(2)
        >>> u, s = opt.update(p, opt.init(p), p)
        >>> s.s.shape, s.count  # one scale per bettor; they grow while progress continues
        ((6,), Array(1, dtype=int32))

    References:
        Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner",
        NeurIPS 2023.
    """
    check_transform(base_optimizer, "base_optimizer")
    check_number("weight_decay", weight_decay, low=0.0)
    check_number("eps", eps, low=0.0)
    check_number("s_init", s_init, low=0.0)
    check_int("num_betas", num_betas, low=1)
    base = with_extra_args_support(base_optimizer)
    betas = jnp.asarray([1.0 - 0.1**j for j in range(1, num_betas + 1)], jnp.float32)

    def init(params):
        z = jnp.zeros([num_betas], jnp.float32)
        return MechanicState(
            base_optimizer_state=base.init(params),
            count=zero_count(),
            r=z,
            m=z,
            v=z,
            s=jnp.full([num_betas], s_init, jnp.float32),
            x0=params,
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError("mechanize needs params: call update(updates, state, params)")
        _tree.check_same_shapes("mechanize", "updates", updates, "params", params)
        step, base_state = base.update(updates, state.base_optimizer_state, params, **extra_args)
        first = state.count == 0
        x0 = jax.tree.map(lambda p, q: jnp.where(first, p, q), params, state.x0)
        wd, eps_, s_init_ = value_at(weight_decay, None), value_at(eps, None), value_at(s_init, None)
        S = jnp.sum(state.s)
        c = wd * S * _tree.global_norm(updates) / (_tree.global_norm(params) + eps_)
        g_wd = jax.tree.map(lambda g, x: _tree.up(g) + c * _tree.up(x), updates, params)
        delta_prev = jax.tree.map(lambda x, a: (_tree.up(a) - _tree.up(x)) / (S + eps_), params, x0)
        h = _tree.real_vdot(g_wd, delta_prev)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps_)
        v = betas**2 * state.v + h**2
        r = betas * state.r + jnp.clip(h, -state.m, state.m) * state.s
        s = (s_init_ / num_betas * m + jnp.maximum(r, 0.0)) / (jnp.sqrt(v) + eps_)
        s_sum = jnp.sum(s)
        u = jax.tree.map(
            lambda x, a, dp, st: (_tree.up(a) - s_sum * (dp - _tree.up(st)) - _tree.up(x)).astype(x.dtype),
            params,
            x0,
            delta_prev,
            step,
        )
        r, m, v, s = (jnp.asarray(x, jnp.float32) for x in (r, m, v, s))  # float64 params must not promote them
        return u, MechanicState(
            base_optimizer_state=base_state, count=safe_increment(state.count), r=r, m=m, v=v, s=s, x0=x0
        )

    return GradientTransformation(init, update)
