"""Optimistic gradients: the current gradient plus a correction by the last one."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation


class ScaleByOptimisticGradientState(NamedTuple):
    """State of :func:`scale_by_optimistic_gradient` (optax's fields): first-step flag and last gradient."""

    is_initial_step: Any
    previous_gradient: Any


def scale_by_optimistic_gradient(alpha=1.0, beta=1.0) -> GradientTransformation:
    """Generalized optimistic gradient: extrapolate with the previous gradient.

    Update rule (Mokhtari et al.'s generalized OGD), ``g_{t-1}`` the previous
    incoming update::

        u_t = (alpha + beta) * g_t - beta * g_{t-1}

    On the first step ``g_{t-1} = g_t`` (no history yet), so ``u_1 = alpha * g_1``.

    Conventions: as ``optax.scale_by_optimistic_gradient`` (same arguments,
    defaults and state fields). ``alpha`` and ``beta`` are numbers, arrays or
    tracers (not schedules: the state keeps no count, as optax's).

    Args:
        alpha: coefficient of the current gradient.
        beta: coefficient of the negative momentum ``g_t - g_{t-1}``.

    State: :class:`ScaleByOptimisticGradientState` ``(is_initial_step, previous_gradient)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_optimistic_gradient()
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.array([1.0]), s)
        >>> u, t.update(jnp.array([3.0]), s)[0]  # 1, then 2 * 3 - 1
        (Array([1.], dtype=float32), Array([5.], dtype=float32))

    References:
        Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient
        and Optimistic Gradient Methods for Saddle Point Problems: Proximal
        Point Approach", AISTATS 2020.
    """
    check_number("alpha", alpha)
    check_number("beta", beta)

    def init(params):
        _tree.check_inexact("scale_by_optimistic_gradient", "the parameter", params)
        return ScaleByOptimisticGradientState(
            is_initial_step=jnp.asarray(True), previous_gradient=_tree.zeros_like(params)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        a, b = value_at(alpha, None), value_at(beta, None)
        first = state.is_initial_step

        def leaf(g, g_prev):
            g_prev = jnp.where(first, g, g_prev)
            return (a + b) * g - b * g_prev, g

        u, (prev,) = _tree.map_moments(
            "scale_by_optimistic_gradient", leaf, updates, previous_gradient=state.previous_gradient
        )
        return u, ScaleByOptimisticGradientState(is_initial_step=jnp.asarray(False), previous_gradient=prev)

    return GradientTransformation(init, update)
