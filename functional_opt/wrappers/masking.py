"""Parameter groups: masks, partitions by label, labels from key-path regexes, freezing."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt import _tree
from functional_opt.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    check_transform,
    stateless,
    with_extra_args_support,
)
from functional_opt.flat import check_not_flat


class MaskedNode(NamedTuple):
    """Stands for a masked-out leaf or subtree in the trees a :func:`masked` transform sees.

    An empty NamedTuple, hence an empty subtree: the inner transform keeps no
    state for it. It replaces the whole subtree at the position of a
    ``False`` in the mask (a prefix mask ``{"encoder": False, ...}`` leaves
    one ``MaskedNode`` at ``"encoder"``), as in optax.
    """


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner state, over the masked-in leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """State of :func:`partition`: a dict ``label -> inner state`` (over that label's leaves)."""

    inner_states: Any


MultiTransformState = PartitionState


def is_mask_function(mask: Any) -> bool:
    """Whether a mask or labels argument is a function of the params rather than a tree.

    optax's rule: a function when it is callable and is not a pytree of
    other values. An equinox ``Module`` is callable but is a pytree, so a
    module of bools is a mask tree, not a function.
    """
    flags = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(flags) and all(flags)


def _spec_of(spec: Any, tree: Any) -> Any:
    """The mask or labels tree for ``tree``: ``spec(tree)`` for a function, ``spec`` itself for a tree."""
    return spec(tree) if is_mask_function(spec) else spec


def _split(where: str, name: str, spec: Any, tree: Any) -> tuple[Any, list, list]:
    """``(treedef, values, subtrees)`` of a prefix tree ``spec`` over ``tree`` (already resolved from a function).

    One value per leaf of ``spec``, with the subtree of ``tree`` it stands
    for. Structure errors name ``where`` and ``name`` (via the library's
    mask and labels reader).
    """
    _tree.resolve_prefix(where, name, lambda _t: spec, tree)  # validates the prefix structure, with its message
    values, spec_def = jax.tree.flatten(spec)
    return spec_def, values, spec_def.flatten_up_to(tree)


def _check_flags(where: str, flags: list) -> list[bool]:
    for m in flags:
        if not (isinstance(m, (bool, np.bool_)) or (isinstance(m, np.ndarray) and m.shape == () and m.dtype == bool)):
            raise TypeError(f"{where}: mask leaves must be Python bools (a mask is structural, not traced), got {m!r}")
    return [bool(m) for m in flags]


def _masked(
    inner: GradientTransformation, mask_of: Callable[[Any], Any], where: str, mask_compatible_extra_args: bool
) -> GradientTransformation:
    """:func:`masked` with the mask given as ``tree -> mask tree`` (a prefix of ``tree``, bools)."""
    inner = with_extra_args_support(inner)

    def split(tree):
        spec_def, flags, subtrees = _split(where, "mask", mask_of(tree), tree)
        return spec_def, _check_flags(where, flags)

    def hide(spec_def, flags, tree):
        return spec_def.unflatten([s if m else MaskedNode() for s, m in zip(spec_def.flatten_up_to(tree), flags)])

    def init(params):
        check_not_flat(params, "masked/partition/freeze")
        if not jax.tree.leaves(params):  # nothing to mask; also the leafless placeholder of tree_map_params
            return MaskedState(inner_state=inner.init(params))
        spec_def, flags = split(params)
        return MaskedState(inner_state=inner.init(hide(spec_def, flags, params)))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "masked/partition/freeze")
        spec_def, flags = split(updates)
        if mask_compatible_extra_args:
            structure = jax.tree.structure(updates)
            extra_args = {
                k: hide(spec_def, flags, v) if jax.tree.structure(v) == structure else v for k, v in extra_args.items()
            }
        inner_params = None if params is None else hide(spec_def, flags, params)
        new, inner_state = inner.update(hide(spec_def, flags, updates), state.inner_state, inner_params, **extra_args)
        out = [n if m else u for n, u, m in zip(spec_def.flatten_up_to(new), spec_def.flatten_up_to(updates), flags)]
        return spec_def.unflatten(out), MaskedState(inner_state=inner_state)

    return GradientTransformationExtraArgs(init, update)


def masked(
    inner: GradientTransformation, mask: Any, *, mask_compatible_extra_args: bool = False
) -> GradientTransformation:
    """Apply ``inner`` to the leaves where ``mask`` is ``True`` only.

    **Leaves where the mask is ``False`` are passed through UNCHANGED**, not
    zeroed: ``masked(adam(lr), mask)`` leaves the raw *gradient* as the update
    of an unmasked leaf (as optax's ``masked``). To zero them use
    :func:`freeze`, or give every leaf a transformation with :func:`partition`.

    The inner transform sees trees in which each masked-out subtree is one
    :class:`MaskedNode` (an empty subtree, at the position of the ``False``
    in the mask, as in optax), so it keeps no state for them.

    Args:
        inner: the transformation for the masked-in leaves.
        mask: a tree of Python bools with the params' structure (or a prefix
            of it, e.g. ``{"encoder": False, "head": True}`` over nested
            dicts), or a function ``params -> such a tree``. The function is
            called on the params in ``init`` and on the updates in ``update``,
            so it may look at structure, key paths and shapes, not values. A
            callable that is also a pytree (an equinox ``Module`` of bools) is
            a tree, as in optax (see :func:`is_mask_function`).
        mask_compatible_extra_args: also mask every extra argument with the
            updates' tree structure (e.g. per-parameter tags), so ``inner``
            sees it aligned with its masked updates.

    State: :class:`MaskedState` ``(inner_state,)``.

    Examples:
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
    if mask is None:
        return _masked(inner, lambda tree: True, "masked", mask_compatible_extra_args)
    return _masked(inner, lambda tree: _spec_of(mask, tree), "masked", mask_compatible_extra_args)


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Any = None,
    *,
    mask_compatible_extra_args: bool = False,
    labels: Any = None,
) -> GradientTransformation:
    """Apply a different transformation to each group of leaves (optax's ``partition``, ``multi_transform``).

    Every leaf carries a label; the leaves labelled ``k`` are transformed by
    ``transforms[k]`` and by nothing else, whose state covers only them.

    Args:
        transforms: a dict ``label -> GradientTransformation``.
        param_labels: a tree of labels with the params' structure (or a
            prefix of it), or a function ``params -> such a tree`` (see
            :func:`labels_by_regex`). Every label must be a key of
            ``transforms``. (``labels=`` is accepted as another name.)
        mask_compatible_extra_args: as in :func:`masked`, for each group.
        labels: the former name of ``param_labels``.

    State: :class:`PartitionState` ``(inner_states,)``, a dict by label of
    :class:`MaskedState` (``MultiTransformState`` is another name of the
    type, as in optax).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.partition({"fast": fo.sgd(1.0), "slow": fo.sgd(0.1)},
        ...                    {"w": "fast", "b": "slow"})
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> opt.update(p, opt.init(p))[0]
        {'b': Array([-0.1], dtype=float32), 'w': Array([-1.], dtype=float32)}

    References:
        optax.partition.
    """
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(f"transforms must be a non-empty dict label -> GradientTransformation, got {transforms!r}")
    for k, t in transforms.items():
        check_transform(t, f"transforms[{k!r}]")
    if (param_labels is None) == (labels is None):
        raise TypeError("partition needs exactly one of param_labels (optax's name) and labels")
    spec = param_labels if labels is None else labels
    return _partition(transforms, lambda tree: _spec_of(spec, tree), "partition", mask_compatible_extra_args)


def multi_transform(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Any,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """:func:`partition` under its former optax name (optax keeps ``multi_transform`` as an alias).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.multi_transform({"a": fo.sgd(1.0), "b": fo.set_to_zero()}, {"w": "a", "b": "b"})
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> opt.update(p, opt.init(p))[0]
        {'b': Array([0.], dtype=float32), 'w': Array([-1.], dtype=float32)}

    References:
        optax.multi_transform.
    """
    return partition(transforms, param_labels, mask_compatible_extra_args=mask_compatible_extra_args)


def _partition(
    transforms: Mapping[Hashable, GradientTransformation],
    labels_of: Callable[[Any], Any],
    where: str,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """:func:`partition` with the labels given as ``tree -> labels tree`` (a prefix of ``tree``)."""
    names = list(transforms)

    def labels_tree(tree):
        spec = labels_of(tree)
        _, values, _ = _split(where, "param_labels", spec, tree)
        unknown = {lab for lab in values if lab not in transforms}
        if unknown:
            raise ValueError(f"labels {sorted(map(repr, unknown))} have no transformation; known: {names}")
        return spec

    def group(k):
        return _masked(
            transforms[k],
            lambda tree: jax.tree.map(lambda lab: lab == k, labels_tree(tree)),
            where,
            mask_compatible_extra_args,
        )

    groups = {k: group(k) for k in names}

    def init(params):
        return PartitionState({k: groups[k].init(params) for k in names})

    def update(updates, state, params=None, **extra_args):
        new_states = {}
        for k in names:
            updates, new_states[k] = groups[k].update(updates, state.inner_states[k], params, **extra_args)
        return updates, PartitionState(new_states)

    return GradientTransformationExtraArgs(init, update)


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

    Examples:
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

    Examples:
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

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.set_to_zero().update(jnp.ones(2), fo.EmptyState())[0]
        Array([0., 0.], dtype=float32)

    References:
        optax.set_to_zero.
    """
    return stateless(lambda updates, params: jax.tree.map(jnp.zeros_like, updates))


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

    Examples:
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
        spec = _spec_of(mask, tree)
        _check_flags("freeze", _split("freeze", "mask", spec, tree)[1])
        return jax.tree.map(lambda m: "frozen" if m else "train", spec)

    return _partition({"train": inner, "frozen": set_to_zero()}, labels, "freeze")
