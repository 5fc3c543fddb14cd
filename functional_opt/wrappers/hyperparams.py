"""Hyperparameters kept in the optimizer state, readable and settable between steps."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import check_dtype, is_schedule, safe_increment, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.wrappers.naming import find_states


class InjectHyperparamsState(NamedTuple):
    """State of :func:`inject_hyperparams`.

    ``count``: int32 step count (the schedules' argument); ``hyperparams``: a
    dict ``name -> scalar array`` (float32 by default) of the values used by
    the last update (or by the first one, right after ``init``);
    ``inner_state``: the wrapped optimizer's state.
    """

    count: Any
    hyperparams: Any
    inner_state: Any


def _is_numeric(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, numbers.Real):
        return True
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and jnp.issubdtype(jnp.result_type(x), jnp.number)


def inject_hyperparams(
    factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., Any]:
    """Wrap an optimizer factory so its numeric hyperparameters live in the state.

    ``inject_hyperparams(adam)(learning_rate=1e-3, b2=0.999)`` behaves like
    ``adam(1e-3, b2=0.999)``, but the state holds ``{"learning_rate": ...,
    "b2": ...}`` as arrays, so they can be read (:func:`get_hyperparam`) and
    changed (:func:`set_hyperparam`) between steps **without recompiling**.
    Each update rebuilds the inner optimizer from the stored arrays (our
    factories accept arrays for every numeric hyperparameter) and runs it on
    the inner state.

    Update rule, at step ``count``::

        h[name] <- schedule(count)   for every hyperparameter given as a schedule
        u, inner_state <- factory(**h, **static).update(g, inner_state, params)
        count <- count + 1

    Conventions: hyperparameters are stored in float32 whatever the params'
    dtype (a bf16 model must not round ``b2 = 0.999`` to 1); schedules are
    evaluated from this wrapper's own count (pre-increment, as everywhere).
    Python numbers, numpy/jax numeric arrays and schedules are injected;
    bools, ``None``, dtypes, strings and ``static_args`` are passed through
    as given. A value set on a scheduled hyperparameter is overwritten by
    the schedule at the next update.

    Args:
        factory: a function returning a ``GradientTransformation`` (e.g.
            :func:`~functional_opt.adam`).
        static_args: names of numeric arguments *not* to inject (e.g. an
            int that must stay a Python int).
        hyperparam_dtype: dtype of the stored values; default float32.

    Returns:
        A function with ``factory``'s signature returning the wrapped
        transformation, whose state is :class:`InjectHyperparamsState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.inject_hyperparams(fo.sgd)(learning_rate=0.1)
        >>> s = opt.init(jnp.zeros(1))
        >>> s = fo.set_hyperparam(s, "learning_rate", 0.5)
        >>> opt.update(jnp.ones(1), s)[0]
        Array([-0.5], dtype=float32)

    References:
        optax.inject_hyperparams.
    """
    if not callable(factory):
        raise TypeError(f"factory must be a callable returning a GradientTransformation, got {factory!r}")
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    dtype = check_dtype("hyperparam_dtype", hyperparam_dtype) or jnp.dtype(jnp.float32)
    signature = inspect.signature(factory)

    def wrapped(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"inject_hyperparams({getattr(factory, '__name__', factory)}): {e}") from e
        bound.apply_defaults()
        given = dict(bound.arguments)
        for name, p in signature.parameters.items():  # flatten **kwargs of the factory
            if p.kind is inspect.Parameter.VAR_KEYWORD and name in given:
                given.update(given.pop(name))
        injected = {k: v for k, v in given.items() if k not in static and (_is_numeric(v) or is_schedule(v))}
        fixed = {k: v for k, v in given.items() if k not in injected}
        # validate eagerly, with the factory's own messages (schedules at their first value)
        factory(**{k: (v(zero_count()) if is_schedule(v) else v) for k, v in given.items()})

        def values(count, stored):
            out = {}
            for k, v in injected.items():
                if is_schedule(v):
                    out[k] = jnp.asarray(v(count)).astype(dtype)
                elif stored is None:
                    out[k] = jnp.asarray(v).astype(dtype)
                else:
                    out[k] = stored[k]
            return out

        def init(params):
            count = zero_count()
            hp = values(count, None)
            return InjectHyperparamsState(count, hp, factory(**fixed, **hp).init(params))

        def update(updates, state, params=None, **extra_args):
            hp = values(state.count, state.hyperparams)
            inner = factory(**fixed, **hp)
            new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            return new_updates, InjectHyperparamsState(safe_increment(state.count), hp, inner_state)

        return GradientTransformation(init, update)

    wrapped.__name__ = f"inject_hyperparams({getattr(factory, '__name__', 'factory')})"
    wrapped.__doc__ = factory.__doc__
    return wrapped


def _injected_states(state) -> list:
    return find_states(state, InjectHyperparamsState)


def get_hyperparam(state: Any, name: str) -> jax.Array:
    """The current value of hyperparameter ``name`` anywhere inside ``state``.

    Searches every :class:`InjectHyperparamsState` in ``state`` (through
    chains, named chains, partitions and wrappers). Raises ``KeyError`` if
    none holds ``name`` and ``ValueError`` if several do (look it up from a
    sub-state, e.g. :func:`get_substate`, to disambiguate).

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.clip(1.0), fo.inject_hyperparams(fo.adam)(learning_rate=1e-3))
        >>> fo.get_hyperparam(opt.init(jnp.zeros(2)), "b2")
        Array(0.999, dtype=float32)
    """
    hits = [s for s in _injected_states(state) if name in s.hyperparams]
    if not hits:
        raise KeyError(f"no injected hyperparameter named {name!r} in this state")
    if len(hits) > 1:
        raise ValueError(f"{len(hits)} injected hyperparameters are named {name!r}; look it up in a sub-state")
    return hits[0].hyperparams[name]


def set_hyperparam(state: Any, name: str, value: Any) -> Any:
    """Return ``state`` with hyperparameter ``name`` set to ``value`` (a number or array).

    Every :class:`InjectHyperparamsState` inside ``state`` that holds
    ``name`` is updated (cast to the stored dtype); the rest of the state is
    shared, not copied. Pure and jit-compatible: ``value`` may be traced.
    Raises ``KeyError`` if no injected hyperparameter has that name.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> s = fo.inject_hyperparams(fo.adam)(learning_rate=1e-3).init(jnp.zeros(2))
        >>> fo.get_hyperparam(fo.set_hyperparam(s, "learning_rate", 3e-4), "learning_rate")
        Array(0.0003, dtype=float32)
    """
    found = []

    def is_injected(x):
        return isinstance(x, InjectHyperparamsState)

    def replace(node):
        if not is_injected(node):
            return node
        node = node._replace(inner_state=jax.tree.map(replace, node.inner_state, is_leaf=is_injected))
        if name in node.hyperparams:
            old = node.hyperparams[name]
            new = jnp.broadcast_to(jnp.asarray(value).astype(old.dtype), jnp.shape(old))
            found.append(True)
            node = node._replace(hyperparams={**node.hyperparams, name: new})
        return node

    new_state = jax.tree.map(replace, state, is_leaf=is_injected)
    if not found:
        raise KeyError(f"no injected hyperparameter named {name!r} in this state")
    return new_state
