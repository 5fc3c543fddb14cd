"""Proximal L1 step (soft-thresholding): the update-side L1 that makes exact zeros."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ProxL1State(NamedTuple):
    """State of :func:`prox_l1`: the int32 step count.

    Kept whether ``l1`` and ``learning_rate`` are constants or schedules, so
    the state has one structure (a checkpoint restores across that change).
    """

    count: Any


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
        mask: a tree of bools with the params' structure or a prefix of it
            (optax's semantics), or a function ``params -> such a tree``;
            ``False`` leaves pass through unshrunk (e.g. biases).

    State: :class:`ProxL1State` ``(count,)``.

    Exact zeros require the updates in the params' dtype (the usual case:
    gradients have the params' dtype).

    Examples:
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

    def init(params):
        del params
        return ProxL1State(count=zero_count())

    def update(updates, state, params=None, **extra_args):
        del extra_args
        tau = value_at(learning_rate, state.count) * value_at(l1, state.count)

        def leaf(u, w):
            z = w + u
            return (jnp.sign(z) * jnp.maximum(jnp.abs(z) - tau, 0) - w,)

        u, _ = _tree.map_moments("prox_l1", leaf, updates, params=params, mask=mask)
        return u, ProxL1State(count=safe_increment(state.count))

    return GradientTransformation(init, update)
