"""Momentum: the heavy-ball / Nesterov trace and the exponential moving average."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from functional_opt import _tree
from functional_opt._hparams import (
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


class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer, one array per leaf."""

    trace: Any


def trace(decay, nesterov: bool = False, accumulator_dtype: Any = None) -> GradientTransformation:
    """Heavy-ball or Nesterov momentum, without dampening.

    Update rule, with ``g`` the incoming update and ``v`` the trace::

        v <- decay * v + g
        u <- v                      (heavy ball)
        u <- decay * v + g          (nesterov=True)

    Conventions: no dampening (``1 - decay`` is *not* applied to ``g``, as in
    torch's SGD with ``dampening=0`` and optax's ``trace``). The learning rate
    is outside the buffer when this is followed by
    :func:`scale_by_learning_rate` (optax's ``sgd``), and inside it when it
    is preceded by it (the tutorial's :func:`functional_opt.momentum`).

    Args:
        decay: the momentum coefficient ``gamma`` in ``[0, 1]`` (number, array or
            schedule of the step count).
        nesterov: use Nesterov's look-ahead form.
        accumulator_dtype: dtype of the buffer; default the param dtype.

    State: :class:`TraceState` ``(trace,)`` (a schedule for ``decay`` adds no
    count: the count is kept only when needed, see below). When ``decay`` is a
    schedule the state is :class:`TraceWithCountState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.trace(decay=0.9)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.ones(1), s)
        >>> u, s = t.update(jnp.ones(1), s)
        >>> u
        Array([1.9], dtype=float32)

    References:
        Polyak, "Some methods of speeding up the convergence of iteration
        methods", 1964. Sutskever et al., "On the importance of initialization
        and momentum in deep learning", ICML 2013.
    """
    check_number("decay", decay, low=0.0, high=1.0, allow_schedule=True)
    accumulator_dtype = check_dtype("accumulator_dtype", accumulator_dtype)
    scheduled = callable(decay) and not isinstance(decay, jax.Array)

    def init(params):
        buf = _tree.zeros_like(params, accumulator_dtype)
        if scheduled:
            return TraceWithCountState(count=zero_count(), trace=buf)
        return TraceState(trace=buf)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_same_shapes("trace", "updates", updates, "state.trace", state.trace)
        _tree.check_inexact("trace", "the update", updates)
        count = state.count if scheduled else None
        gamma = value_at(decay, count)

        def leaf(g, v):
            dt = compute_dtype(g.dtype, v.dtype)
            v_new = gamma.astype(dt) * v.astype(dt) + g.astype(dt)
            u = gamma.astype(dt) * v_new + g.astype(dt) if nesterov else v_new
            return u.astype(g.dtype), v_new.astype(v.dtype)

        out = jax.tree.map(leaf, updates, state.trace)
        treedef = jax.tree.structure(updates)
        u, v = _tree.unzip(out, treedef, 2)
        if scheduled:
            return u, TraceWithCountState(count=safe_increment(state.count), trace=v)
        return u, TraceState(trace=v)

    return GradientTransformation(init, update)


class TraceWithCountState(NamedTuple):
    """State of :func:`trace` when ``decay`` is a schedule."""

    count: Any
    trace: Any


class EmaState(NamedTuple):
    """State of :func:`ema`: the step count and the (un-debiased) average."""

    count: Any
    ema: Any


def ema(decay, debias: bool = True, accumulator_dtype: Any = None) -> GradientTransformation:
    """Exponential moving average of the updates, optionally bias-corrected.

    Update rule, with ``t = count + 1``::

        m <- decay * m + (1 - decay) * g
        u <- m / (1 - decay**t)     (debias=True)
        u <- m                      (debias=False)

    The state keeps the un-corrected ``m``; the correction factor is computed
    in at least float32.

    Args:
        decay: the averaging coefficient ``beta`` in ``[0, 1]`` (number, array or schedule).
        debias: divide by ``1 - decay**t`` (Adam's bias correction).
        accumulator_dtype: dtype of ``m``; default the param dtype.

    State: :class:`EmaState` ``(count, ema)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.ema(decay=0.5)
        >>> u, s = t.update(jnp.full(1, 4.0), t.init(jnp.zeros(1)))
        >>> u  # (0.5 * 4) / (1 - 0.5) = 4
        Array([4.], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (bias correction).
    """
    check_number("decay", decay, low=0.0, high=1.0, allow_schedule=True)
    accumulator_dtype = check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return EmaState(count=zero_count(), ema=_tree.zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_same_shapes("ema", "updates", updates, "state.ema", state.ema)
        _tree.check_inexact("ema", "the update", updates)
        m = _tree.ema(state.ema, updates, one_minus(decay, state.count))
        count = safe_increment(state.count)
        out = _tree.bias_correction(m, log_of(decay, state.count), count) if debias else m
        return _tree.cast_like(out, updates), EmaState(count=count, ema=m)

    return GradientTransformation(init, update)
