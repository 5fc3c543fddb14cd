"""Per-layer rules on stacked layers: run a transform on each slice of a ``[L, ...]`` leaf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from functional_opt import _tree
from functional_opt.base import GradientTransformation, with_extra_args_support


class PerLayerState(NamedTuple):
    """State of :func:`per_layer`.

    ``stacked`` is the inner state of the stacked leaves, with a leading
    layer axis on every array (the inner state of each layer, stacked; a
    tuple of one such state per layer count when the stacked leaves have
    several);
    ``rest`` is the inner state of the other leaves.
    """

    stacked: Any
    rest: Any


def _split(tree: Any, flags: list) -> tuple:
    """Two trees of ``tree``'s structure: stacked leaves (others ``None``), and the rest."""
    treedef = jax.tree.structure(tree)
    leaves = treedef.flatten_up_to(tree)
    stacked = treedef.unflatten([x if f else None for x, f in zip(leaves, flags)])
    rest = treedef.unflatten([None if f else x for x, f in zip(leaves, flags)])
    return stacked, rest


def _merge(stacked: Any, rest: Any, flags: list, treedef: Any) -> Any:
    """Inverse of :func:`_split`: each leaf from the part it was sent to."""
    s_leaves = treedef.flatten_up_to(stacked)
    r_leaves = treedef.flatten_up_to(rest)
    return treedef.unflatten([s if f else r for s, r, f in zip(s_leaves, r_leaves, flags)])


def _explicit_layer_spec(x: Any) -> Any:
    """``(mesh, spec)`` when ``x``'s type splits its leading (layer) axis over explicit mesh axes, else None."""
    typeof = getattr(jax, "typeof", None)
    explicit = getattr(getattr(jax.sharding, "AxisType", None), "Explicit", None)
    if typeof is None or explicit is None or not hasattr(x, "shape") or len(x.shape) == 0:
        return None
    sharding = getattr(typeof(x), "sharding", None)
    mesh, spec = getattr(sharding, "mesh", None), tuple(getattr(sharding, "spec", ()) or ())
    if mesh is None or explicit not in tuple(getattr(mesh, "axis_types", ())) or not spec or spec[0] is None:
        return None
    if not isinstance(x, jax.core.Tracer):  # a concrete array: its concrete mesh (device_put needs one)
        mesh = x.sharding.mesh
    return mesh, spec


def _whole_layer_axis(tree: Any) -> Any:
    """Leaves whose layer axis is split over explicit mesh axes, resharded with that axis whole.

    ``jax.vmap`` on an explicit-sharding mesh needs every mapped axis split
    alike, and the inner state's per-layer counts are never split; so the
    vmapped rule sees the layer axis whole (the other axes keep their split).
    """

    def one(x):
        found = _explicit_layer_spec(x)
        if found is None:
            return x
        mesh, spec = found
        target = NamedSharding(mesh, P(None, *spec[1:]))
        return jax.sharding.reshard(x, target) if isinstance(x, jax.core.Tracer) else jax.device_put(x, target)

    return jax.tree.map(one, tree)


def _like(tree: Any, reference: Any) -> Any:
    """``tree``'s leaves resharded to their ``reference`` leaf's explicit layer-axis split (undoes the above)."""

    def one(x, ref):
        found = _explicit_layer_spec(ref)
        if found is None or x is None:
            return x
        target = NamedSharding(found[0], P(*found[1]))
        return jax.sharding.reshard(x, target) if isinstance(x, jax.core.Tracer) else jax.device_put(x, target)

    return jax.tree.map(one, tree, reference)


def per_layer(inner: GradientTransformation, stacked: Any | Callable[[Any], Any]) -> GradientTransformation:
    """Apply ``inner`` to each layer of stacked ``[L, ...]`` leaves, as if they were separate.

    Models that store ``L`` same-shaped layers as one leaf of shape
    ``[L, ...]`` and run them with ``jax.lax.scan`` compile in seconds
    whatever ``L`` (see the README's performance section). Elementwise
    optimizers (SGD, Adam, ...) give the same numbers on such a leaf as on
    ``L`` separate leaves, but per-leaf rules do not: a trust ratio (LARS,
    LAMB), factored second moments (Adafactor), Newton-Schulz
    orthogonalization (Muon), Kronecker factors (Shampoo) or per-leaf clipping
    would treat the whole stack as one layer. ``per_layer`` runs ``inner`` under
    ``jax.vmap`` over the leading axis of the leaves marked in ``stacked``,
    so each layer gets exactly the update it would get as a separate leaf;
    unmarked leaves go through ``inner`` unchanged.

    Update rule, for a marked leaf ``w`` of shape ``[L, ...]`` and its update
    ``g``::

        u[l], state[l] = inner.update(g[l], state[l], w[l])     for l = 0 .. L-1

    computed as one vmapped update (one XLA program, not ``L`` slices).

    Conventions: wrap only per-leaf rules. A transform that couples leaves
    (``clip_by_global_norm``) would see one layer at a time inside
    ``per_layer``; keep it outside. Extra arguments (``value=loss``) reach
    both parts unchanged. A count in the inner state gets a leading layer
    axis in ``PerLayerState.stacked`` (all layers count alike). Stacked
    leaves with different layer counts (an encoder of 6 layers, a decoder
    of 4) are vmapped in one group per count; ``PerLayerState.stacked`` is
    then a tuple of the groups' states, in the order the counts first appear
    among the leaves. On an
    explicit-sharding mesh, a stacked leaf whose layer axis is split is
    handed to ``inner`` with that axis whole (``vmap`` needs all mapped axes
    split alike); its update comes back split like the update it replaces,
    and its inner state keeps the layer axis whole.

    Args:
        inner: the transformation to apply per layer (e.g. ``fo.lamb(1e-3)``).
        stacked: a tree of Python bools with the params' structure (``True``
            for leaves whose leading axis stacks layers), or a function
            ``params -> tree of bools``.

    State: :class:`PerLayerState` ``(stacked, rest)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> params = {"layers": jnp.ones((4, 3, 3)), "head": jnp.ones(3)}
        >>> opt = fo.per_layer(fo.lamb(1e-2), stacked={"layers": True, "head": False})
        >>> state = opt.init(params)
        >>> grads = {"layers": jnp.full((4, 3, 3), 0.5), "head": jnp.ones(3)}
        >>> updates, state = opt.update(grads, state, params)
        >>> updates["layers"].shape
        (4, 3, 3)

    References:
        The layer-wise rules this serves: You et al. (LARS, LAMB), Shazeer &
        Stern (Adafactor), Jordan et al. (Muon), Gupta et al. (Shampoo).
    """
    if not (hasattr(inner, "init") and hasattr(inner, "update")):
        raise TypeError(f"inner must be a GradientTransformation, got {inner!r}")
    inner = with_extra_args_support(inner)  # extra args reach only an inner that takes them
    if stacked is None:
        raise TypeError("stacked must be a tree of bools or a function of the params, got None")

    def flags_of(params):
        flags = _tree.resolve_mask("per_layer", stacked, params, name="stacked")
        for x, f in zip(jax.tree.leaves(params), flags):
            if f and len(jax.numpy.shape(x)) < 1:
                raise ValueError("per_layer: a leaf marked as stacked must have a leading layer axis")
        return flags

    def groups_of(params, flags):
        """The stacked flags split by layer count: one flag list per distinct leading size, in leaf order."""
        sizes = [jax.numpy.shape(x)[0] if f else None for x, f in zip(jax.tree.leaves(params), flags)]
        counts = list(dict.fromkeys(n for n, f in zip(sizes, flags) if f))
        return [[f and n == count for n, f in zip(sizes, flags)] for count in counts]

    def init(params):
        flags = flags_of(params)
        p_rest = _split(params, flags)[1]
        states = [jax.vmap(inner.init)(_whole_layer_axis(_split(params, g)[0])) for g in groups_of(params, flags)]
        s_stacked = None if not states else states[0] if len(states) == 1 else tuple(states)
        return PerLayerState(stacked=s_stacked, rest=inner.init(p_rest))

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                "per_layer needs params (to know which leaves are stacked): call update(updates, state, params)"
            )
        flags = flags_of(params)
        _tree.check_same_shapes("per_layer", "updates", updates, "params", params)
        treedef = jax.tree.structure(updates)
        u_stacked, u_rest = _split(updates, flags)
        p_rest = _split(params, flags)[1]
        groups = groups_of(params, flags)
        old_states = [state.stacked] if len(groups) == 1 else list(state.stacked or ())
        if len(old_states) != len(groups):
            raise ValueError(
                f"per_layer: the state holds {len(old_states)} group(s) of stacked layers, the params "
                f"{len(groups)} (one group per distinct layer count)"
            )
        step = lambda u, s, p: inner.update(u, s, p, **extra_args)  # noqa: E731
        new_states = []
        for g, s_g in zip(groups, old_states):
            u_g, p_g = _split(updates, g)[0], _split(params, g)[0]
            u_whole, s_g = jax.vmap(step)(_whole_layer_axis(u_g), s_g, _whole_layer_axis(p_g))
            u_stacked = _merge(_like(u_whole, u_g), u_stacked, g, treedef)
            new_states.append(s_g)
        s_stacked = state.stacked if not groups else new_states[0] if len(groups) == 1 else tuple(new_states)
        u_rest, s_rest = inner.update(u_rest, state.rest, p_rest, **extra_args)
        new = _merge(u_stacked, u_rest, flags, treedef)
        return new, PerLayerState(stacked=s_stacked, rest=s_rest)

    return GradientTransformation(init, update)
