"""Gradient accumulation: average k micro-batch gradients, then step once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_int, check_number, safe_increment, zero_count
from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


class MultiStepsState(NamedTuple):
    """State of :func:`multi_steps`.

    ``mini_step``: micro-steps accumulated since the last emitted step (int32);
    ``gradient_step``: emitted (inner) steps so far (int32);
    ``inner_opt_state``: the inner optimizer's state (optax's field name);
    ``acc_grads``: running mean (or sum) of the accumulated gradients;
    ``skip_state``: what ``should_skip_update_fn`` returned last (``()``
    without one).
    """

    mini_step: Any
    gradient_step: Any
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any


def multi_steps(
    inner: GradientTransformation,
    every_k,
    should_skip_update_fn: Callable | None = None,
    *,
    acc_dtype: Any = None,
    use_grad_mean: bool = True,
) -> GradientTransformation:
    """Accumulate ``every_k`` micro-batch gradients, then apply ``inner`` once to their mean.

    Update rule, with ``n = mini_step`` and ``k = every_k`` (or
    ``every_k(gradient_step)``)::

        acc <- acc + (g - acc) / (n + 1)               (running mean; acc + g if not use_grad_mean)
        if n + 1 >= k:   u, inner_opt_state <- inner.update(acc, inner_opt_state, params)
                         acc <- 0, n <- 0, gradient_step += 1
        else:            u <- 0, n <- n + 1

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
        every_k: micro-steps per inner step, an int ``>= 1``, an int
            array (to vary it without recompiling), or a function of the
            int32 ``gradient_step`` returning one (optax's
            ``every_k_schedule``, e.g. to grow the batch during training).
        should_skip_update_fn: optional rejection test, as above.
        acc_dtype: dtype of the accumulator; default each gradient's dtype.
        use_grad_mean: average the micro-batch gradients (default) or sum them.

    State: :class:`MultiStepsState`.

    Examples:
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
    inner = with_extra_args_support(inner)  # value= and friends reach only an inner that takes them
    if isinstance(every_k, (int, float)) and not isinstance(every_k, bool):
        check_int("every_k", every_k, low=1)
    elif not callable(every_k):
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
            inner_opt_state=inner.init(params),
            acc_grads=_tree.zeros_like(params, acc_dtype),
            skip_state=skip_state,
        )

    def update(updates, state, params=None, **extra_args):
        k = jnp.asarray(every_k(state.gradient_step) if callable(every_k) else every_k, jnp.int32)
        n = state.mini_step
        if should_skip_update_fn is None:
            skip, skip_state = jnp.asarray(False), state.skip_state
        else:
            skip, skip_state = should_skip_update_fn(updates, state.gradient_step, params)
            skip = jnp.asarray(skip, bool)

        emit = jnp.logical_and(~skip, n + 1 >= k)

        def leaf(g, acc):  # the running mean (or sum), handed to inner (on emit) and stored (zeroed on emit)
            acc = jnp.where(skip, acc, _tree.ema(acc, g, 1 / (n + 1)) if use_grad_mean else acc + g)
            return acc, jnp.where(emit, 0.0, acc)

        mean, (acc,) = _tree.map_moments("multi_steps", leaf, updates, acc_grads=state.acc_grads)

        new_updates, inner_opt_state = _tree.inner_update_if(
            emit, inner, mean, state.inner_opt_state, params, extra_args
        )
        new_state = MultiStepsState(
            mini_step=jnp.where(emit, 0, jnp.where(skip, n, n + 1)).astype(jnp.int32),
            gradient_step=jnp.where(emit, safe_increment(state.gradient_step), state.gradient_step),
            inner_opt_state=inner_opt_state,
            acc_grads=acc,
            skip_state=skip_state,
        )
        return new_updates, new_state

    return GradientTransformation(init, update)


class MultiSteps:
    """optax's class form of :func:`multi_steps`: ``MultiSteps(opt, every_k_schedule).init/update``.

    ``MultiSteps(opt, every_k_schedule, use_grad_mean, should_skip_update_fn,
    accumulator_dtype)`` behaves as ``multi_steps(opt, every_k_schedule,
    should_skip_update_fn, acc_dtype=accumulator_dtype,
    use_grad_mean=use_grad_mean)`` (the update rule is there), with optax's
    argument names, its ``has_updated(state)`` and
    ``gradient_transformation()``. The accumulator defaults to float32, as
    optax's (:func:`multi_steps` keeps each gradient's dtype).

    Args:
        opt: the inner optimizer.
        every_k_schedule: an int ``>= 1`` or a function ``gradient_step -> int``.
        use_grad_mean: average (default) or sum the micro-batch gradients.
        should_skip_update_fn: optional ``(updates, gradient_step, params) -> (skip, skip_state)``.
        accumulator_dtype: dtype of the accumulator (default float32).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> ms = fo.MultiSteps(fo.sgd(1.0), every_k_schedule=2)
        >>> p = jnp.zeros(1); s = ms.init(p)
        >>> u, s = ms.update(jnp.array([1.0]), s, p); bool(ms.has_updated(s))
        False
        >>> u, s = ms.update(jnp.array([3.0]), s, p); u, bool(ms.has_updated(s))
        (Array([-2.], dtype=float32), True)

    References:
        optax.MultiSteps.
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: Any,
        use_grad_mean: bool = True,
        should_skip_update_fn: Callable | None = None,
        accumulator_dtype: Any = jnp.float32,
    ):
        self._opt = opt
        self._transform = multi_steps(
            opt, every_k_schedule, should_skip_update_fn, acc_dtype=accumulator_dtype, use_grad_mean=use_grad_mean
        )

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimizer."""
        return self._opt

    def init(self, params: Any) -> MultiStepsState:
        """The initial :class:`MultiStepsState`."""
        return self._transform.init(params)

    def update(self, updates: Any, state: MultiStepsState, params: Any = None, **extra_args: Any) -> tuple:
        """Accumulate; every ``k`` micro-steps return the inner optimizer's update, else zeros."""
        return self._transform.update(updates, state, params, **extra_args)

    def has_updated(self, state: Any) -> jax.Array:
        """True right after a micro-step that ran the inner optimizer (``mini_step == 0 < gradient_step``)."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """The ``(init, update)`` pair, to put in a chain."""
        return self._transform


class ApplyEvery(NamedTuple):
    """State of :func:`apply_every` (optax's name): the int32 ``count`` modulo ``k`` and the sum ``grad_acc``."""

    count: Any
    grad_acc: Any


def apply_every(k=1) -> GradientTransformation:
    """Sum the updates of ``k`` consecutive steps and emit the sum every ``k``-th step, else zeros (as optax).

    Update rule, ``c = count``::

        grad_acc <- g + (grad_acc if c != 0 else 0)
        u = grad_acc if c == k - 1 else 0
        count <- (c + 1) mod k

    Unlike :func:`multi_steps`, the transformations before this one in a
    chain still update their state on every step, and this sums rather
    than averages; prefer :func:`multi_steps` for gradient accumulation.

    Args:
        k: an int ``>= 1`` (or an int array).

    State: :class:`ApplyEvery` ``(count, grad_acc)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.apply_every(2)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.array([1.0]), s); u
        Array([0.], dtype=float32)
        >>> u, s = t.update(jnp.array([3.0]), s); u
        Array([4.], dtype=float32)

    References:
        optax.apply_every.
    """
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        check_int("k", k, low=1)

    def init(params):
        return ApplyEvery(count=zero_count(), grad_acc=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k_ = jnp.asarray(k, jnp.int32)
        c = state.count % k_
        emit = c == k_ - 1

        def leaf(g, acc):
            acc = jnp.where(c != 0, acc, 0.0) + g
            return jnp.where(emit, acc, 0.0), acc

        u, (grad_acc,) = _tree.map_moments("apply_every", leaf, updates, grad_acc=state.grad_acc)
        return u, ApplyEvery(count=safe_increment(state.count) % k_, grad_acc=grad_acc)

    return GradientTransformation(init, update)
