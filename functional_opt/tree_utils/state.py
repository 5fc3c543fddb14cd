"""Find, replace and map the fields of optimizer states (``optax.tree_utils``' state utilities).

An optimizer state is a pytree of NamedTuples (``ScaleByAdamState(count, mu,
nu)``), dicts (``InjectHyperparamsState.hyperparams``) and tuples (a
``chain``'s states). These functions search such a tree by *name*: a dict
key, a NamedTuple field, or the NamedTuple's class name. Paths to what they
find are tuples of JAX key entries in which a NamedTuple field is a
:class:`NamedTupleKey` (``ScaleByAdamState.count``), so that two fields of
one name in different states can be told apart by a ``filtering`` function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for the field ``name`` of a NamedTuple of class ``tuple_name``.

    Appears in the paths returned by :func:`tree_get_all_with_path` (and
    passed to ``filtering`` functions) where JAX would put a
    ``GetAttrKey``; ``jax.tree_util.keystr`` shows it as
    ``tuple_name.name``.

    Examples:
      >>> import functional_opt as fo
      >>> str(fo.tree_utils.NamedTupleKey("ScaleByAdamState", "count"))
      'ScaleByAdamState.count'

    Same as ``optax.tree_utils.NamedTupleKey``.
    """

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


KeyPath = tuple[Any, ...]


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _children(path: KeyPath, node: Any) -> list[tuple[KeyPath, Any]]:
    """``[(path to child, child)]`` one level down; ``[]`` for a leaf or an empty node."""
    if _is_named_tuple(node):
        name = type(node).__name__
        return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
    kids = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    if len(kids) == 1 and kids[0][0] == ():
        return []
    return [((*path, *k), c) for k, c in kids]


def _has_name(node: Any, names: Any) -> bool:
    """Whether ``node`` is a NamedTuple with one of ``names`` as a field or class name, or a dict with such a key."""
    if _is_named_tuple(node):
        return type(node).__name__ in names or any(n in node._fields for n in names)
    return isinstance(node, dict) and any(n in node for n in names)


def _outermost(path: KeyPath, node: Any, names: Any) -> list[tuple[KeyPath, Any]]:
    """The outermost nodes carrying one of ``names``, in JAX's leaf order."""
    if _has_name(node, names):
        return [(path, node)]
    return [found for cp, c in _children(path, node) for found in _outermost(cp, c, names)]


def _all_with_path(path: KeyPath, tree: Any, key: Any) -> list[tuple[KeyPath, Any]]:
    hits = _outermost(path, tree, (key,))
    found = []
    for p, node in hits:  # first the values at the outermost matches ...
        if _is_named_tuple(node) and type(node).__name__ == key:
            found.append((p, node))
        elif _is_named_tuple(node):
            found.append(((*p, NamedTupleKey(type(node).__name__, key)), getattr(node, key)))
        else:
            found.append(((*p, jax.tree_util.DictKey(key)), node[key]))
    for p, node in hits:  # ... then the matches nested inside them
        for cp, c in _children(p, node):
            found.extend(_all_with_path(cp, c, key))
    return found


def tree_get_all_with_path(
    tree: Any, key: Any, filtering: Callable[[KeyPath, Any], bool] | None = None
) -> list[tuple[KeyPath, Any]]:
    r"""Every value stored under ``key`` in ``tree``, with its path: ``[(path, value), ...]``.

    ``key`` matches a dict key, a NamedTuple field name, or a NamedTuple's
    class name (the value is then the NamedTuple itself). Matches nested
    inside a match are found too. ``filtering(path, value) -> bool``, when
    given, keeps only the pairs it accepts; NamedTuple fields appear in
    paths as :class:`NamedTupleKey` (``jax.tree_util.keystr(path)`` prints
    them readably).

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> state = fo.chain(fo.add_noise(1.0, 0.9, key=0), fo.scale_by_adam()).init(jnp.zeros(2))
      >>> [jax.tree_util.keystr(p) for p, _ in fo.tree_utils.tree_get_all_with_path(state, "count")]
      ['[0]AddNoiseState.count', '[1]ScaleByAdamState.count']

    Same as ``optax.tree_utils.tree_get_all_with_path``, on this library's
    states (``inject_hyperparams``' ``hyperparams`` dict, ``monitor``'s
    metrics, the wrappers' ``inner_state``).
    """
    found = _all_with_path((), tree, key)
    if filtering is not None:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(tree: Any, key: Any, default: Any = None, filtering: Callable[[KeyPath, Any], bool] | None = None) -> Any:
    """The one value stored under ``key`` in ``tree`` (see :func:`tree_get_all_with_path`), else ``default``.

    Raises ``KeyError`` when several values match (e.g. ``"count"`` in a
    chain of two counting transforms): name the state instead
    (``tree_get(state, "ScaleByAdamState").count``) or pass a
    ``filtering(path, value)`` function.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> state = fo.inject_hyperparams(fo.sgd)(learning_rate=0.1).init(jnp.zeros(2))
      >>> print(fo.tree_utils.tree_get(state, "learning_rate"))
      0.1

    Same as ``optax.tree_utils.tree_get``.
    """
    found = tree_get_all_with_path(tree, key, filtering=filtering)
    if len(found) > 1:
        paths = [jax.tree_util.keystr(p) for p, _ in found]
        raise KeyError(f"Found multiple values for '{key}' in the tree, at {paths}; pass filtering= to choose one")
    return found[0][1] if found else default


def tree_set(tree: Any, filtering: Callable[[KeyPath, Any], bool] | None = None, /, **kwargs: Any) -> Any:
    r"""A copy of ``tree`` with the values stored under each keyword's name replaced by the keyword's value.

    Names match as in :func:`tree_get_all_with_path` (dict keys, NamedTuple
    fields, NamedTuple class names); every match is replaced (filtered by
    ``filtering(path, value)`` when given). Raises ``KeyError`` when a name
    matches nothing.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> opt = fo.inject_hyperparams(fo.sgd)(learning_rate=0.1)
      >>> state = fo.tree_utils.tree_set(opt.init(jnp.zeros(2)), learning_rate=jnp.asarray(0.5))
      >>> print(fo.tree_utils.tree_get(state, "learning_rate"))
      0.5

    Same as ``optax.tree_utils.tree_set``.
    """
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            how = " given the filtering function" if filtering is not None else ""
            raise KeyError(f"Found no values matching '{key}'{how} in the tree")

    def accepts(path, value):
        return filtering is None or filtering(path, value)

    def replace(path: KeyPath, node: Any) -> Any:
        if _is_named_tuple(node):
            name = type(node).__name__
            if name in kwargs and accepts(path, node):
                return kwargs[name]
            new = {}
            for cp, c in _children(path, node):
                field = cp[-1].name
                new[field] = kwargs[field] if field in kwargs and accepts(cp, c) else replace(cp, c)
            return node._replace(**new)
        if isinstance(node, dict):
            out = {}
            for k, c in node.items():
                cp = (*path, jax.tree_util.DictKey(k))
                out[k] = kwargs[k] if k in kwargs and accepts(cp, c) else replace(cp, c)
            return out if type(node) is dict else type(node)(out)
        kids, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
        if len(kids) == 1 and kids[0][0] == ():
            return node
        return treedef.unflatten([replace((*path, *k), c) for k, c in kids])

    return replace((), tree)


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
    """A leafless stand-in for the params: ``init`` copies it wherever the state holds a params-shaped tree."""

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux, children
        return cls()


def tree_map_params(
    initable: Any,
    f: Callable[..., Any],
    state: Any,
    /,
    *rest: Any,
    transform_non_params: Callable[..., Any] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Apply ``f`` to every params-shaped tree inside an optimizer state (moments such as ``mu``, ``nu``).

    ``initable`` is the optimizer (or its ``init`` function): it is
    initialised on a leafless placeholder to learn which subtrees of
    ``state`` are copies of the params; each of those becomes
    ``jax.tree.map(f, subtree, *rest, is_leaf=is_leaf)`` (``rest``: trees
    with the params' structure, e.g. partition specs), and every other leaf
    becomes ``transform_non_params(leaf)`` (unchanged when ``None``). The
    typical use: sharding specs for the state from the params' specs.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> opt = fo.adam(1e-3)
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> out = fo.tree_utils.tree_map_params(opt, lambda p: p.shape, state, transform_non_params=lambda _: None)
      >>> out[0].mu, out[0].count
      ({'w': (2,)}, None)

    Same as ``optax.tree_utils.tree_map_params``.
    """
    init = initable.init if hasattr(initable, "init") else initable
    skeleton = init(_ParamsPlaceholder())

    def on(marker, value):
        if isinstance(marker, _ParamsPlaceholder):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        return value if transform_non_params is None else transform_non_params(value)

    return jax.tree.map(on, skeleton, state, is_leaf=lambda v: isinstance(v, _ParamsPlaceholder))
