"""Parameter groups: masks, partitions by label, labels from key-path regexes, freezing."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt.base import EmptyState, GradientTransformation, check_transform
from functional_opt.flat import check_not_flat


class MaskedNode(NamedTuple):
    """Stands for a leaf that a :func:`masked` transform does not see.

    An empty NamedTuple, hence an empty subtree: the inner transform keeps no
    state for it.
    """


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner state, over the masked-in leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """State of :func:`partition`: a dict ``label -> inner state`` (over that label's leaves)."""

    inner_states: Any


def _mask_tree(tree, m_leaves):
    treedef = jax.tree.structure(tree)
    leaves = treedef.flatten_up_to(tree)
    return treedef.unflatten([x if m else MaskedNode() for x, m in zip(leaves, m_leaves)])


def _masked(inner: GradientTransformation, mask_leaves: Callable[[Any], list]) -> GradientTransformation:
    """:func:`masked` with the mask given as ``tree -> list of bools, one per leaf``."""

    def init(params):
        check_not_flat(params, "masked/partition/freeze")
        return MaskedState(inner_state=inner.init(_mask_tree(params, mask_leaves(params))))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "masked/partition/freeze")
        m_leaves = mask_leaves(updates)
        treedef = jax.tree.structure(updates)
        inner_params = None if params is None else _mask_tree(params, m_leaves)
        new, inner_state = inner.update(_mask_tree(updates, m_leaves), state.inner_state, inner_params, **extra_args)
        out = [n if m else u for n, u, m in zip(treedef.flatten_up_to(new), treedef.flatten_up_to(updates), m_leaves)]
        return treedef.unflatten(out), MaskedState(inner_state=inner_state)

    return GradientTransformation(init, update)


def masked(inner: GradientTransformation, mask) -> GradientTransformation:
    """Apply ``inner`` to the leaves where ``mask`` is ``True`` only.

    **Leaves where the mask is ``False`` are passed through UNCHANGED**, not
    zeroed: ``masked(adam(lr), mask)`` leaves the raw *gradient* as the update
    of an unmasked leaf (as optax's ``masked``). To zero them use
    :func:`freeze`, or give every leaf a transformation with :func:`partition`.

    The inner transform sees trees in which the masked-out leaves are
    :class:`MaskedNode` (empty subtrees), so it keeps no state for them.

    Args:
        inner: the transformation for the masked-in leaves.
        mask: a tree of Python bools with the params' structure (or a prefix
            of it, e.g. ``{"encoder": False, "head": True}`` over nested
            dicts), or a function ``params -> such a tree``. The function is
            called on the params in ``init`` and on the updates in ``update``,
            so it may look at structure, key paths and shapes, not values.

    State: :class:`MaskedState` ``(inner_state,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.masked(fo.scale(0.0), {"w": True, "b": False})
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> t.update(p, t.init(p))[0]
        {'b': Array([1.], dtype=float32), 'w': Array([0.], dtype=float32)}

    References:
        optax.masked.
    """
    check_transform(inner, "inner")
    return _masked(inner, lambda tree: _tree.resolve_mask("masked", mask, tree))


def partition(transforms: Mapping[Hashable, GradientTransformation], labels) -> GradientTransformation:
    """Apply a different transformation to each group of leaves (optax's ``multi_transform``).

    Every leaf carries a label; the leaves labelled ``k`` are transformed by
    ``transforms[k]`` and by nothing else, whose state covers only them.

    Args:
        transforms: a dict ``label -> GradientTransformation``.
        labels: a tree of labels with the params' structure (or a prefix of
            it), or a function ``params -> such a tree`` (see
            :func:`labels_by_regex`). Every label must be a key of
            ``transforms``.

    State: :class:`PartitionState` ``(inner_states,)``, a dict by label of
    :class:`MaskedState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.partition({"fast": fo.sgd(1.0), "slow": fo.sgd(0.1)},
        ...                    {"w": "fast", "b": "slow"})
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> opt.update(p, opt.init(p))[0]
        {'b': Array([-0.1], dtype=float32), 'w': Array([-1.], dtype=float32)}

    References:
        optax.multi_transform.
    """
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(f"transforms must be a non-empty dict label -> GradientTransformation, got {transforms!r}")
    for k, t in transforms.items():
        check_transform(t, f"transforms[{k!r}]")
    return _partition(transforms, lambda tree: _tree.resolve_prefix("partition", "labels", labels, tree))


def _partition(
    transforms: Mapping[Hashable, GradientTransformation], labels_of: Callable[[Any], list]
) -> GradientTransformation:
    """:func:`partition` with the labels given as ``tree -> list of labels, one per leaf``."""
    names = list(transforms)

    def label_leaves(tree):
        leaves = labels_of(tree)
        unknown = {lab for lab in leaves if lab not in transforms}
        if unknown:
            raise ValueError(f"labels {sorted(map(repr, unknown))} have no transformation; known: {names}")
        return leaves

    def group(k):
        return _masked(transforms[k], lambda tree: [lab == k for lab in label_leaves(tree)])

    groups = {k: group(k) for k in names}

    def init(params):
        return PartitionState({k: groups[k].init(params) for k in names})

    def update(updates, state, params=None, **extra_args):
        new_states = {}
        for k in names:
            updates, new_states[k] = groups[k].update(updates, state.inner_states[k], params, **extra_args)
        return updates, PartitionState(new_states)

    return GradientTransformation(init, update)


def labels_by_regex(rules, default=None) -> Callable[[Any], Any]:
    """Label leaves by regular expressions over their key paths.

    Returns a function ``params -> tree of labels`` for :func:`partition`,
    :func:`masked`, :func:`freeze` or an ``add_decayed_weights`` mask. A
    leaf's key path is written with ``.`` between keys (``"encoder.0.bias"``
    for ``params["encoder"][0]["bias"]``, attribute names for dataclasses and
    NamedTuples); the first rule whose pattern *fully* matches the path gives
    the label, else ``default``. Labels may be any hashable value, bools
    included, so the same helper builds masks.

    Args:
        rules: a sequence of ``(pattern, label)`` pairs, or a dict
            ``pattern -> label``; tried in order.
        default: the label of leaves that no rule matches; ``None`` makes an
            unmatched leaf an error.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> p = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        ...      "layer_norm": {"scale": jnp.ones(2)}}
        >>> decay_mask = fo.labels_by_regex([(r".*bias|.*norm.*", False)], default=True)
        >>> decay_mask(p)
        {'dense': {'bias': False, 'kernel': True}, 'layer_norm': {'scale': False}}
        >>> opt = fo.adamw(1e-3, weight_decay=0.1, mask=decay_mask)

    flax NNX state trees end every path in the variable's value
    (``conv1.bias.value``); the pattern matches the path as a user writes
    it: one trailing ``value`` or ``raw_value`` key (dict key or attribute)
    is dropped before matching, so ``".*bias"`` matches ``conv1.bias.value``
    (a pattern written for the full path, ``".*bias\\.value"``, no longer
    matches; write ``".*bias"``).
    """
    pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    compiled = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(f"rules[{i}] must be a (pattern: str, label) pair, got {pair!r}")
        try:
            compiled.append((re.compile(pair[0]), pair[1]))
        except re.error as e:
            raise ValueError(f"rules[{i}]: invalid regular expression {pair[0]!r}: {e}") from e

    def label(path, _leaf):
        name = user_path(path)
        for pattern, lab in compiled:
            if pattern.fullmatch(name):
                return lab
        if default is None:
            raise ValueError(f"labels_by_regex: no rule matches the leaf {name!r} and no default is set")
        return default

    def labels(params):
        return jax.tree_util.tree_map_with_path(label, params)

    return labels


_VALUE_KEYS = ("value", "raw_value")


def _key_name(k: Any) -> Any:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return getattr(k, attr)
    return None


def user_path(path: tuple) -> str:
    """A leaf's key path as a user writes it, for :func:`labels_by_regex`: keys joined by ``.``.

    A trailing ``value`` or ``raw_value`` key (flax NNX's ``Variable``
    storage: ``conv1.bias.value``) is dropped when other keys precede it,
    so NNX state and plain parameter dicts match the same patterns.

    Example:
        >>> import jax
        >>> from functional_opt.wrappers.masking import user_path
        >>> [user_path(p) for p, _ in jax.tree_util.tree_flatten_with_path({"conv1": {"bias": {"value": 0}}})[0]]
        ['conv1.bias']
    """
    if len(path) > 1 and _key_name(path[-1]) in _VALUE_KEYS:
        path = path[:-1]
    return jax.tree_util.keystr(tuple(path), simple=True, separator=".")


def set_to_zero() -> GradientTransformation:
    """Replace every update by zeros (a stateless transformation).

    Update rule: ``u <- 0``.

    State: :class:`~functional_opt.EmptyState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.set_to_zero().update(jnp.ones(2), fo.EmptyState())[0]
        Array([0., 0.], dtype=float32)

    References:
        optax.set_to_zero.
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)


def freeze(mask, inner: GradientTransformation | None = None) -> GradientTransformation:
    """Freeze the leaves where ``mask`` is ``True``: their update is zero.

    ``freeze(mask)`` is ``masked(set_to_zero(), mask)``: frozen leaves get
    zero updates, the others pass through unchanged (so chain it *after*
    the optimizer, or see below). ``freeze(mask, inner)`` also runs
    ``inner`` on the trainable leaves only, so ``inner`` keeps **no state**
    for the frozen ones and memory is saved
    (``partition({"train": inner, "frozen": set_to_zero()}, ...)``; optax's
    ``selective_transform``).

    Args:
        mask: as in :func:`masked`; ``True`` marks a frozen leaf.
        inner: optional optimizer for the trainable leaves.

    State: :class:`MaskedState`, or :class:`PartitionState` with ``inner``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.freeze({"w": True, "b": False}, fo.adam(0.1))
        >>> p = {"w": jnp.ones(3), "b": jnp.ones(1)}
        >>> s = opt.init(p)
        >>> opt.update(p, s, p)[0]
        {'b': Array([-0.1], dtype=float32), 'w': Array([0., 0., 0.], dtype=float32)}
        >>> fo.find_states(s, fo.ScaleByAdamState)[0].mu  # no moment for "w"
        {'b': Array([0.], dtype=float32), 'w': MaskedNode()}

    References:
        optax.freeze, optax.selective_transform.
    """
    if inner is None:
        return masked(set_to_zero(), mask)
    check_transform(inner, "inner")

    def labels(tree):
        return ["frozen" if m else "train" for m in _tree.resolve_mask("freeze", mask, tree)]

    return _partition({"train": inner, "frozen": set_to_zero()}, labels)
