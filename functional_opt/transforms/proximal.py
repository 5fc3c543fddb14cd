"""Proximal L1 step (soft-thresholding): the update-side L1 that makes exact zeros."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_number,
    compute_dtype,
    is_schedule,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import EmptyState, GradientTransformation


class ProxL1State(NamedTuple):
    """State of :func:`prox_l1` when ``l1`` or ``learning_rate`` is a schedule."""

    count: jax.Array


def prox_l1(l1, learning_rate, mask: Any | Callable[[Any], Any] | None = None) -> GradientTransformation:
    """Soft-threshold the parameters after a step: the proximal operator of ``l1 * |w|_1``.

    Update rule, with ``u`` the incoming (already lr-scaled, sign-flipped)
    update and ``tau = learning_rate * l1``::

        z   = params + u                               (the tentative step)
        w'  = sign(z) * max(|z| - tau, 0)              (soft-thresholding)
        u  <- w' - params

    so that ``apply_updates(params, u) = w'``: every coordinate with
    ``|z| <= tau`` becomes *exactly* 0 (``params + (-params)``), which the
    subgradient ``l1 * sign(w)`` of :func:`functional_opt.l1_penalty` never
    achieves.

    Chain order: place it **last**, after the learning-rate scaling, and give
    it the same ``learning_rate``::

        opt = fo.chain(fo.sgd(lr), fo.prox_l1(l1, lr))

    With plain SGD this is the proximal gradient method (ISTA) for
    ``loss + l1 * |w|_1``. After momentum or Adam it is the common
    heuristic "take the optimizer's step, then shrink by ``lr * l1``" (not an
    exact proximal step for the preconditioned metric). With scheduled
    ``learning_rate`` the count kept here advances in step with the
    optimizer's, so both see the same ``learning_rate(count)``.

    Args:
        l1: the L1 coefficient ``>= 0`` (number, array or schedule).
        learning_rate: the step size ``>= 0`` used by the preceding step
            (number, array or schedule).
        mask: a tree of bools with the params' structure, or a function
            ``params -> tree of bools``; ``False`` leaves pass through
            unshrunk (e.g. biases).

    State: :class:`~functional_opt.EmptyState`, or :class:`ProxL1State`
    ``(count,)`` when either hyperparameter is a schedule.

    Exact zeros require the updates in the params' dtype (the usual case:
    gradients have the params' dtype).

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.prox_l1(l1=1.0, learning_rate=0.5)
        >>> p = jnp.array([0.2, -2.0, 1.0])
        >>> u, _ = t.update(jnp.zeros(3), t.init(p), p)
        >>> fo.apply_updates(p, u)
        Array([ 0. , -1.5,  0.5], dtype=float32)

    References:
        Parikh & Boyd, "Proximal Algorithms", Found. Trends Optim. 2014;
        Beck & Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm", 2009.
    """
    check_number("l1", l1, low=0.0, allow_schedule=True)
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    scheduled = is_schedule(l1) or is_schedule(learning_rate)

    def init(params):
        del params
        return ProxL1State(count=zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        count = state.count if scheduled else None
        tau = value_at(learning_rate, count) * value_at(l1, count)

        def leaf(u, p):
            dt = compute_dtype(u.dtype, p.dtype)
            z = p.astype(dt) + u.astype(dt)
            w = jnp.sign(z) * jnp.maximum(jnp.abs(z) - tau.astype(dt), 0)
            return (w - p.astype(dt)).astype(u.dtype)

        new = _tree.map_masked_with_params("prox_l1", leaf, updates, params, mask)
        new_state = ProxL1State(count=safe_increment(state.count)) if scheduled else state
        return new, new_state

    return GradientTransformation(init, update)
