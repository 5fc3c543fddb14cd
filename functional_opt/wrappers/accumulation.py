"""Gradient accumulation: average k micro-batch gradients, then step once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_int, check_number, safe_increment, zero_count
from functional_opt.base import GradientTransformation, check_transform


class MultiStepsState(NamedTuple):
    """State of :func:`multi_steps`.

    ``mini_step``: micro-steps accumulated since the last emitted step (int32);
    ``gradient_step``: emitted (inner) steps so far (int32); ``inner_state``;
    ``acc_grads``: running mean of the accumulated gradients; ``skip_state``:
    what ``should_skip_update_fn`` returned last (``()`` without one).
    """

    mini_step: Any
    gradient_step: Any
    inner_state: Any
    acc_grads: Any
    skip_state: Any


def multi_steps(
    inner: GradientTransformation,
    every_k,
    should_skip_update_fn: Callable | None = None,
    *,
    acc_dtype: Any = None,
) -> GradientTransformation:
    """Accumulate ``every_k`` micro-batch gradients, then apply ``inner`` once to their mean.

    Update rule, with ``n = mini_step``::

        acc <- acc + (g - acc) / (n + 1)               (running mean)
        if n + 1 == every_k:   u, inner_state <- inner.update(acc, inner_state, params)
                               acc <- 0, n <- 0, gradient_step += 1
        else:                  u <- 0, n <- n + 1

    The inner optimizer runs only on the emitting micro-step (under
    ``lax.cond``), so a costly inner update is paid once per ``every_k``
    micro-steps. The updates of the other micro-steps are zeros, so
    ``apply_updates`` can be called on every micro-step. With equal-sized
    micro-batches and a mean loss, ``multi_steps(opt, k)`` on ``k``
    micro-batches equals ``opt`` on the full batch; ``every_k=1`` equals
    ``opt``.

    If ``should_skip_update_fn(updates, gradient_step, params) ->
    (skip: bool array, skip_state)`` is given and returns ``True``, the
    micro-step is dropped: zero update, accumulator and counters unchanged
    (only ``skip_state`` is stored).

    Args:
        inner: the optimizer to run on the accumulated gradient.
        every_k: micro-steps per inner step, an int ``>= 1`` (or an int
            array, e.g. to vary it without recompiling).
        should_skip_update_fn: optional rejection test, as above.
        acc_dtype: dtype of the accumulator; default each gradient's dtype.

    State: :class:`MultiStepsState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.multi_steps(fo.sgd(1.0), every_k=2)
        >>> p = jnp.zeros(1); s = opt.init(p)
        >>> u, s = opt.update(jnp.array([1.0]), s, p); u
        Array([0.], dtype=float32)
        >>> u, s = opt.update(jnp.array([3.0]), s, p); u  # -mean(1, 3)
        Array([-2.], dtype=float32)

    References:
        optax.MultiSteps.
    """
    check_transform(inner, "inner")
    if isinstance(every_k, (int, float)) and not isinstance(every_k, bool):
        check_int("every_k", every_k, low=1)
    else:
        check_number("every_k", every_k)
    if should_skip_update_fn is not None and not callable(should_skip_update_fn):
        raise TypeError(f"should_skip_update_fn must be a callable or None, got {should_skip_update_fn!r}")
    acc_dtype = check_dtype("acc_dtype", acc_dtype)

    def init(params):
        skip_state = ()
        if should_skip_update_fn is not None:
            shapes = jax.eval_shape(lambda p: should_skip_update_fn(p, zero_count(), p)[1], params)
            skip_state = _tree.zeros_like(shapes)
        return MultiStepsState(
            mini_step=zero_count(),
            gradient_step=zero_count(),
            inner_state=inner.init(params),
            acc_grads=_tree.zeros_like(params, acc_dtype),
            skip_state=skip_state,
        )

    def update(updates, state, params=None, **extra_args):
        k = jnp.asarray(every_k, jnp.int32)
        n = state.mini_step
        if should_skip_update_fn is None:
            skip, skip_state = jnp.asarray(False), state.skip_state
        else:
            skip, skip_state = should_skip_update_fn(updates, state.gradient_step, params)
            skip = jnp.asarray(skip, bool)

        emit = jnp.logical_and(~skip, n + 1 >= k)

        def leaf(g, acc):  # the running mean, handed to inner (on emit) and stored (zeroed on emit)
            acc = jnp.where(skip, acc, _tree.ema(acc, g, 1 / (n + 1)))
            return acc, jnp.where(emit, 0.0, acc)

        mean, (acc,) = _tree.map_moments("multi_steps", leaf, updates, acc_grads=state.acc_grads)

        def run_inner(_):
            return inner.update(mean, state.inner_state, params, **extra_args)

        out_shape = jax.eval_shape(run_inner, None)

        def hold(_):
            return _tree.zeros_like(out_shape[0]), state.inner_state

        new_updates, inner_state = jax.lax.cond(emit, run_inner, hold, None)
        new_state = MultiStepsState(
            mini_step=jnp.where(emit, 0, jnp.where(skip, n, n + 1)).astype(jnp.int32),
            gradient_step=jnp.where(emit, safe_increment(state.gradient_step), state.gradient_step),
            inner_state=inner_state,
            acc_grads=acc,
            skip_state=skip_state,
        )
        return new_updates, new_state

    return GradientTransformation(init, update)
