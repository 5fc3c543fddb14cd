"""Flat-bucket mode: keep the parameters in a few persistent flat buffers.

On XLA:CPU every leaf costs a loop per output and many HLO ops to compile,
so an optimizer over a tree of thousands of small leaves is slow to run and
slower to compile (see ``benchmarks/README.md``). In flat mode the leaves are
grouped by ``(dtype, sharding)`` and packed, once, into 1-D buffers of at most
``bucket_leaves`` leaves (8 by default; ``None``: one buffer per group), each
padded with zeros to a multiple of 128 elements. :class:`FlatParams`
holds those buffers and is a pytree whose leaves *are* the buffers, so any
elementwise optimizer runs on a handful of arrays, unchanged::

    flat = fo.flat.flatten_params(params)          # once, at set-up
    opt = fo.adam(1e-3); state = opt.init(flat)    # moments are flat too

    def loss(tree, batch): ...                     # the model sees the tree
    step = fo.make_train_step(loss, opt)           # unflattens inside the loss
    flat, state, value = step(flat, state, batch)
    params = flat.unflatten()                      # the tree, when needed

:meth:`FlatParams.unflatten` returns views (slices) of the buffers and has a
custom gradient that packs the leaves' cotangents into flat buffers (one small
concatenate per bucket of at most 8 leaves), so ``jax.grad`` of a loss of
``flat.unflatten()`` returns gradients that are already flat. The whole tree
is never concatenated: parameters and optimizer state stay flat across steps.
Padding stays exactly zero under every elementwise rule whose update of a
zero gradient and zero state is zero (all the built-ins; global norms are
unchanged by zeros).

Per-leaf semantics: a transform that needs one leaf at a time (trust ratios,
factored second moments, per-leaf or block clipping, per-leaf masks) must not
see the buckets. Wrap it in :func:`per_leaf`, which hands it the per-leaf
views and packs its result back, or have it call :func:`check_not_flat`,
which refuses flat input with a clear error.

When to use it: trees of hundreds to thousands of leaves (compile and step
time of the optimizer fall to those of a few arrays). For a few large leaves
it changes little, except for odd sizes, which the padding helps. Buckets of
8 leaves keep the compile time of a model that slices them low (one buffer
sliced into thousands of leaves compiles superlinearly on XLA:CPU); for the
optimizer alone, one buffer (``bucket_leaves=None``) is fastest. Same-shaped
layers can instead be stacked ``[L, ...]`` and run with ``lax.scan`` (see the README's performance section).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt.base import GradientTransformation, with_extra_args_support

ALIGN = 128
# At most this many leaves share a buffer by default. XLA:CPU's compile time grows
# faster than linearly in the number of slices of one buffer (a 400-leaf model: one
# bucket 57 s, buckets of 8 leaves 6.8 s, 4 leaves 4.5 s; benchmarks/README.md).
BUCKET_LEAVES = 8


__all__ = ["FlatParams", "flatten_params", "unflatten_params", "per_leaf", "is_flat"]


@dataclasses.dataclass(frozen=True)
class _Slot:
    bucket: int
    offset: int
    shape: tuple
    size: int


@dataclasses.dataclass(frozen=True)
class Layout:
    """Static description of a flat layout: where each leaf lives.

    ``treedef`` is the structure of the original tree; ``slots[i]`` gives
    leaf ``i``'s bucket, offset, shape and size; ``buckets[b]`` is
    ``(dtype, sharding, padded_size)``. Hashable, so it is pytree aux data.
    """

    treedef: Any
    slots: tuple
    buckets: tuple

    @staticmethod
    def of(tree: Any, align: int = ALIGN, bucket_leaves: int | None = None) -> Layout:
        """Group the leaves of ``tree`` by ``(dtype, sharding)`` and assign offsets.

        A group is split into buckets of at most ``bucket_leaves`` leaves.
        """
        leaves, treedef = jax.tree.flatten(tree)
        keys: list[tuple[Any, Any]] = []  # (dtype, sharding key) of each bucket
        sizes: list[int] = []
        counts: list[int] = []
        slots: list[_Slot] = []
        current: dict[tuple[Any, Any], int] = {}  # group -> index of its open bucket
        for i, x in enumerate(leaves):
            dt = jnp.dtype(jnp.result_type(x))
            if not jnp.issubdtype(dt, jnp.inexact):
                raise TypeError(f"flat mode needs floating leaves; leaf {i} has dtype {dt}")
            group = (dt, _sharding_key(x))
            b = current.get(group)
            if b is None or (bucket_leaves is not None and counts[b] >= bucket_leaves):
                b = current[group] = len(keys)
                keys.append(group)
                sizes.append(0)
                counts.append(0)
            size = int(np.prod(jnp.shape(x), dtype=np.int64))
            slots.append(_Slot(b, sizes[b], tuple(jnp.shape(x)), size))
            sizes[b] += size
            counts[b] += 1
        buckets = []
        for (dt, sh), n in zip(keys, sizes):
            unit = align * (_num_devices(sh) if sh is not None else 1)
            buckets.append((dt, sh, max(unit, -(-n // unit) * unit)))
        return Layout(treedef, tuple(slots), tuple(buckets))

    def pack(self, tree: Any) -> tuple:
        """Write a tree with this layout's structure into fresh flat buffers.

        One concatenate per bucket (at most ``bucket_leaves`` leaves and the
        zero padding). Measured on a 1,000-layer MLP's gradient, this compiled
        in 15 s where a chain of in-place ``dynamic_update_slice`` took 17-19 s,
        and ran as fast or faster. Works under ``jit``.
        """
        leaves = self.treedef.flatten_up_to(tree)
        parts: list[list[jax.Array]] = [[] for _ in self.buckets]
        for x, s in zip(leaves, self.slots):
            parts[s.bucket].append(jnp.ravel(jnp.asarray(x)).astype(self.buckets[s.bucket][0]))
        bufs = []
        for ps, (dt, _, n) in zip(parts, self.buckets):
            used = sum(int(p.shape[0]) for p in ps)
            bufs.append(jnp.concatenate(ps + [jnp.zeros((n - used,), dt)]))
        # Materialise the packed buffers: left free, XLA:CPU fuses the packing into the
        # consumers (the optimizer's elementwise loops) and the step ran 10-20x slower
        # (measured; see benchmarks/README.md).
        return tuple(jax.lax.optimization_barrier(bufs))

    def views(self, buffers: tuple) -> Any:
        """The tree of leaves, each a reshaped slice of its bucket (no custom gradient)."""
        leaves = [
            jax.lax.slice(buffers[s.bucket], (s.offset,), (s.offset + s.size,)).reshape(s.shape) for s in self.slots
        ]
        return self.treedef.unflatten(leaves)


def _sharding_key(x: Any) -> Any:
    """The leaf's sharding when it is spread over several devices, else ``None``.

    Refuses a leaf split over explicit-sharding mesh axes (``jax.make_mesh``'s
    default in recent jax): packing it would reshape a split dimension away,
    which explicit sharding forbids without an output sharding per leaf.
    """
    try:
        sh = x.sharding  # tracers and ShapeDtypeStructs may have none
    except Exception:  # noqa: BLE001
        return None
    if sh is None or len(getattr(sh, "device_set", ())) <= 1:
        return None
    if not sh.is_fully_replicated and _explicit_axes(sh):
        raise ValueError(
            f"flat mode cannot pack a leaf split over explicit-sharding mesh axes {_explicit_axes(sh)} "
            f"(sharding {sh}): use a mesh with automatic axes, e.g. jax.make_mesh(shape, names, "
            "axis_types=(jax.sharding.AxisType.Auto,) * len(names)), or the tree of parameters"
        )
    return sh


def _explicit_axes(sharding: Any) -> tuple:
    """The explicit-sharding mesh axes a ``NamedSharding``'s spec splits over (empty for any other)."""
    mesh, spec = getattr(sharding, "mesh", None), getattr(sharding, "spec", None)
    explicit = getattr(getattr(jax.sharding, "AxisType", None), "Explicit", None)
    if mesh is None or spec is None or explicit is None:
        return ()
    types = dict(zip(mesh.axis_names, getattr(mesh, "axis_types", ())))
    used = [a for e in spec if e is not None for a in ((e,) if isinstance(e, str) else e)]
    return tuple(a for a in used if types.get(a) == explicit)


def _num_devices(sharding: Any) -> int:
    return len(sharding.device_set)


def _bucket_sharding(sharding: Any) -> Any:
    """The 1-D sharding of a bucket whose leaves share ``sharding``."""
    if sharding is None:
        return None
    if sharding.is_fully_replicated:
        return sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None:
        raise ValueError(f"flat mode supports NamedSharding for sharded leaves, got {sharding!r}")
    spec = jax.sharding.PartitionSpec(tuple(mesh.axis_names))
    return jax.sharding.NamedSharding(mesh, spec)


@jax.tree_util.register_pytree_node_class
class FlatParams:
    """A parameter tree stored as a few flat, padded buffers (per ``(dtype, sharding)`` group).

    It is a pytree whose leaves are the buffers, so ``opt.init``,
    ``opt.update``, :func:`functional_opt.apply_updates`, ``jax.jit`` with
    donation, checkpointing and ``jax.tree.map`` all work on it as on any
    tree of a few arrays. :meth:`unflatten` gives the original tree.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> flat = fo.flat.flatten_params({"b": jnp.ones(3), "w": jnp.ones((2, 2))})
        >>> [b.shape for b in flat.buffers]  # 7 values padded to 128
        [(128,)]
        >>> g = jax.grad(lambda f: jnp.sum(f.unflatten()["w"] ** 2))(flat)
        >>> float(g.buffers[0].sum())  # gradients arrive flat
        8.0
    """

    def __init__(self, buffers: tuple, layout: Layout):
        self.buffers = tuple(buffers)
        self.layout = layout

    def tree_flatten(self):
        return self.buffers, self.layout

    @classmethod
    def tree_unflatten(cls, layout, buffers):
        return cls(tuple(buffers), layout)

    def unflatten(self) -> Any:
        """The original tree, as views of the buffers; its gradient is flat."""
        return _unflatten(self.layout, self.buffers)

    def __repr__(self) -> str:
        sizes = [int(np.prod(jnp.shape(b))) for b in self.buffers]
        return f"FlatParams({len(self.layout.slots)} leaves in buckets of {sizes})"


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _unflatten(layout: Layout, buffers: tuple) -> Any:
    return layout.views(buffers)


def _unflatten_fwd(layout, buffers):
    return layout.views(buffers), None


def _unflatten_bwd(layout, _, ct):
    # the cotangent tree has the params' structure: pack it into flat buffers
    return (layout.pack(ct),)


_unflatten.defvjp(_unflatten_fwd, _unflatten_bwd)


def flatten_params(params: Any, align: int = ALIGN, bucket_leaves: int | None = BUCKET_LEAVES) -> FlatParams:
    """Pack a parameter tree into a :class:`FlatParams` (once, at set-up).

    Leaves are grouped by ``(dtype, sharding)``; each group becomes one 1-D
    buffer padded with zeros to a multiple of ``align`` (times the number of
    devices for a sharded group, whose buffer is then sharded along its one
    axis over the same mesh). ``None`` leaves stay ``None`` in
    :meth:`FlatParams.unflatten`. Leaves split over explicit-sharding mesh
    axes are refused with a ``ValueError`` (use automatic axes, or the tree).
    Flat params work with :func:`functional_opt.sharding.make_train_step`,
    ZeRO-1 included (the state of a sharded bucket is split like the bucket).

    Args:
        params: a pytree of floating arrays.
        align: the padding unit in elements (``>= 1``; 128 avoids XLA:CPU's
            slow path on odd lengths).
        bucket_leaves: at most this many leaves per buffer (``None``: one
            buffer per group). Small buckets keep the compile time of a model
            that slices them low; ``None`` is fastest for the optimizer alone.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> flat = fo.flat.flatten_params([jnp.zeros(3), jnp.ones(2, jnp.bfloat16)])
        >>> [(b.dtype.name, b.shape) for b in flat.buffers]
        [('float32', (128,)), ('bfloat16', (128,))]
    """
    if not isinstance(align, int) or isinstance(align, bool) or align < 1:
        raise ValueError(f"align must be an int >= 1, got {align!r}")
    if bucket_leaves is not None and (
        not isinstance(bucket_leaves, int) or isinstance(bucket_leaves, bool) or bucket_leaves < 1
    ):
        raise ValueError(f"bucket_leaves must be None or an int >= 1, got {bucket_leaves!r}")
    layout = Layout.of(params, align, bucket_leaves)
    bufs = []
    for buf, (_, sh, _) in zip(layout.pack(params), layout.buckets):
        target = _bucket_sharding(sh)
        bufs.append(jax.device_put(buf, target) if target is not None else buf)
    return FlatParams(tuple(bufs), layout)


def unflatten_params(flat: FlatParams) -> Any:
    """The parameter tree of a :class:`FlatParams` (same as ``flat.unflatten()``)."""
    return flat.unflatten()


def is_flat(tree: Any) -> bool:
    """Whether ``tree`` is a :class:`FlatParams` (flat-mode params, updates or moments)."""
    return isinstance(tree, FlatParams)


def check_not_flat(tree: Any, name: str) -> None:
    """Raise a clear error when a per-leaf transform is given flat buffers.

    Per-leaf transforms call this at the top of ``init`` and ``update``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.flat.check_not_flat(fo.flat.flatten_params([jnp.ones(2)]), "lamb")
        Traceback (most recent call last):
        ...
        ValueError: lamb needs per-leaf views and cannot run on flat buffers ...
    """
    if isinstance(tree, FlatParams):
        raise ValueError(
            f"{name} needs per-leaf views and cannot run on flat buffers (FlatParams): its "
            "per-leaf rule would be applied to whole buckets. Wrap it as "
            f"functional_opt.flat.per_leaf({name}(...)) or use the tree of parameters."
        )


def per_leaf(inner: GradientTransformation) -> GradientTransformation:
    """Run a per-leaf transform inside a flat-mode chain, on per-leaf views.

    On :class:`FlatParams` input the updates (and params) are unflattened to
    their tree, ``inner`` runs leaf by leaf exactly as on the tree, and its
    output is packed back into flat buffers; ``inner``'s state is the state
    it has on the tree. On ordinary trees it is ``inner`` itself. The packing
    costs one write per step, so keep per-leaf transforms few.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> norm1 = fo.stateless(lambda u, p: jax.tree.map(lambda x: x / jnp.abs(x).sum(), u))
        >>> t = fo.flat.per_leaf(norm1)
        >>> g = fo.flat.flatten_params({"a": jnp.ones(2), "b": jnp.ones(4)})
        >>> u, _ = t.update(g, t.init(g))
        >>> u.unflatten()["b"]
        Array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    inner = with_extra_args_support(inner)  # extra args reach only an inner that takes them

    def init(params):
        return inner.init(params.unflatten() if isinstance(params, FlatParams) else params)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(updates, FlatParams):
            return inner.update(updates, state, params, **extra_args)
        layout = updates.layout
        tree_params = params.layout.views(params.buffers) if isinstance(params, FlatParams) else params
        new, state = inner.update(layout.views(updates.buffers), state, tree_params, **extra_args)
        return FlatParams(layout.pack(new), layout), state

    return GradientTransformation(init, update)
