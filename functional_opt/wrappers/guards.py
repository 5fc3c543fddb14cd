"""Guards: skip an update on non-finite gradients or on a loss spike."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


def _all_finite(tree) -> jax.Array:
    flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)


class ApplyIfFiniteState(NamedTuple):
    """State of :func:`apply_if_finite`.

    ``notfinite_count``: consecutive non-finite steps so far (int32);
    ``last_finite``: whether the last gradients were finite (bool);
    ``total_notfinite``: all non-finite steps ever (int32); ``inner_state``.
    """

    notfinite_count: Any
    last_finite: Any
    total_notfinite: Any
    inner_state: Any


def apply_if_finite(inner: GradientTransformation, max_consecutive_errors: int) -> GradientTransformation:
    """Skip the update (zero update, inner state untouched) when the gradients hold a NaN or Inf.

    Update rule::

        finite = all(isfinite(g))
        notfinite_count <- 0 if finite else notfinite_count + 1
        if finite or notfinite_count > max_consecutive_errors:
            u, inner_state <- inner.update(g, inner_state, params)
        else:
            u <- 0                                  (inner_state unchanged)
        total_notfinite <- total_notfinite + (not finite)

    After more than ``max_consecutive_errors`` consecutive bad steps the
    update is applied anyway (so a run that keeps producing NaN fails
    visibly instead of silently stalling), as optax's ``apply_if_finite``.
    The check is on the incoming gradients; the inner update runs under
    ``lax.cond``.

    Args:
        inner: the optimizer to guard.
        max_consecutive_errors: int ``>= 0``.

    State: :class:`ApplyIfFiniteState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.apply_if_finite(fo.sgd(0.1), max_consecutive_errors=3)
        >>> s = opt.init(jnp.zeros(1))
        >>> u, s = opt.update(jnp.array([jnp.nan]), s); u
        Array([0.], dtype=float32)
        >>> int(s.total_notfinite)
        1

    References:
        optax.apply_if_finite; dynamic loss scaling in mixed-precision
        training (Micikevicius et al., ICLR 2018).
    """
    check_transform(inner, "inner")
    inner = with_extra_args_support(inner)  # value= and friends reach only an inner that takes them
    check_int("max_consecutive_errors", max_consecutive_errors, low=0)

    def init(params):
        return ApplyIfFiniteState(
            notfinite_count=zero_count(),
            last_finite=jnp.asarray(True),
            total_notfinite=zero_count(),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        finite = _all_finite(updates)
        notfinite_count = jnp.where(finite, zero_count(), safe_increment(state.notfinite_count))
        accept = jnp.logical_or(finite, notfinite_count > max_consecutive_errors)
        new_updates, inner_state = _tree.inner_update_if(accept, inner, updates, state.inner_state, params, extra_args)
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite)),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)


class SkipLossSpikesState(NamedTuple):
    """State of :func:`skip_loss_spikes`.

    ``losses``: ring buffer of the last ``window`` accepted losses (float32);
    ``count``: accepted losses so far (int32; slot ``count % window`` is
    next); ``consecutive_skips``, ``total_skips`` (int32); ``inner_state``.
    """

    losses: Any
    count: Any
    consecutive_skips: Any
    total_skips: Any
    inner_state: Any


def skip_loss_spikes(
    inner: GradientTransformation,
    window: int = 100,
    num_std=6.0,
    *,
    min_history: int = 10,
    max_consecutive_skips: int = 10,
) -> GradientTransformation:
    """Skip the update when the loss jumps ``num_std`` standard deviations above its recent mean.

    The loss is passed to every update as ``value=loss``. Over the last
    ``window`` accepted losses, with mean ``m`` and (population) standard
    deviation ``s``::

        spike = not isfinite(loss)  or  (history >= min_history and loss > m + num_std * s)
        if spike and consecutive_skips < max_consecutive_skips:
            u <- 0                    (inner state and history unchanged)
        else:
            u, inner_state <- inner.update(g, inner_state, params); push loss into the history

    A skipped loss does not enter the history, so one spike cannot raise the
    bar for the next. After ``max_consecutive_skips`` skips in a row the
    update is applied (a lasting shift of the loss is then learned, not
    fought forever). A non-finite loss counts as a spike but never enters
    the history.

    Args:
        inner: the optimizer to guard.
        window: int ``>= 2``, the number of past losses kept.
        num_std: ``k >= 0`` (number or array).
        min_history: int ``>= 2``, losses seen before spikes are detected.
        max_consecutive_skips: int ``>= 0``.

    State: :class:`SkipLossSpikesState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.skip_loss_spikes(fo.sgd(0.1), window=4, num_std=3.0, min_history=2)
        >>> s = opt.init(jnp.zeros(1)); g = jnp.ones(1)
        >>> for loss in [1.0, 1.1, 0.9]:
        ...     u, s = opt.update(g, s, value=loss)
        >>> u, s = opt.update(g, s, value=50.0); u
        Array([0.], dtype=float32)
        >>> int(s.total_skips)
        1

    References:
        Chowdhery et al., "PaLM", 2022 (restarting around loss spikes);
        Zhai et al., "Stabilizing Transformer Training", ICML 2023.
    """
    check_transform(inner, "inner")
    inner = with_extra_args_support(inner)
    check_int("window", window, low=2)
    check_number("num_std", num_std, low=0.0)
    check_int("min_history", min_history, low=2)
    check_int("max_consecutive_skips", max_consecutive_skips, low=0)

    def init(params):
        return SkipLossSpikesState(
            losses=jnp.zeros([window], jnp.float32),
            count=zero_count(),
            consecutive_skips=zero_count(),
            total_skips=zero_count(),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        if extra_args.get("value") is None:
            raise ValueError("skip_loss_spikes needs the loss: call update(updates, state, params, value=loss)")
        loss = jnp.asarray(extra_args["value"], jnp.float32)
        if loss.ndim != 0:
            raise ValueError(f"skip_loss_spikes: value must be a scalar loss, got shape {loss.shape}")
        n = jnp.minimum(state.count, window)
        valid = jnp.arange(window) < n
        nf = jnp.maximum(n, 1).astype(jnp.float32)
        mean = jnp.sum(jnp.where(valid, state.losses, 0.0)) / nf
        var = jnp.sum(jnp.where(valid, jnp.square(state.losses - mean), 0.0)) / nf
        bar = mean + value_at(num_std, None, jnp.float32) * jnp.sqrt(var)
        finite = jnp.isfinite(loss)
        spike = jnp.logical_or(~finite, jnp.logical_and(n >= min_history, loss > bar))
        skip = jnp.logical_and(spike, state.consecutive_skips < max_consecutive_skips)
        new_updates, inner_state = _tree.inner_update_if(~skip, inner, updates, state.inner_state, params, extra_args)
        record = jnp.logical_and(~skip, finite)
        slot = state.count % window
        losses = jnp.where(record, state.losses.at[slot].set(loss), state.losses)
        return new_updates, SkipLossSpikesState(
            losses=losses,
            count=jnp.where(record, safe_increment(state.count), state.count),
            consecutive_skips=jnp.where(skip, safe_increment(state.consecutive_skips), zero_count()),
            total_skips=jnp.where(skip, safe_increment(state.total_skips), state.total_skips),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)
