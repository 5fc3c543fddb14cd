"""The core contract: ``GradientTransformation`` and the ways to compose one.

A gradient transformation is a pair of pure functions::

    init(params) -> state
    update(updates, state, params=None, **extra_args) -> (updates, new_state)

Updates are *added* to the parameters (:func:`apply_updates`); the sign flip
of gradient descent lives in :func:`functional_opt.scale_by_learning_rate`.
State is a pytree of arrays only (NamedTuples of arrays), so it jits, vmaps,
shards and checkpoints unchanged. ``None`` leaves are empty subtrees.
Every update accepts and ignores unknown keyword ``extra_args`` (for example
``value=loss``), so one type serves transforms that need the loss.

The type is a ``NamedTuple`` with the fields ``init`` and ``update`` in that
order, so optax accepts ours and we accept optax's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree

Params = Any
Updates = Any
OptState = Any


class GradientTransformation(NamedTuple):
    """A pure ``(init, update)`` pair over pytrees.

    ``init(params) -> state`` builds the state (a pytree of arrays).
    ``update(updates, state, params=None, **extra_args) -> (updates, state)``
    transforms the incoming updates (usually gradients). Unknown keyword
    arguments are ignored, so ``update(g, s, p, value=loss)`` works for every
    transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sgd(learning_rate=0.1)
        >>> params = {"w": jnp.ones(2)}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
        >>> fo.apply_updates(params, updates)["w"]
        Array([0.9, 0.9], dtype=float32)

    References:
        Babuschkin et al., "The DeepMind JAX Ecosystem" (optax), 2020.
    """

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation: no arrays at all."""


def check_transform(t: Any, where: str) -> None:
    if not (hasattr(t, "init") and hasattr(t, "update") and callable(t.init) and callable(t.update)):
        raise TypeError(f"{where} must be a GradientTransformation (an (init, update) pair), got {t!r}")


def identity() -> GradientTransformation:
    """The transformation that returns the updates unchanged.

    Update rule: ``u <- u``. State: :class:`EmptyState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.identity().update(jnp.ones(2), fo.EmptyState())[0]
        Array([1., 1.], dtype=float32)
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init, update)


def stateless(f: Callable[[Updates, Params], Updates]) -> GradientTransformation:
    """Build a stateless transformation from ``f(updates, params) -> updates``.

    ``params`` is ``None`` when the caller does not pass them.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> halve = fo.stateless(lambda u, p: jax.tree.map(lambda x: x / 2, u))
        >>> halve.update(jnp.ones(2), halve.init(None))[0]
        Array([0.5, 0.5], dtype=float32)
    """
    if not callable(f):
        raise TypeError(f"f must be a callable (updates, params) -> updates, got {f!r}")

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return f(updates, params), state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transformations left to right: ``chain(a, b)`` applies ``a`` then ``b``.

    The state is a tuple with one entry per transformation. ``extra_args``
    (such as ``value=loss``) are passed to every member, which ignores what it
    does not use. optax transformations may be chained with ours.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.scale(2.0), fo.scale_by_learning_rate(0.1))
        >>> u, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        >>> u
        Array([-0.2, -0.2], dtype=float32)
    """
    for i, t in enumerate(transforms):
        check_transform(t, f"chain argument {i}")
    inits = tuple(t.init for t in transforms)
    updates_fns = tuple(t.update for t in transforms)

    def init(params):
        return tuple(fn(params) for fn in inits)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(updates_fns):
            raise ValueError(
                f"chain of {len(updates_fns)} transformations got a state that is not a tuple of "
                f"{len(updates_fns)} entries (type {type(state).__name__}); was it made by another "
                "optimizer's init?"
            )
        if params is not None:  # trace-time check: a gradient shaped unlike its param must not broadcast
            _tree.check_same_shapes("chain", "updates", updates, "params", params)
        new_state = []
        for i, (fn, s) in enumerate(zip(updates_fns, state)):
            try:
                updates, s = fn(updates, s, params, **extra_args)
            except (AttributeError, TypeError, ValueError, IndexError, KeyError) as e:
                _explain_state_mismatch(i, inits[i], s, params if params is not None else updates, e)
                raise
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    """Return ``params + updates``, leaf by leaf, in each parameter's dtype.

    Update rule: ``p <- (p + u).astype(p.dtype)``. ``None`` leaves stay
    ``None``. The sum is formed in the promoted dtype, then cast back, so a
    bfloat16 parameter stays bfloat16 while a float32 update is added in
    float32.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.apply_updates({"w": jnp.ones(2, jnp.bfloat16)}, {"w": jnp.full(2, 0.5)})["w"]
        Array([1.5, 1.5], dtype=bfloat16)
    """

    _tree.check_same_shapes("apply_updates", "params", params, "updates", updates)
    for path, p, u in _leaves_with_path(params, updates):
        if not _is_inexact(p) and _is_inexact(u):
            raise TypeError(
                f"apply_updates: the parameter at key path {path} has dtype {jnp.result_type(p)}, so the "
                f"{jnp.result_type(u)} update would be truncated; keep only float (or complex) leaves "
                "trainable (make the others None or mask them)"
            )

    def add(p, u):
        if p is None:
            return None
        p = jnp.asarray(p)
        return jnp.asarray(p + u).astype(p.dtype)

    return jax.tree.map(add, params, updates, is_leaf=lambda x: x is None)


def _is_inexact(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _leaves_with_path(params: Params, updates: Updates):
    """``(keystr, param, update)`` for every leaf (trees already checked to match)."""
    paths = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(jax.tree_util.keystr(k), p, u) for (k, p), u in zip(paths, jax.tree.leaves(updates))]


def _explain_state_mismatch(i: int, init: Callable, state: Any, params: Any, error: Exception) -> None:
    """After member ``i`` of a chain failed: raise a clear error if its state has the wrong structure.

    Runs only on the error path, so a correct call pays nothing. The expected
    structure is that of ``jax.eval_shape(init, params)``.
    """
    try:
        expected = jax.eval_shape(init, params)
    except Exception:  # noqa: BLE001 - the original error is more informative
        return
    diff = _tree.first_structure_difference(expected, state)
    if diff:
        where, want, have = diff
        raise ValueError(
            f"chain member {i} got a state of the wrong structure at key path {where}: expected "
            f"{want}, got {have}; was it made by another optimizer's init, or for other params (a mask or "
            "labels function that labels these params differently)?"
        ) from error
