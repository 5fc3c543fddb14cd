"""Microbatching: evaluate a function (a loss, its gradient) on a batch one slice at a time, and combine.

The public path is the ``fo.microbatching`` namespace (optax's
``optax.microbatching``); ``fo.microbatch`` is also at the top level, as in
optax.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_int


class Aux(NamedTuple):
    """The per-example outputs of :func:`micro_grad` (its second result; optax's namedtuple ``Aux``)."""

    values: Any
    metrics: Any
    aux: Any


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How the per-microbatch results of one output are combined.

    For the results ``x_0, ..., x_{n-1}`` of the ``n`` microbatches::

        carry = init(shape_dtype_of(x_0))
        for i in range(n): carry = update(carry, x_i, i)
        result = finalize(carry)

    ``aggregate(x)`` reduces a value with a leading batch axis the same way
    (what :func:`micro_vmap` applies within a microbatch). The built-in ones
    are named by :class:`AccumulationType`; write one for another rule
    (e.g. a maximum).

    Attributes:
        init: ``ShapeDtypeStruct tree -> carry``.
        update: ``(carry, value, index) -> carry``.
        finalize: ``carry -> result``.
        aggregate: ``batched value -> value``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> biggest = fo.microbatching.Accumulator(
        ...     init=lambda s: jax.tree.map(lambda x: jnp.full(x.shape, -jnp.inf, x.dtype), s),
        ...     update=lambda c, v, i: jax.tree.map(jnp.maximum, c, v),
        ...     finalize=lambda c: c,
        ...     aggregate=lambda v: jax.tree.map(lambda x: x.max(axis=0), v))
        >>> f = fo.microbatch(lambda x: x.max(), argnums=0, microbatch_size=2, accumulator=biggest)
        >>> f(jnp.array([1.0, 5.0, 2.0, 3.0]))
        Array(5., dtype=float32)

    References:
        optax.microbatching.Accumulator.
    """

    init: Callable
    update: Callable
    finalize: Callable
    aggregate: Callable


class AccumulationType(enum.Enum):
    """The built-in :class:`Accumulator` rules, for the ``n`` microbatch results ``x_i``.

    * ``MEAN``: ``sum(x_i) / n`` (floating-point results only);
    * ``SUM``: ``sum(x_i)``;
    * ``RUNNING_MEAN``: the mean over the microbatches actually run (with
      ``num_real_microbatches``: of those), updated as
      ``m <- m + (x_i - m) / (i + 1)`` (floating-point only);
    * ``CONCAT``: the results concatenated along axis 0, in the original
      batch order.
    """

    MEAN = enum.auto()
    SUM = enum.auto()
    RUNNING_MEAN = enum.auto()
    CONCAT = enum.auto()


def _floating_only(fn: Callable) -> Callable:
    def checked(value):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise ValueError(f"the MEAN and RUNNING_MEAN accumulators need floating-point results, got {value.dtype}")
        return fn(value)

    return checked


def _zeros(value):  # value: a ShapeDtypeStruct; the zeros keep its sharding (explicit meshes)
    return jnp.zeros_like(value)


def _per_leaf(init, update, finalize, aggregate) -> Accumulator:
    """An :class:`Accumulator` from rules for one array, applied to every leaf."""
    return Accumulator(
        init=lambda v: jax.tree.map(init, v),
        update=lambda c, v, i: jax.tree.map(lambda a, b: update(a, b, i), c, v),
        finalize=lambda c: jax.tree.map(finalize, c),
        aggregate=lambda v: jax.tree.map(aggregate, v),
    )


def _builtin(kind: AccumulationType, n: int) -> Accumulator:
    if kind is AccumulationType.SUM:
        return _per_leaf(_zeros, lambda c, x, i: c + x, lambda c: c, lambda v: jnp.sum(v, axis=0))
    if kind is AccumulationType.MEAN:
        return _per_leaf(_floating_only(_zeros), lambda c, x, i: c + x, lambda c: c / n, lambda v: jnp.mean(v, axis=0))
    if kind is AccumulationType.RUNNING_MEAN:

        def running(m, x, i):
            return m + (x - m) / (i + 1).astype(m.dtype)

        return _per_leaf(_floating_only(_zeros), running, lambda c: c, lambda v: jnp.mean(v, axis=0))
    if kind is AccumulationType.CONCAT:

        def finalize(c):  # [n, m, ...] (microbatch i holds examples i, i + n, ...) -> [n * m, ...] in batch order
            return jnp.swapaxes(c, 0, 1).reshape(-1, *c.shape[2:])

        return _per_leaf(
            lambda v: jnp.broadcast_to(_zeros(v), (n, *v.shape)), lambda c, x, i: c.at[i].set(x), finalize, lambda v: v
        )
    raise ValueError(f"accumulator: unknown accumulation type {kind!r}")


def _resolve(accumulator: Any, n: int) -> Accumulator:
    """One :class:`Accumulator` from a tree (a prefix of the outputs) of accumulators and types."""

    def leaf(a):
        if isinstance(a, Accumulator):
            return a
        if isinstance(a, AccumulationType):
            return _builtin(a, n)
        if isinstance(a, enum.Enum) and type(a).__name__ == "AccumulationType":  # optax's enum: same names
            return _builtin(AccumulationType[a.name], n)
        raise TypeError(f"accumulator must hold Accumulator or AccumulationType values, got {a!r}")

    is_leaf = lambda a: isinstance(a, (Accumulator, enum.Enum))  # noqa: E731
    accs = jax.tree.map(leaf, accumulator, is_leaf=is_leaf)

    def each(method):
        def run(*trees):
            return jax.tree.map(lambda a, *t: getattr(a, method)(*t), accs, *trees, is_leaf=is_leaf)

        return run

    return Accumulator(
        init=each("init"),
        update=lambda c, v, i: jax.tree.map(lambda a, cc, vv: a.update(cc, vv, i), accs, c, v, is_leaf=is_leaf),
        finalize=each("finalize"),
        aggregate=each("aggregate"),
    )


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Split the batch axis ``B`` of every leaf into ``(B // microbatch_size, microbatch_size)``, column-major.

    Rule: ``y[..., i, j, ...] = x[..., i + n * j, ...]`` with
    ``n = B // microbatch_size`` (so microbatch ``i`` holds the examples
    ``i, i + n, i + 2n, ...``). The column-major split keeps a sharding of
    the batch axis on the new ``microbatch_size`` axis: each device keeps
    its own examples, and every microbatch is spread over all devices. On
    an explicit-sharding mesh the result is typed that way.

    Args:
        tree: a pytree of arrays, each with a batch axis ``axis``.
        microbatch_size: an int ``>= 1`` dividing the batch size.
        axis: the batch axis.

    Returns:
        The tree with each leaf of shape
        ``x.shape[:axis] + (n, microbatch_size) + x.shape[axis + 1:]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.microbatching.reshape_batch_axis(jnp.arange(6), 2)
        Array([[0, 3],
               [1, 4],
               [2, 5]], dtype=int32)

    References:
        optax.microbatching.reshape_batch_axis.
    """
    check_int("microbatch_size", microbatch_size, low=1)

    def split(x):
        shape = (*x.shape[:axis], -1, microbatch_size, *x.shape[axis + 1 :])
        kwargs = {}
        sharding: Any = getattr(jax.typeof(x), "sharding", None)
        mesh: Any = getattr(sharding, "mesh", None)
        if sharding is not None and getattr(mesh, "are_all_axes_explicit", False) and mesh.shape:
            spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
            new_spec = jax.sharding.PartitionSpec(*spec[:axis], None, spec[axis], *spec[axis + 1 :])
            kwargs["out_sharding"] = jax.sharding.NamedSharding(mesh, new_spec)
        return jnp.reshape(x, shape, order="F", **kwargs)

    return jax.tree.map(split, tree)


def _as_tuple(x) -> tuple:
    return (x,) if isinstance(x, (int, str)) else tuple(x)


def microbatch(
    fun: Callable,
    argnums,
    microbatch_size: int | None,
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames=(),
    in_axes=0,
    num_real_microbatches=None,
) -> Callable:
    """``fun`` evaluated one microbatch at a time (a ``lax.fori_loop``), its results combined by ``accumulator``.

    Rule, for ``n = B / microbatch_size`` microbatches ``b_i`` of the batch
    arguments (split by :func:`reshape_batch_axis`)::

        carry = init;  for i < n:  carry = accumulator.update(carry, fun(..., b_i, ...), i)
        result = accumulator.finalize(carry)

    With ``SUM`` and a ``fun`` that sums over its batch, the result equals
    ``fun`` on the whole batch; ``MEAN`` of per-microbatch means is the mean.
    Peak memory is that of one microbatch. ``microbatch_size=None``
    returns ``fun`` itself.

    Conventions: as ``optax.microbatch``.

    Args:
        fun: any function.
        argnums: the position(s) of the arguments with a batch axis.
        microbatch_size: examples per microbatch (an int ``>= 1`` dividing
            the batch size), or ``None``.
        accumulator: an :class:`AccumulationType`, an :class:`Accumulator`,
            or a tree of them that is a prefix of ``fun``'s output.
        argnames: the name(s) of keyword arguments with a batch axis.
        in_axes: the batch axis of each batch argument (``argnums`` then
            ``argnames``), or one int for all.
        num_real_microbatches: run only this many microbatches (an int or a
            traced int: variable batch sizes without recompiling).

    Returns:
        A function with ``fun``'s signature.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fun = lambda x: (x + 1, jnp.sum(3 * x))
        >>> T = fo.microbatching.AccumulationType
        >>> fo.microbatch(fun, argnums=0, microbatch_size=2, accumulator=(T.CONCAT, T.SUM))(jnp.arange(4))
        (Array([1, 2, 3, 4], dtype=int32), Array(18, dtype=int32))

    References:
        optax.microbatch; gradient accumulation as in Huang et al.,
        "GPipe", NeurIPS 2019.
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    if microbatch_size is None:
        return fun
    check_int("microbatch_size", microbatch_size, low=1)
    argnums, argnames = _as_tuple(argnums), _as_tuple(argnames)
    axes = (in_axes,) * (len(argnums) + len(argnames)) if isinstance(in_axes, int) else tuple(in_axes)
    if len(axes) != len(argnums) + len(argnames):
        raise ValueError(
            f"in_axes must give one axis per batch argument ({len(argnums) + len(argnames)}), got {in_axes!r}"
        )
    where = [(i, ax) for i, ax in zip(argnums, axes)]
    kwhere = [(k, ax) for k, ax in zip(argnames, axes[len(argnums) :])]

    def run(*args, **kwargs):
        sizes = {x.shape[ax] for i, ax in where for x in jax.tree.leaves(args[i])}
        sizes |= {x.shape[ax] for k, ax in kwhere for x in jax.tree.leaves(kwargs[k])}
        if len(sizes) != 1:
            raise ValueError(f"microbatch: the batch arguments must have one batch size, got {sorted(sizes)}")
        (batch,) = sizes
        if batch % microbatch_size:
            raise ValueError(
                f"microbatch: the batch size {batch} must be divisible by microbatch_size={microbatch_size}"
            )
        n = batch // microbatch_size
        split_args = {i: reshape_batch_axis(args[i], microbatch_size, ax) for i, ax in where}
        split_kwargs = {k: reshape_batch_axis(kwargs[k], microbatch_size, ax) for k, ax in kwhere}
        acc = _resolve(accumulator, n)

        def one(index):
            take = lambda tree, ax: jax.tree.map(lambda x: jnp.take(x, index, axis=ax), tree)  # noqa: E731
            a = list(args)
            for i, ax in where:
                a[i] = take(split_args[i], ax)
            kw = dict(kwargs)
            for k, ax in kwhere:
                kw[k] = take(split_kwargs[k], ax)
            return fun(*a, **kw)

        carry = acc.init(jax.eval_shape(one, 0))
        stop = n if num_real_microbatches is None else num_real_microbatches
        carry = jax.lax.fori_loop(0, stop, lambda i, c: acc.update(c, one(i), i), carry)
        return acc.finalize(carry)

    return run


def micro_vmap(
    fun: Callable,
    in_axes=0,
    out_axes=0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable = jax.vmap,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches=None,
) -> Callable:
    """``jax.vmap(fun)`` run one microbatch at a time, with an optional reduction over the batch.

    Rule: each microbatch is ``vmap_fn(fun, in_axes, 0)`` on its slice,
    reduced by ``accumulator.aggregate`` (``CONCAT``: kept; ``SUM``/``MEAN``:
    summed/averaged over the batch), and the microbatches are combined by
    :func:`microbatch`. With the default ``CONCAT`` the result is
    ``jax.vmap(fun)(...)``; memory is that of one microbatch.

    Conventions: as ``optax.microbatching.micro_vmap`` (``out_axes`` must be
    0; keyword arguments are mapped over axis 0, as in ``jax.vmap``).

    Args:
        fun: the function to map.
        in_axes: the mapped axis of each positional argument (``None``: not
            mapped), or one int.
        out_axes: must be 0.
        microbatch_size: examples per microbatch, or ``None`` for one.
        vmap_fn: the vectorizing map (default ``jax.vmap``).
        accumulator: as in :func:`microbatch`.
        num_real_microbatches: as in :func:`microbatch`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.microbatching.micro_vmap(lambda x: x**2, microbatch_size=2)(jnp.arange(6))
        Array([ 0,  1,  4,  9, 16, 25], dtype=int32)

    References:
        optax.microbatching.micro_vmap.
    """
    if out_axes != 0:
        raise NotImplementedError(f"micro_vmap supports out_axes=0 only, got {out_axes!r}")
    axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    def mapped(*args, kwargs):
        out = vmap_fn(fun, axes, 0)(*args, **kwargs)
        return _resolve(accumulator, 1).aggregate(out)

    inner = microbatch(
        mapped,
        argnums=tuple(i for i, ax in enumerate(axes) if ax is not None),
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=tuple(ax for ax in axes if ax is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )

    def run(*args, **kwargs):
        return inner(*args, kwargs=kwargs)

    return run


def micro_grad(
    fun: Callable,
    has_aux: bool = False,
    argnums=0,
    *,
    batch_argnums=1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable = lambda g: g,
    metrics_fn: Callable = lambda g: None,
    num_real_microbatches=None,
) -> Callable:
    """Per-example gradients, transformed and combined over the batch, one microbatch at a time.

    Rule, for the examples ``x_j`` of the batch arguments and
    ``g_j = grad(fun)(params, x_j)``::

        result = accumulate_j transform_fn(g_j)        (SUM by default; MEAN, ...)
        aux = Aux(values=[fun(params, x_j)]_j, metrics=[metrics_fn(g_j)]_j, aux=[fun's aux]_j)

    E.g. ``transform_fn`` = clip each per-example gradient (DP-SGD), or
    ``lambda g: (g, g**2)`` for the gradient's variance. The per-example
    gradients are formed by ``jax.vmap`` inside each microbatch only.

    Conventions: as ``optax.microbatching.micro_grad``: the gradient comes
    first, the per-example outputs second; with ``keep_batch_dim`` (default)
    ``fun`` sees each example with a batch axis of size 1.

    Args:
        fun: ``fun(params, batch, ...) -> loss`` (or ``(loss, aux)``).
        has_aux: whether ``fun`` returns ``(loss, aux)``.
        argnums: the argument(s) to differentiate.
        batch_argnums: the argument(s) with a batch axis (axis 0).
        keep_batch_dim: give ``fun`` batches of one example (else single
            examples without a batch axis).
        microbatch_size: examples per microbatch, or ``None`` for one.
        accumulator: how the transformed gradients combine (a prefix tree
            of :class:`AccumulationType`/:class:`Accumulator`).
        transform_fn: applied to each per-example gradient.
        metrics_fn: applied to each per-example gradient; returned per
            example in ``aux.metrics``.
        num_real_microbatches: as in :func:`microbatch`.

    Returns:
        ``(*args) -> (result, Aux(values, metrics, aux))``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda w, x, y: 0.5 * jnp.mean((x @ w - y) ** 2)
        >>> g, aux = fo.microbatching.micro_grad(
        ...     loss, batch_argnums=(1, 2), accumulator=fo.microbatching.AccumulationType.MEAN,
        ...     microbatch_size=2)(jnp.zeros(1), jnp.ones((4, 1)), jnp.array([0.0, 2.0, 4.0, 6.0]))
        >>> g, aux.values
        (Array([-3.], dtype=float32), Array([ 0.,  2.,  8., 18.], dtype=float32))

    References:
        optax.microbatching.micro_grad; Abadi et al., "Deep Learning with
        Differential Privacy", CCS 2016 (per-example clipping).
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    batch_argnums = _as_tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args, **kwargs):
        (value, aux), g = value_and_grad(*args, **kwargs)
        return transform_fn(g), Aux(values=value, metrics=metrics_fn(g), aux=aux)

    if keep_batch_dim:
        base = per_example

        def per_example(*args, **kwargs):  # each example as a batch of one
            a = [jax.tree.map(lambda x: x[None], v) if i in batch_argnums else v for i, v in enumerate(args)]
            return base(*a, **kwargs)

    in_axes = [0 if i in batch_argnums else None for i in range(max(batch_argnums) + 1)]
    return micro_vmap(
        per_example,
        in_axes=in_axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )
