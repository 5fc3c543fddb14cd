"""Momentum: the heavy-ball / Nesterov trace and the exponential moving average."""

from __future__ import annotations

from typing import Any, NamedTuple

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class TraceState(NamedTuple):
    """State of :func:`trace`: the int32 step count and the momentum buffer.

    Unlike optax's ``TraceState(trace)``, the count is always kept, so the
    state has one structure whether ``decay`` is a constant or a schedule (a
    checkpoint restores across that change).
    """

    count: Any
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

    State: :class:`TraceState` ``(count, trace)``.

    Examples:
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

    def init(params):
        return TraceState(count=zero_count(), trace=_tree.zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        gamma = value_at(decay, state.count)

        def leaf(g, v):
            v = gamma * v + g
            return (gamma * v + g if nesterov else v), v

        u, (v,) = _tree.map_moments("trace", leaf, updates, trace=state.trace)
        return u, TraceState(count=safe_increment(state.count), trace=v)

    return GradientTransformation(init, update)


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

    Examples:
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
        k = _tree.decay_scalars(decay, state.count)

        def leaf(g, m):
            m = _tree.ema(m, g, k.omb)
            return (m * k.c if debias else m), m

        u, (m,) = _tree.map_moments("ema", leaf, updates, ema=state.ema)
        return u, EmaState(count=safe_increment(state.count), ema=m)

    return GradientTransformation(init, update)
