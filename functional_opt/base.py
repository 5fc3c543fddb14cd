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
order, so optax accepts ours and we accept optax's. Our combinators
(:func:`chain`, ``partition``, ``masked``, ``inject_hyperparams``, ...)
pass extra arguments only to the members that accept them
(:func:`with_extra_args_support`), so an optax transform without extra
arguments may sit next to one that needs ``value=``.

Recognition by optax. optax passes extra arguments only to instances of
its ``GradientTransformationExtraArgs`` (a plain ``isinstance`` check on a
``NamedTuple`` class, so no registration hook exists). When optax is
installed, :class:`GradientTransformation` and
:class:`GradientTransformationExtraArgs` therefore *derive* from optax's
classes of the same names, and ``optax.chain(fo.sgd(1.0),
fo.reduce_on_plateau())`` or ``optax.MultiSteps(fo.polyak_sgd())`` give
``value=`` to ours. optax stays an optional dependency: ``import
functional_opt`` imports it only when it is installed
(``importlib.util.find_spec``), and ignores a broken install. The cost,
measured with ``python -X importtime`` on an idle machine: optax adds about
50-100 ms to an import of 1.1-2.3 s (this library with jax), paid only where optax is
installed and nothing where the program imports optax anyway. Rejected:
deriving only when optax was imported first (the type would depend on
import order), and rewriting the class's bases from an import hook when
optax is imported later (fragile).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, Optional, Protocol, Union

import jax
import jax.numpy as jnp

from functional_opt import _tree

# The names optax users import, with optax's meaning. Annotated keeps each a distinct object (one name each).
ArrayTree = Any
Params = Annotated[ArrayTree, "Params"]
"""A pytree of arrays: the parameters being optimized."""
Updates = Annotated[ArrayTree, "Updates"]
"""A pytree of arrays shaped like the params: gradients or updates."""
OptState = Annotated[ArrayTree, "OptState"]
"""A pytree of arrays: an optimizer's state."""
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]
"""A function ``count -> value`` of the int32 step count."""
ScalarOrSchedule = Union[float, jax.Array, Schedule]  # noqa: UP007 - a typing object (callable, as optax's)
"""A hyperparameter: a number, an array (or tracer), or a :data:`Schedule`."""
MaskOrFn = Optional[Union[Any, Callable[[Params], Any]]]  # noqa: UP007, UP045 - as optax spells it
"""A mask: a tree of bools shaped like the params (or a prefix of them), or a function ``params -> mask``."""


class TransformInitFn(Protocol):
    """The type of ``init``: ``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """The type of an ``update`` without extra arguments: ``update(updates, state, params=None)``."""

    def __call__(self, updates: Updates, state: OptState, params: Params | None = None) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """The type of every ``update`` of this library: ``update(updates, state, params=None, **extra_args)``.

    Unknown keyword arguments are accepted and ignored; a transform that needs
    one (``value=loss``) names it as a keyword-only argument.
    """

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


def _optax_types() -> tuple[Any, Any] | None:
    """optax's ``(GradientTransformation, GradientTransformationExtraArgs)`` when optax is installed, else ``None``.

    Imports optax if it is installed and not imported yet.
    """
    if "optax" not in sys.modules:
        try:
            if importlib.util.find_spec("optax") is None:
                return None
        except (ImportError, ValueError):
            return None
    try:
        optax = importlib.import_module("optax")
        return optax.GradientTransformation, optax.GradientTransformationExtraArgs
    except Exception:  # noqa: BLE001 - a broken optax install must not break this library
        return None


def _takes_var_keyword(update: Any) -> bool:
    """Whether ``update`` has a ``**kwargs`` parameter (a fast path for plain functions)."""
    code = getattr(update, "__code__", None)
    if code is not None and not hasattr(update, "__wrapped__"):
        return bool(code.co_flags & inspect.CO_VARKEYWORDS)
    try:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(update).parameters.values())
    except (TypeError, ValueError):
        return False


if TYPE_CHECKING:

    class _Pair(NamedTuple):
        init: TransformInitFn
        update: TransformUpdateExtraArgsFn

    _ExtraPair = object

else:
    _OPTAX = _optax_types()
    if _OPTAX is None:

        class _Pair(NamedTuple):
            init: Callable
            update: Callable

        _ExtraPair = object
    else:
        _Pair, _ExtraPair = _OPTAX


class GradientTransformation(_Pair):
    """A pure ``(init, update)`` pair over pytrees.

    ``init(params) -> state`` builds the state (a pytree of arrays).
    ``update(updates, state, params=None, **extra_args) -> (updates, state)``
    transforms the incoming updates (usually gradients). Unknown keyword
    arguments are ignored, so ``update(g, s, p, value=loss)`` works for every
    transformation.

    A ``NamedTuple`` with the fields ``init`` and ``update``, in that order.
    Built from an ``update`` that takes ``**extra_args`` (every one of this
    library's), the object is a :class:`GradientTransformationExtraArgs`,
    the subclass that says so; from an ``update(updates, state, params=None)``
    without them, a plain :class:`GradientTransformation`, to which
    combinators pass no extra arguments (as optax). When optax is installed
    both derive from optax's classes of the same names, so optax's
    combinators (``optax.chain``, ``optax.MultiSteps``, ...) pass ``value=``
    to ours.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sgd(learning_rate=0.1)
        >>> params = {"w": jnp.ones(2)}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
        >>> fo.apply_updates(params, updates)["w"]
        Array([0.9, 0.9], dtype=float32)
        >>> isinstance(opt, fo.GradientTransformationExtraArgs)
        True

    References:
        Babuschkin et al., "The DeepMind JAX Ecosystem" (optax), 2020.
    """

    __slots__ = ()

    def __new__(cls, init: TransformInitFn, update: TransformUpdateExtraArgsFn) -> GradientTransformation:
        if cls is GradientTransformation and _takes_var_keyword(update):
            cls = GradientTransformationExtraArgs
        return tuple.__new__(cls, (init, update))


class GradientTransformationExtraArgs(GradientTransformation, _ExtraPair):
    """A :class:`GradientTransformation` whose ``update`` takes extra keyword arguments.

    ``update(updates, state, params=None, **extra_args)``: unknown keyword
    arguments are ignored; one that a transform needs (``value=loss``) is a
    keyword-only argument of its update. Every transformation of this
    library is one (``GradientTransformation(init, update)`` returns this
    subclass when ``update`` takes ``**extra_args``); combinators give extra
    arguments to these and to updates naming them, and to nothing else
    (:func:`with_extra_args_support`). Derives from optax's class of the same
    name when optax is installed.

    Examples:
        >>> import functional_opt as fo
        >>> isinstance(fo.chain(fo.scale(2.0)), fo.GradientTransformationExtraArgs)
        True

    References:
        optax.GradientTransformationExtraArgs.
    """

    __slots__ = ()


class EmptyState(NamedTuple):
    """The state of a stateless transformation: no arrays at all."""


def is_transform(t: Any) -> bool:
    """Whether ``t`` has a callable ``init`` and ``update`` (a GradientTransformation, ours or optax's)."""
    return callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))


def check_transform(t: Any, where: str) -> None:
    if not is_transform(t):
        raise TypeError(f"{where} must be a GradientTransformation (an (init, update) pair), got {t!r}")


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of a stateless transformation: returns :class:`EmptyState` whatever the params.

    Examples:
        >>> import functional_opt as fo
        >>> fo.init_empty_state({"w": 1.0})
        EmptyState()
    """
    del params
    return EmptyState()


def _is_extra_args_type(t: Any) -> bool:
    """Whether ``t``'s type declares that its update takes extra arguments (ours, or optax's ``...ExtraArgs``)."""
    return any(c.__name__ == "GradientTransformationExtraArgs" for c in type(t).__mro__)


def accepted_extra_args(t: Any) -> frozenset[str] | None:
    """Which extra keyword arguments ``t.update`` takes: ``None`` for all, else the set of their names.

    Read from the signature of ``t.update``: a ``**kwargs`` parameter takes
    all; otherwise the keyword-passable parameters after ``(updates, state,
    params)``. An update without a readable signature is judged by its type,
    as optax does (``GradientTransformationExtraArgs`` takes all, others none).
    """
    try:
        parameters = list(inspect.signature(t.update).parameters.values())
    except (TypeError, ValueError):
        return None if _is_extra_args_type(t) else frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for i, p in enumerate(parameters) if i >= 3 and p.kind in keyword)


def with_extra_args_support(tx: Any) -> GradientTransformationExtraArgs:
    """``tx`` as a transformation whose ``update`` accepts (and drops) the extra arguments it does not take.

    A transformation of this library, an optax
    ``GradientTransformationExtraArgs`` or any update with ``**kwargs`` is
    returned as it is (as a :class:`GradientTransformation`). For another
    one, such as an optax transform without extra arguments, the returned
    update passes it only the keyword arguments its signature names (none,
    usually), so ``value=loss`` given to a whole chain reaches only the
    members that use it. Every combinator of this library calls its members
    through this.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> plain = fo.GradientTransformation(fo.init_empty_state, lambda u, s, p=None: (u, s))
        >>> t = fo.with_extra_args_support(plain)
        >>> t.update(jnp.ones(1), t.init(None), value=3.0)[0]
        Array([1.], dtype=float32)

    References:
        optax.with_extra_args_support.
    """
    check_transform(tx, "tx")
    names = accepted_extra_args(tx)
    if names is None:
        if type(tx) is GradientTransformationExtraArgs:
            return tx
        return tuple.__new__(GradientTransformationExtraArgs, (tx.init, tx.update))
    inner_update = tx.update

    def update(updates, state, params=None, **extra_args):
        return inner_update(updates, state, params, **{k: v for k, v in extra_args.items() if k in names})

    return GradientTransformationExtraArgs(tx.init, update)


def identity() -> GradientTransformation:
    """The transformation that returns the updates unchanged.

    Update rule: ``u <- u``. State: :class:`EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.identity().update(jnp.ones(2), fo.EmptyState())[0]
        Array([1., 1.], dtype=float32)
    """

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init_empty_state, update)


def stateless(f: Callable[[Updates, Params], Updates]) -> GradientTransformation:
    """Build a stateless transformation from ``f(updates, params) -> updates``.

    ``params`` is ``None`` when the caller does not pass them.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> halve = fo.stateless(lambda u, p: jax.tree.map(lambda x: x / 2, u))
        >>> halve.update(jnp.ones(2), halve.init(None))[0]
        Array([0.5, 0.5], dtype=float32)
    """
    if not callable(f):
        raise TypeError(f"f must be a callable (updates, params) -> updates, got {f!r}")

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return f(updates, params), state

    return GradientTransformation(init_empty_state, update)


def stateless_with_tree_map(f: Callable[[jax.Array, Any], jax.Array]) -> GradientTransformation:
    """Build a stateless transformation from ``f(update_leaf, param_leaf) -> update_leaf``, mapped over the tree.

    Update rule, leaf by leaf: ``u <- f(u, p)``; ``p`` is ``None`` when the
    caller does not pass params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.stateless_with_tree_map(lambda u, p: u + p)
        >>> t.update({"w": jnp.ones(2)}, t.init(None), {"w": jnp.full(2, 2.0)})[0]
        {'w': Array([3., 3.], dtype=float32)}

    References:
        optax.stateless_with_tree_map.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable (update, param) -> update, got {f!r}")

    def tree_f(updates, params):
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates)
        return jax.tree.map(f, updates, params)

    return stateless(tree_f)


def chain(*transforms: Any) -> GradientTransformation:
    """Compose transformations left to right: ``chain(a, b)`` applies ``a`` then ``b``.

    The state is a tuple with one entry per transformation. ``extra_args``
    (such as ``value=loss``) are passed to every member that accepts them
    (every one of this library's; an optax transform only if it is a
    ``GradientTransformationExtraArgs``, see :func:`with_extra_args_support`).
    optax transformations may be chained with ours.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.scale(2.0), fo.scale_by_learning_rate(0.1))
        >>> u, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        >>> u
        Array([-0.2, -0.2], dtype=float32)
    """
    for i, t in enumerate(transforms):
        check_transform(t, f"chain argument {i}")
    members = [with_extra_args_support(t) for t in transforms]
    inits = tuple(t.init for t in members)
    updates_fns = tuple(t.update for t in members)

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

    Examples:
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
