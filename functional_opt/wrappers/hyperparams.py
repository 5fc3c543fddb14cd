"""Hyperparameters kept in the optimizer state, readable and settable between steps."""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import check_dtype, is_schedule, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformationExtraArgs, with_extra_args_support
from functional_opt.transforms.plateau import ReduceLROnPlateauState
from functional_opt.transforms.scaling import ScaleByScheduleState
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


class InjectStatefulHyperparamsState(NamedTuple):
    """State of :func:`inject_hyperparams` when a hyperparameter is a stateful schedule.

    As :class:`InjectHyperparamsState`, plus ``hyperparams_states``: a dict
    ``name -> state`` of each schedule (a :class:`WrappedSchedule`'s count
    for a plain ``count -> value`` schedule). The state of
    :func:`inject_stateful_hyperparams`.
    """

    count: Any
    hyperparams: Any
    hyperparams_states: Any
    inner_state: Any


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with a state: ``init() -> state``, ``update(state, **extra_args) -> state``, ``state -> value``.

    ``schedule(state, **extra_args)`` gives the value of the current step;
    ``update`` advances the state and may read the update's extra
    arguments (``value=loss``), so a schedule can follow the loss. Any
    object with these three methods is one (a structural type, as optax's).
    """

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> Any: ...


class WrappedScheduleState(NamedTuple):
    """State of :class:`WrappedSchedule`: the int32 step count."""

    count: Any


class WrappedSchedule:
    """A plain schedule ``count -> value`` as a :class:`StatefulSchedule` whose state is the count.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.WrappedSchedule(fo.linear_schedule(1.0, 0.0, 4))
        >>> st = s.update(s.init())
        >>> s(st)
        Array(0.75, dtype=float32)

    References:
        optax.WrappedSchedule.
    """

    def __init__(self, schedule_fn: Callable[[Any], Any]):
        if not callable(schedule_fn):
            raise TypeError(f"schedule_fn must be a callable count -> value, got {schedule_fn!r}")
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=zero_count())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> Any:
        del extra_args
        return self.schedule_fn(state.count)


def _is_numeric(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, numbers.Real):
        return True
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and jnp.issubdtype(jnp.result_type(x), jnp.number)


_STATIC_NAME = re.compile(r"mask|label|(^|_)(fn|key|rng|seed)(_|$)")


def _is_static(name: str, value: Any, default: Any) -> bool:
    """Whether argument ``name=value`` of a factory is passed through as given (not injected).

    Static: ``None``, bools, strings, dtypes and types; any value of an
    argument whose name says it is a mask, a label tree, a function, a PRNG
    key or a seed (``mask``, ``weight_decay_mask``, ``muon_mask``,
    ``labels``, ``clip_value_fn``, ``key``, ``seed``); a Python int where the
    factory's default is a Python int (a structural count such as
    ``ns_steps``); a callable where the factory's default is a callable.
    Everything else that is numeric (or a schedule) is injected.
    """
    if value is None or isinstance(value, (bool, str, type, np.dtype)):
        return True
    if _STATIC_NAME.search(name):
        return True
    if isinstance(value, int) and isinstance(default, int) and not isinstance(default, bool):
        return True
    if is_schedule(value) and is_schedule(default) and not isinstance(default, type):
        return True
    return not (_is_numeric(value) or is_schedule(value))


def _is_integer_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and jnp.issubdtype(jnp.result_type(x), jnp.integer)


def _is_floating_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and jnp.issubdtype(jnp.result_type(x), jnp.floating)


def _cast(x: Any, dtype: Any, keep_integer: bool) -> jax.Array:
    """A hyperparameter value as stored: in ``dtype`` (floating), or as it is for an integer hyperparameter."""
    x = jnp.asarray(x)
    if keep_integer or jnp.issubdtype(x.dtype, jnp.complexfloating):
        return x
    return x.astype(dtype)


def inject_hyperparams(
    inner_factory: Callable[..., Any],
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

    A :class:`StatefulSchedule` (an object with ``init``, ``update`` and
    ``__call__``) gives ``h[name] <- schedule(s, **extra_args)`` and
    advances ``s <- schedule.update(s, **extra_args)``, so a schedule may
    follow ``value=loss``; its state sits in ``hyperparams_states`` of an
    :class:`InjectStatefulHyperparamsState`.

    Conventions: hyperparameters are stored in float32 whatever the params'
    dtype (optax stores them in the params' widest dtype; a bf16 model must
    not round ``b2 = 0.999`` to 1), and so are schedule values and values
    written into ``state.hyperparams``; a hyperparameter given as an array
    keeps its dtype (integer or floating, as in optax) unless
    ``hyperparam_dtype`` is given. Schedules are evaluated
    from this wrapper's own count (pre-increment, as everywhere). A value
    set on a scheduled hyperparameter is overwritten by the schedule at the
    next update. Extra arguments reach the inner optimizer when it accepts
    them. optax 0.2.8 always returns its stateful state; here the state is
    :class:`InjectHyperparamsState` unless a stateful schedule is given
    (:func:`inject_stateful_hyperparams` always gives the stateful one).

    Which arguments are injected: Python numbers, numpy/jax numeric arrays
    and schedules (callables ``count -> value``, or stateful schedules)
    given for a numeric hyperparameter. Passed through unchanged (static,
    never called) are ``static_args``; ``None``, bools, strings, dtypes and
    types; every argument whose name says it is a mask, a label tree, a
    function, a PRNG key or a seed (the name contains ``mask`` or ``label``,
    or has a ``fn``, ``key``, ``rng`` or ``seed`` component: ``mask=fn``,
    ``muon_mask=fn``, ``weight_decay_mask=fn``, ``clip_value_fn=f``); a
    Python int or an integer array where the factory's default is a Python
    int (a structural count such as ``ns_steps`` or ``update_interval``);
    and a callable where the factory's default is a callable.

    Args:
        inner_factory: a function returning a ``GradientTransformation``
            (e.g. :func:`~functional_opt.adam`).
        static_args: names of arguments *not* to inject (e.g. a callable
            that is not a schedule, or an int that must stay a Python int);
            each must be a parameter of ``inner_factory`` (``ValueError``).
        hyperparam_dtype: dtype of every stored floating value; default
            float32 for numbers and schedules, an array's own dtype for an array.

    Returns:
        A function with ``inner_factory``'s signature returning the wrapped
        transformation, whose state is :class:`InjectHyperparamsState` (or
        :class:`InjectStatefulHyperparamsState`).

    Examples:
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
    return _inject(inner_factory, static_args, hyperparam_dtype, stateful=False)


def inject_stateful_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., Any]:
    """:func:`inject_hyperparams` whose state is always :class:`InjectStatefulHyperparamsState`.

    Every schedule keeps its state in ``hyperparams_states`` (a plain
    schedule as a :class:`WrappedSchedule`, its count), as optax's
    ``inject_stateful_hyperparams`` (deprecated in optax in favour of
    ``inject_hyperparams``, which behaves the same there).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.inject_stateful_hyperparams(fo.sgd)(learning_rate=fo.linear_schedule(0.1, 0.0, 10))
        >>> s = opt.init(jnp.zeros(1))
        >>> _, s = opt.update(jnp.ones(1), s)
        >>> s.hyperparams_states["learning_rate"].count
        Array(1, dtype=int32)

    References:
        optax.inject_stateful_hyperparams.
    """
    return _inject(inner_factory, static_args, hyperparam_dtype, stateful=True)


def _inject(
    factory: Callable[..., Any], static_args: str | Iterable[str], hyperparam_dtype: Any, stateful: bool
) -> Callable[..., Any]:
    if not callable(factory):
        raise TypeError(f"inner_factory must be a callable returning a GradientTransformation, got {factory!r}")
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    given_dtype = check_dtype("hyperparam_dtype", hyperparam_dtype)
    dtype = given_dtype or jnp.dtype(jnp.float32)
    signature = inspect.signature(factory)
    name = getattr(factory, "__name__", "factory")
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if not static <= set(signature.parameters) and not takes_kwargs:
        raise ValueError(
            f"inject_hyperparams({name}): static_args {sorted(static - set(signature.parameters))} are not "
            f"parameters of {name}; its parameters are {list(signature.parameters)}"
        )

    def wrapped(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"inject_hyperparams({name}): {e}") from e
        bound.apply_defaults()
        given = dict(bound.arguments)
        for pname, p in signature.parameters.items():  # flatten **kwargs of the factory
            if p.kind is inspect.Parameter.VAR_KEYWORD and pname in given:
                given.update(given.pop(pname))
        defaults = {k: p.default for k, p in signature.parameters.items()}

        def is_injected(k, v):
            if k in static:
                return False
            if isinstance(v, StatefulSchedule):
                return True
            default = defaults.get(k, inspect.Parameter.empty)
            if _is_integer_array(v) and isinstance(default, int) and not isinstance(default, bool):
                return False  # a structural count given as an array: passed as given
            return not _is_static(k, v, default)

        injected = {k: v for k, v in given.items() if is_injected(k, v)}
        fixed = {k: v for k, v in given.items() if k not in injected}
        use_states = stateful or any(isinstance(v, StatefulSchedule) for v in injected.values())
        scheds = {
            k: (v if isinstance(v, StatefulSchedule) else WrappedSchedule(v))
            for k, v in injected.items()
            if use_states and is_schedule(v)
        }

        # validate eagerly, with the factory's own messages (schedules at their first value)
        def first(k, v):
            if k not in injected:
                return v
            if isinstance(v, StatefulSchedule):
                return v(v.init())
            return v(zero_count()) if is_schedule(v) else v

        factory(**{k: first(k, v) for k, v in given.items()})

        integer = {k for k, v in injected.items() if _is_integer_array(v)}  # kept integer, as given
        # a floating array given with its own dtype keeps it, unless hyperparam_dtype says otherwise
        arrays = {k: v for k, v in injected.items() if _is_floating_array(v)}
        own = {} if given_dtype is not None else {k: jnp.asarray(v).dtype for k, v in arrays.items()}

        def values(count, stored, hstates, extra_args):
            out = {}
            for k, v in injected.items():
                if k in scheds:
                    x = scheds[k](hstates[k], **extra_args)
                elif is_schedule(v):
                    x = v(count)
                else:  # a value the user set in the dict (a Python number, say) is cast as the initial one
                    x = v if stored is None else stored[k]
                out[k] = _cast(x, own.get(k, dtype), k in integer)
            return out

        def init(params):
            count = zero_count()
            if use_states:
                hstates = {k: f.init() for k, f in scheds.items()}
                hp = values(count, None, hstates, {})
                return InjectStatefulHyperparamsState(count, hp, hstates, factory(**fixed, **hp).init(params))
            hp = values(count, None, {}, {})
            return InjectHyperparamsState(count, hp, factory(**fixed, **hp).init(params))

        def update(updates, state, params=None, **extra_args):
            hstates = state.hyperparams_states if use_states else {}
            hp = values(state.count, state.hyperparams, hstates, extra_args)
            inner = with_extra_args_support(factory(**fixed, **hp))
            new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            count = safe_increment(state.count)
            if use_states:
                new_hstates = {k: f.update(hstates[k], **extra_args) for k, f in scheds.items()}
                return new_updates, InjectStatefulHyperparamsState(count, hp, new_hstates, inner_state)
            return new_updates, InjectHyperparamsState(count, hp, inner_state)

        return GradientTransformationExtraArgs(init, update)

    wrapped.__name__ = f"inject_hyperparams({name})"
    wrapped.__doc__ = factory.__doc__
    return wrapped


_INJECTED = (InjectHyperparamsState, InjectStatefulHyperparamsState)


def _injected_states(state) -> list:
    return find_states(state, InjectHyperparamsState) + find_states(state, InjectStatefulHyperparamsState)


def get_hyperparam(state: Any, name: str) -> jax.Array:
    """The current value of hyperparameter ``name`` anywhere inside ``state``.

    Searches every :class:`InjectHyperparamsState` in ``state`` (through
    chains, named chains, partitions and wrappers). Raises ``KeyError`` if
    none holds ``name`` and ``ValueError`` if several do (look it up from a
    sub-state, e.g. :func:`get_substate`, to disambiguate).

    Examples:
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


# valid ranges of the common hyperparameter names, as the factories check them: (low, high, high_inclusive)
_RANGES = {
    "learning_rate": (0.0, None, True),
    "weight_decay": (0.0, None, True),
    "eps": (0.0, None, True),
    "eps_root": (0.0, None, True),
    "momentum": (0.0, 1.0, True),
    "b1": (0.0, 1.0, False),
    "b2": (0.0, 1.0, False),
    "b3": (0.0, 1.0, False),
    "decay": (0.0, 1.0, True),
}


def _check_set_value(name: str, value: Any, old: jax.Array) -> None:
    """Validate a value given to :func:`set_hyperparam` like the factories validate theirs."""
    shape: tuple = tuple(getattr(value, "shape", ()))
    if is_schedule(value):
        raise TypeError(
            f"set_hyperparam: {name} must be a number or a scalar array, got the callable {value!r} (a schedule is "
            "given to the factory, not set between steps)"
        )
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) or isinstance(value, (jax.Array, np.ndarray, np.generic))
    ):
        raise TypeError(f"set_hyperparam: {name} must be a number or a scalar array, got {type(value).__name__}")
    if shape and shape != jnp.shape(old):
        raise ValueError(f"set_hyperparam: {name} is stored with shape {jnp.shape(old)}, got a value of shape {shape}")
    bare = name.removeprefix("adam_")
    if shape:
        return
    try:
        x = float(np.asarray(value))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return  # traced: checked for its shape only
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"set_hyperparam: {name} must be finite, got {value!r}")
    low, high, high_inclusive = _RANGES.get(bare, (None, None, True))
    if (low is not None and x < low) or (high is not None and (x > high or (x == high and not high_inclusive))):
        hb = "]" if high_inclusive and high is not None else ")"
        raise ValueError(
            f"set_hyperparam: {name} must be in [{low}, {'inf' if high is None else high}{hb}, got {value!r}"
        )


def set_hyperparam(state: Any, name: str, value: Any) -> Any:
    """Return ``state`` with hyperparameter ``name`` set to ``value`` (a number or array).

    Every :class:`InjectHyperparamsState` inside ``state`` that holds
    ``name`` is updated (cast to the stored dtype); the rest of the state is
    shared, not copied. Pure and jit-compatible: ``value`` may be traced.
    Raises ``KeyError`` if no injected hyperparameter has that name.

    Concrete values are checked as the factories check theirs:
    ``ValueError`` for NaN, infinities and values out of the range of the
    common names (``learning_rate``, ``weight_decay``, ``eps``,
    ``eps_root`` ``>= 0``; ``b1``, ``b2``, ``b3`` in ``[0, 1)``;
    ``momentum``, ``decay`` in ``[0, 1]``; the same for muon's ``adam_*``),
    ``ValueError`` for a shape other than the stored one (a scalar) and
    ``TypeError`` for a callable or a non-numeric value. Traced values are
    checked for their shape only.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> s = fo.inject_hyperparams(fo.adam)(learning_rate=1e-3).init(jnp.zeros(2))
        >>> fo.get_hyperparam(fo.set_hyperparam(s, "learning_rate", 3e-4), "learning_rate")
        Array(0.0003, dtype=float32)
    """
    found = []

    def is_injected(x):
        return isinstance(x, _INJECTED)

    def replace(node):
        if not is_injected(node):
            return node
        node = node._replace(inner_state=jax.tree.map(replace, node.inner_state, is_leaf=is_injected))
        if name in node.hyperparams:
            old = node.hyperparams[name]
            _check_set_value(name, value, old)
            new = jnp.broadcast_to(jnp.asarray(value).astype(old.dtype), jnp.shape(old))
            found.append(True)
            node = node._replace(hyperparams={**node.hyperparams, name: new})
        return node

    new_state = jax.tree.map(replace, state, is_leaf=is_injected)
    if not found:
        raise KeyError(f"no injected hyperparameter named {name!r} in this state")
    return new_state


_WATCHED = (InjectHyperparamsState, InjectStatefulHyperparamsState, ReduceLROnPlateauState, ScaleByScheduleState)


def _watched_states(state: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(key path, sub-state)`` of every injected, plateau and schedule-count state, outermost first."""
    out = []
    found = jax.tree_util.tree_flatten_with_path(state, is_leaf=lambda x: isinstance(x, _WATCHED))[0]
    for path, node in found:
        if not isinstance(node, _WATCHED):
            continue
        where = prefix + jax.tree_util.keystr(path, simple=True, separator=".")
        out.append((where, node))
        if isinstance(node, _INJECTED):
            out.extend(_watched_states(node.inner_state, where + ".inner_state."))
    return out


def current_hyperparams(opt_state: Any, /, **schedules: Any) -> dict[str, jax.Array]:
    """The hyperparameters used by the last update, read from any optimizer state, for logging.

    The dict holds

    * every :func:`inject_hyperparams` value under its name (the value the
      last update used; right after ``init``, the one the first update will
      use);
    * ``"plateau_scale"``: the current multiplier of each
      :func:`~functional_opt.reduce_on_plateau` (the effective learning rate
      is ``learning_rate * plateau_scale`` when it follows the optimizer);
    * for each ``name=schedule`` keyword: ``schedule`` evaluated at the
      step the last update used, ``count - 1`` of the state's
      :class:`~functional_opt.ScaleByScheduleState` (the learning-rate step
      count of every optimizer; ``0`` before the first update). The state
      holds step counts, not schedules, so a plain ``fo.adamw(sched)`` needs
      ``current_hyperparams(state, learning_rate=sched)``. A number or
      array is returned as it is.

    A name found in several sub-states (e.g. two injected optimizers in a
    :func:`~functional_opt.partition`) is keyed ``"<key path>/<name>"``
    instead. Values are jax scalars, so the call jits; ``float(v)`` them to
    log. Raises ``ValueError`` when a schedule is given and the state holds
    no, or more than one, ``ScaleByScheduleState`` (pass the sub-state, see
    :func:`~functional_opt.get_substate`).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> from functional_opt.wrappers.hyperparams import current_hyperparams
        >>> sched = fo.linear_schedule(1.0, 0.0, 10)
        >>> opt = fo.adamw(sched)
        >>> s = opt.init(jnp.zeros(2))
        >>> for _ in range(3):
        ...     _, s = opt.update(jnp.ones(2), s, jnp.zeros(2))
        >>> current_hyperparams(s, learning_rate=sched)
        {'learning_rate': Array(0.8, dtype=float32)}
        >>> s = fo.inject_hyperparams(fo.adam)(learning_rate=0.1, b1=0.8).init(jnp.zeros(2))
        >>> {k: float(v) for k, v in current_hyperparams(s).items()}["b1"]
        0.800000011920929
    """
    found: list[tuple[str, str, Any]] = []  # (name, key path, value)
    counts = []
    for where, node in _watched_states(opt_state):
        if isinstance(node, _INJECTED):
            found.extend((k, where, v) for k, v in node.hyperparams.items())
        elif isinstance(node, ReduceLROnPlateauState):
            found.append(("plateau_scale", where, node.scale))
        else:
            counts.append((where, node.count))
    if schedules:
        if len(counts) != 1:
            paths = [w for w, _ in counts]
            raise ValueError(
                f"current_hyperparams: a schedule is evaluated at the learning-rate step count, but this state "
                f"holds {len(counts)} ScaleByScheduleState counts {paths}; pass the sub-state of one optimizer"
            )
        count = counts[0][1]
        last = jnp.maximum(count - 1, 0).astype(jnp.asarray(count).dtype)
        for name, sched in schedules.items():
            found.append((name, counts[0][0], value_at(sched, last) if is_schedule(sched) else jnp.asarray(sched)))
    names = [n for n, _, _ in found]
    return {(n if names.count(n) == 1 else f"{w}/{n}"): v for n, w, v in found}
