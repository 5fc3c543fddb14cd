"""A jitted, donated training step: forward, backward, update, in one XLA program."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from functional_opt.base import accepted_extra_args, apply_updates
from functional_opt.flat import FlatParams


def make_train_step(
    loss_fn: Callable[..., Any],
    optimizer: Any,
    *,
    has_aux: bool = False,
    donate: bool = True,
) -> Callable:
    """Build ``step(params, opt_state, *batch)``, jitted, donating params and state.

    One call computes, in one XLA program::

        loss, grads = value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params, value=loss)
        params = apply_updates(params, updates)

    and returns ``(params, opt_state, loss)`` (``(params, opt_state, loss,
    aux)`` with ``has_aux=True``, where ``loss_fn`` returns ``(loss, aux)``).
    ``value=loss`` is passed only to optimizers whose ``update`` accepts it
    (every functional_opt transform and optax ``GradientTransformationExtraArgs``;
    plain optax ones are called without it).

    Donation (the default) lets XLA write the new params and state into the
    old buffers: on CPU this is several times faster for large arrays and
    halves peak memory. The arrays passed in are then deleted; always use the
    returned ones (``params, state, loss = step(params, state, x, y)``).

    Flat mode: when ``params`` is a :class:`functional_opt.flat.FlatParams`,
    ``loss_fn`` still receives the parameter tree (``params.unflatten()``),
    the gradients arrive as flat buffers, and the optimizer runs on those.

    Args:
        loss_fn: ``loss_fn(params_tree, *batch) -> loss`` (a scalar), or
            ``-> (loss, aux)`` with ``has_aux=True``.
        optimizer: a ``GradientTransformation`` (ours or optax's).
        has_aux: ``loss_fn`` returns ``(loss, aux)``.
        donate: donate ``params`` and ``opt_state`` to the step.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda p, x: jnp.sum((p["w"] * x - 1.0) ** 2)
        >>> opt = fo.sgd(0.1)
        >>> step = fo.make_train_step(loss, opt)
        >>> params = {"w": jnp.zeros(2)}
        >>> state = opt.init(params)
        >>> for _ in range(20):
        ...     params, state, value = step(params, state, jnp.ones(2))
        >>> params["w"].round(3)
        Array([1., 1.], dtype=float32)

    References:
        JAX documentation, "Buffer donation"; optax's training-loop examples.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (params, *batch) -> loss, got {loss_fn!r}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be a GradientTransformation, got {optimizer!r}")
    names = accepted_extra_args(optimizer)
    step = train_step_function(loss_fn, optimizer, has_aux=has_aux, pass_value=names is None or "value" in names)
    return jax.jit(step, donate_argnums=(0, 1) if donate else ())


def train_step_function(loss_fn, optimizer, *, has_aux, pass_value, place_grads=None, place_updates=None) -> Callable:
    """The step of :func:`make_train_step` before ``jit`` (shared with ``fo.sharding.make_train_step``).

    ``value=loss`` reaches ``optimizer.update`` when ``pass_value``; ``place_grads`` / ``place_updates`` (sharding
    constraints), when given, map the gradients / the updates.
    """

    def objective(params, *batch):
        tree = params.unflatten() if isinstance(params, FlatParams) else params
        out = loss_fn(tree, *batch)
        return out if has_aux else (out, None)

    def step(params, opt_state, *batch):
        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params, *batch)
        if place_grads is not None:
            grads = place_grads(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params, **({"value": loss} if pass_value else {}))
        if place_updates is not None:
            updates = place_updates(updates)
        params = apply_updates(params, updates)
        return (params, opt_state, loss, aux) if has_aux else (params, opt_state, loss)

    return step
