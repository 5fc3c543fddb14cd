"""Conditional application: run the inner transform only at some steps, or skip a micro-step's gradients."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


def _conditional(inner, should_transform_fn, forward_extra_args, state_cls, pass_through) -> GradientTransformation:
    """Run ``inner`` where ``should_transform_fn(step)`` holds; else keep its state, return zeros or ``updates``."""
    check_transform(inner, "inner")
    if not callable(should_transform_fn):
        raise TypeError(f"should_transform_fn must be a callable step -> bool, got {should_transform_fn!r}")
    inner = with_extra_args_support(inner)

    def init(params):
        return state_cls(inner_state=inner.init(params), step=zero_count())

    def update(updates, state, params=None, **extra_args):
        go = jnp.asarray(should_transform_fn(state.step, **(extra_args if forward_extra_args else {})), bool)
        new_updates, inner_state = _tree.inner_update_if(
            go, inner, updates, state.inner_state, params, extra_args, pass_through=pass_through
        )
        return new_updates, state_cls(inner_state=inner_state, step=safe_increment(state.step))

    return GradientTransformation(init, update)


class ConditionallyTransformState(NamedTuple):
    """State of :func:`conditionally_transform`: ``inner_state``, and ``step`` (int32, calls so far).

    Fields and order are optax's.
    """

    inner_state: Any
    step: Any


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Run ``inner`` only at the steps where ``should_transform_fn(step)`` is true; else pass the updates through.

    Update rule, with ``step`` the number of previous calls::

        if should_transform_fn(step):  u, inner_state <- inner.update(g, inner_state, params)
        else:                          u <- g          (inner_state unchanged)
        step <- step + 1

    The branch is a ``lax.cond``, so the condition may depend on traced
    values and the inner update is paid only when it runs. To zero the
    updates instead of passing them through, use :func:`conditionally_mask`.

    Conventions: as optax's ``conditionally_transform`` (``step`` counts the
    calls, starts at 0, int32, saturating). The inner transform must return
    updates of the gradients' structure, shapes and dtypes.

    Args:
        inner: the transformation to run conditionally.
        should_transform_fn: ``step -> bool scalar`` (``step`` an int32
            scalar); with ``forward_extra_args=True`` it is also called with
            the extra keyword arguments of ``update`` (e.g. ``value=loss``).
        forward_extra_args: pass ``update``'s extra arguments to
            ``should_transform_fn`` too (they always reach ``inner``).

    State: :class:`ConditionallyTransformState` ``(inner_state, step)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.conditionally_transform(fo.scale(10.0), lambda step: step % 2 == 1)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.ones(1), s); u  # step 0: passed through
        Array([1.], dtype=float32)
        >>> u, s = t.update(jnp.ones(1), s); u  # step 1: scaled
        Array([10.], dtype=float32)

    References:
        optax.conditionally_transform.
    """
    return _conditional(inner, should_transform_fn, forward_extra_args, ConditionallyTransformState, pass_through=True)


class ConditionallyMaskState(NamedTuple):
    """State of :func:`conditionally_mask`: ``step`` (int32, calls so far) and ``inner_state``.

    Fields and order are optax's (note: the reverse of
    :class:`ConditionallyTransformState`'s).
    """

    step: Any
    inner_state: Any


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Run ``inner`` only at the steps where ``should_transform_fn(step)`` is true; else return zero updates.

    Update rule, with ``step`` the number of previous calls::

        if should_transform_fn(step):  u, inner_state <- inner.update(g, inner_state, params)
        else:                          u <- 0          (inner_state unchanged)
        step <- step + 1

    The branch is a ``lax.cond``; the zero updates have the shapes and
    dtypes of ``inner``'s updates. To pass the updates through unchanged
    instead, use :func:`conditionally_transform`.

    Conventions: as optax's ``conditionally_mask``.

    Args:
        inner: the transformation to run conditionally.
        should_transform_fn: ``step -> bool scalar``; with
            ``forward_extra_args=True`` also given ``update``'s extra
            keyword arguments.
        forward_extra_args: pass ``update``'s extra arguments to
            ``should_transform_fn`` too.

    State: :class:`ConditionallyMaskState` ``(step, inner_state)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.conditionally_mask(fo.sgd(1.0), lambda step: step >= 1)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.ones(1), s); u
        Array([0.], dtype=float32)
        >>> u, s = t.update(jnp.ones(1), s); u
        Array([-1.], dtype=float32)

    References:
        optax.conditionally_mask.
    """
    return _conditional(inner, should_transform_fn, forward_extra_args, ConditionallyMaskState, pass_through=False)


class ConditionFn(Protocol):
    """The type of :func:`conditionally_transform`'s and :func:`conditionally_mask`'s ``should_transform_fn``.

    ``fn(step, **extra_args) -> bool scalar``: ``step`` is the int32 count of
    updates so far (0 at the first update); ``extra_args`` reach it only with
    ``forward_extra_args=True``. optax's ``optax.transforms.ConditionFn``.
    """

    def __call__(self, step: Any, **extra_args: Any) -> Any: ...


class ShouldSkipUpdateFunction(Protocol):
    """The type of :func:`multi_steps`'s ``should_skip_update_fn`` (optax's name).

    ``fn(updates, gradient_step, params) -> (should_skip, skip_state)``:
    ``should_skip`` is a bool scalar (``True`` drops this micro-step's
    gradients), ``skip_state`` any pytree of arrays, stored in
    ``MultiStepsState.skip_state`` for inspection. :func:`skip_not_finite`
    and :func:`skip_large_updates` are two.
    """

    def __call__(self, updates: Any, gradient_step: Any, params: Any) -> tuple[Any, Any]: ...


def skip_not_finite(updates, gradient_step, params) -> tuple[jax.Array, dict]:
    """A :class:`ShouldSkipUpdateFunction`: skip when any gradient entry is NaN or infinite.

    Rule::

        num_not_finite = sum over leaves of count(not isfinite(g))
        should_skip = num_not_finite > 0

    For :func:`multi_steps` / :class:`MultiSteps` (``should_skip_update_fn``).
    To skip whole optimizer steps instead, wrap the optimizer in
    :func:`apply_if_finite`.

    Args:
        updates: the gradients.
        gradient_step: unused (the ``MultiStepsState.gradient_step``).
        params: unused.

    Returns:
        ``(should_skip, {"should_skip": should_skip, "num_not_finite":
        num_not_finite})`` (a bool scalar and an int32 scalar), as optax.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> skip, info = fo.skip_not_finite({"w": jnp.array([1.0, jnp.inf, jnp.nan])}, 0, None)
        >>> bool(skip), int(info["num_not_finite"])
        (True, 2)

    References:
        optax.skip_not_finite.
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(g), dtype=jnp.int32) for g in jax.tree.leaves(updates)]
    num_not_finite = _tree.tree_sum(counts) if counts else jnp.zeros((), jnp.int32)
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(updates, gradient_step, params, max_squared_norm) -> tuple[jax.Array, dict]:
    """A :class:`ShouldSkipUpdateFunction`: skip when the squared global norm reaches ``max_squared_norm``.

    Rule::

        norm_squared = sum over leaves of sum(|g|**2)       (in at least float32)
        should_skip = not (norm_squared < max_squared_norm)    (so a NaN norm skips too)

    Bind ``max_squared_norm`` with ``functools.partial`` to get a
    :class:`ShouldSkipUpdateFunction` for :func:`multi_steps` /
    :class:`MultiSteps`.

    Conventions: as optax's, except that ``|g|**2`` is the squared modulus
    for complex gradients (optax squares them) and that
    ``max_squared_norm`` may also be a schedule of ``gradient_step``
    (an annealed threshold).

    Args:
        updates: the gradients.
        gradient_step: the ``MultiStepsState.gradient_step`` (read only by a
            schedule ``max_squared_norm``).
        params: unused.
        max_squared_norm: the threshold, ``>= 0`` (number, array or
            schedule ``gradient_step -> value``).

    Returns:
        ``(should_skip, {"should_skip": should_skip, "norm_squared":
        norm_squared})``, as optax.

    Examples:
        >>> import functools
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fn = functools.partial(fo.skip_large_updates, max_squared_norm=10.0)
        >>> skip, info = fn({"w": jnp.array([3.0, 4.0])}, 0, None)
        >>> bool(skip), float(info["norm_squared"])
        (True, 25.0)

    References:
        optax.skip_large_updates.
    """
    check_number("max_squared_norm", max_squared_norm, low=0.0, allow_schedule=True, allow_inf=True)
    del params
    norm_squared = _tree.squared_norm(updates) if jax.tree.leaves(updates) else jnp.zeros((), jnp.float32)
    threshold = value_at(max_squared_norm, jnp.asarray(gradient_step, jnp.int32))
    should_skip = jnp.logical_not(norm_squared < threshold)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}
