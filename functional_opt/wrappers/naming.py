"""Named chains and lookups of sub-states by name or by type."""

from __future__ import annotations

from typing import Any

import jax

from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


def named_chain(*named_transforms: tuple[str, GradientTransformation]) -> GradientTransformation:
    """Like :func:`~functional_opt.chain`, with a name for each member.

    ``named_chain(("clip", t1), ("adam", t2))`` applies ``t1`` then ``t2``;
    the state is a dict ``name -> state``, so a member's state is
    ``state["adam"]``, or found anywhere in a larger state with
    :func:`get_substate`.

    Args:
        named_transforms: ``(name, transformation)`` pairs with distinct
            string names.

    State: ``dict`` from name to the member's state.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.named_chain(("clip", fo.clip(1.0)), ("sgd", fo.sgd(0.1, momentum=0.9)))
        >>> s = opt.init(jnp.zeros(2))
        >>> u, s = opt.update(jnp.array([5.0, -0.5]), s)
        >>> u
        Array([-0.1 ,  0.05], dtype=float32)
        >>> sorted(s)
        ['clip', 'sgd']

    References:
        optax.named_chain.
    """
    names = []
    for i, pair in enumerate(named_transforms):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(f"named_chain argument {i} must be a (name: str, transformation) pair, got {pair!r}")
        check_transform(pair[1], f"named_chain member {pair[0]!r}")
        names.append(pair[0])
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain names must be distinct, got {names}")
    members = {name: with_extra_args_support(t) for name, t in named_transforms}

    def init(params):
        return {name: t.init(params) for name, t in members.items()}

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, dict) or set(state) != set(names):
            raise ValueError(f"named_chain expected a state dict with keys {names}, got {type(state).__name__}")
        new_state = {}
        for name, t in members.items():
            updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformation(init, update)


def _walk(tree: Any, is_target) -> list:
    """Every subtree of ``tree`` (outermost first, nested ones too) for which ``is_target`` holds."""
    found = []

    def visit(node):
        if is_target(node):
            found.append(node)
        children = jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)[0]
        if len(children) == 1 and children[0] is node:
            return  # a leaf
        for c in children:
            visit(c)

    visit(tree)
    return found


def find_states(state: Any, state_type: type) -> list:
    """All sub-states of ``state`` of type ``state_type``, outermost first.

    Works through every pytree container (tuples from ``chain``, dicts from
    :func:`named_chain` and :func:`~functional_opt.partition`, wrapper
    states).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> s = fo.chain(fo.clip(1.0), fo.adam(0.1)).init(jnp.zeros(2))
        >>> [x.count for x in fo.find_states(s, fo.ScaleByAdamState)]
        [Array(0, dtype=int32)]
    """
    if not isinstance(state_type, type):
        raise TypeError(f"state_type must be a class, got {state_type!r}")
    return _walk(state, lambda x: isinstance(x, state_type))


def get_substate(state: Any, name: str) -> Any:
    """The state of the member called ``name`` (a :func:`named_chain` or partition key).

    Searches ``state`` through every pytree container for a dict with key
    ``name`` and returns its value. Raises ``KeyError`` when there is no such
    member and ``ValueError`` when several members share the name.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.clip(1.0), fo.named_chain(("adam", fo.adam(0.1))))
        >>> fo.get_substate(opt.init(jnp.zeros(2)), "adam")[0].count
        Array(0, dtype=int32)
    """
    hits = _walk(state, lambda x: isinstance(x, dict) and name in x)
    if not hits:
        raise KeyError(f"no sub-state named {name!r}")
    if len(hits) > 1:
        raise ValueError(f"{len(hits)} sub-states are named {name!r}; look one up from a sub-state")
    return hits[0][name]
