"""Rprop: per-entry step sizes adapted by the sign agreement of successive gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation


class ScaleByRpropState(NamedTuple):
    """State of :func:`scale_by_rprop`.

    ``step_sizes`` are the per-entry steps ``Delta``; ``prev_updates`` is the
    previous gradient, zeroed where its sign had flipped (iRprop-).
    """

    step_sizes: Any
    prev_updates: Any


def scale_by_rprop(
    learning_rate,
    eta_minus=0.5,
    eta_plus=1.2,
    min_step_size=1e-6,
    max_step_size=50.0,
) -> GradientTransformation:
    """Resilient backpropagation (iRprop-): ``u = Delta * sign(g)``.

    Update rule per entry, with ``g'`` the stored previous gradient::

        if g * g' > 0:  Delta <- min(Delta * eta_plus, max_step_size)
        if g * g' < 0:  Delta <- max(Delta * eta_minus, min_step_size);  g <- 0
        if g * g' = 0:  Delta unchanged
        u = Delta * sign(g);   g' <- g

    The result points along the gradient. ``Delta`` starts at
    ``learning_rate`` and is state: the learning rate is the initial
    per-entry step, not a factor applied to the result, so it cannot move
    into a later :func:`~functional_opt.scale_by_learning_rate`;
    :func:`~functional_opt.rprop` follows this with
    ``scale_by_learning_rate(1.0)`` for the descent sign only.

    Conventions:

    ===================  ================  =====================  ================
    choice               this library      optax 0.2.8            torch
    ===================  ================  =====================  ================
    step applied         this step's       the previous step's    this step's
    ``Delta`` on ``=0``  unchanged         unchanged              clipped
    ===================  ================  =====================  ================

    This is Igel & Hüsken's iRprop- and equals ``torch.optim.Rprop`` (same
    defaults) whenever ``learning_rate`` lies in
    ``[min_step_size, max_step_size]``. optax's ``scale_by_rprop`` returns
    the update stored at the previous step, so its first update is zero and
    every later one lags by a step; it is not followed here.

    Args:
        learning_rate: the initial step size ``Delta_0 >= 0`` (number or array).
        eta_minus: shrink factor in ``(0, 1]`` after a sign change.
        eta_plus: growth factor ``>= 1`` while the sign holds.
        min_step_size: ``>= 0``, the smallest ``Delta``.
        max_step_size: ``>= min_step_size``, the largest ``Delta``.

    State: :class:`ScaleByRpropState` ``(step_sizes, prev_updates)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_rprop(learning_rate=0.1)
        >>> s = t.init(jnp.zeros(2))
        >>> u, s = t.update(jnp.array([3.0, -2.0]), s)
        >>> u, s = t.update(jnp.array([1.0, 4.0]), s)
        >>> u  # first entry: same sign, 0.1 * 1.2; second: sign flip, step skipped
        Array([0.12, 0.  ], dtype=float32)

    References:
        Riedmiller & Braun, "A Direct Adaptive Method for Faster
        Backpropagation Learning: The RPROP Algorithm", ICNN 1993.
        Igel & Hüsken, "Improving the Rprop Learning Algorithm", 2000.
    """
    check_number("learning_rate", learning_rate, low=0.0)
    check_number("eta_minus", eta_minus, low=0.0, high=1.0, low_inclusive=False)
    check_number("eta_plus", eta_plus, low=1.0)
    check_number("min_step_size", min_step_size, low=0.0)
    check_number("max_step_size", max_step_size, low=0.0)
    if isinstance(min_step_size, (int, float)) and isinstance(max_step_size, (int, float)):
        if max_step_size < min_step_size:
            raise ValueError(f"max_step_size must be >= min_step_size, got {max_step_size!r} < {min_step_size!r}")

    def init(params):
        return ScaleByRpropState(
            step_sizes=_tree.full_like(params, learning_rate), prev_updates=_tree.zeros_like(params)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        em, ep = value_at(eta_minus, None), value_at(eta_plus, None)
        lo, hi = value_at(min_step_size, None), value_at(max_step_size, None)

        def leaf(g, delta, g_prev):
            agree = g * g_prev
            delta = jnp.where(
                agree > 0, jnp.minimum(delta * ep, hi), jnp.where(agree < 0, jnp.maximum(delta * em, lo), delta)
            )
            g = jnp.where(agree < 0, 0.0, g)
            return delta * jnp.sign(g), delta, g

        u, (step_sizes, prev) = _tree.map_moments(
            "scale_by_rprop", leaf, updates, step_sizes=state.step_sizes, prev_updates=state.prev_updates
        )
        return u, ScaleByRpropState(step_sizes=step_sizes, prev_updates=prev)

    return GradientTransformation(init, update)
