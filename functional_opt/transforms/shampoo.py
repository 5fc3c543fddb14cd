"""Shampoo: one Kronecker factor of preconditioning per tensor axis."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from functional_opt import _tree
from functional_opt._hparams import (
    check_int,
    check_number,
    compute_dtype,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat

_REL_FLOOR = 1e-6


def _axes(shape, max_dim):
    """The preconditioned axes of a leaf (a scalar is treated as shape ``(1,)``)."""
    shape = tuple(shape) or (1,)
    return shape, tuple(i for i, d in enumerate(shape) if d <= max_dim)


def _explicit_sharding(x):
    """``(mesh, spec)`` of ``x``'s type on an explicit-sharding mesh (one spec entry per axis), else None.

    On an explicit-sharding mesh a contraction over a split axis must name its
    output sharding; elsewhere (automatic axes, one device) XLA chooses.
    """
    typeof = getattr(jax, "typeof", None)
    explicit = getattr(getattr(jax.sharding, "AxisType", None), "Explicit", None)
    if typeof is None or explicit is None:
        return None
    sharding = getattr(typeof(x), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or explicit not in tuple(getattr(mesh, "axis_types", ())):
        return None
    spec = tuple(getattr(sharding, "spec", ()))
    return mesh, spec + (None,) * (x.ndim - len(spec))


def _replicated_with(mats, x, tie=False):
    """The matrices replicated on ``x``'s explicit-sharding mesh, typed so (as the products make them).

    A no-op off explicit meshes. With ``tie`` (in ``init``), under a trace
    the matrices are tied to ``x`` (``+ 0 * isnan(sum(x))``, exactly 0): a
    jitted ``init`` that used only ``x``'s shape would drop ``x`` and run on
    one device, while its outputs are typed on ``x``'s mesh.
    """
    found = _explicit_sharding(x)
    if found is None:
        return mats
    if not isinstance(x, jax.core.Tracer):
        return tuple(jax.device_put(m, NamedSharding(x.sharding.mesh, PartitionSpec())) for m in mats)
    target = NamedSharding(found[0], PartitionSpec())
    if tie:
        zero = jnp.isnan(jnp.sum(x)).astype(jnp.float32) * 0
        mats = tuple(m + zero.astype(m.dtype) for m in mats)
    return tuple(jax.sharding.reshard(m, target) for m in mats)


def _mode_product(m, x, axis):
    """``x`` multiplied along ``axis`` by the matrix ``m`` (``m @ x_(axis)``), split like ``x``."""
    found = _explicit_sharding(x)
    out = None
    if found is not None:
        mesh, spec = found
        out = NamedSharding(mesh, PartitionSpec(spec[axis], *(e for i, e in enumerate(spec) if i != axis)))
    return jnp.moveaxis(jnp.tensordot(m, x, axes=(1, axis), out_sharding=out), 0, axis)


def _mode_gram(x, axis):
    """``x_(axis) x_(axis)^T``: the mode-``axis`` Gram matrix (replicated: a sum over the other axes)."""
    other = [i for i in range(x.ndim) if i != axis]
    found = _explicit_sharding(x)
    out = None if found is None else NamedSharding(found[0], PartitionSpec())
    return jnp.tensordot(x, x, axes=(other, other), out_sharding=out)


def _inverse_root(stat, power, eps):
    """``stat^(-power)`` for a symmetric PSD ``stat`` via its eigendecomposition.

    Eigenvalues are floored at ``max(eps, 1e-6 * largest)``: below that a
    float32 ``eigh`` returns rounding noise, which the negative power would
    blow up. (The statistics start at ``eps * I``, so in exact arithmetic the
    ``eps`` floor never binds.)
    """
    lam, vec = jnp.linalg.eigh(stat)
    lam = jnp.maximum(lam, jnp.maximum(eps, _REL_FLOOR * lam[-1]))
    return ((vec * lam ** (-power)) @ vec.T).astype(stat.dtype)  # (a float64 eps must not promote it)


class ScaleByShampooState(NamedTuple):
    """State of :func:`scale_by_shampoo`: count, per-leaf statistics and inverse roots.

    ``stats`` and ``roots`` are, for each leaf, a tuple with one ``d x d``
    matrix per preconditioned axis of size ``d``.
    """

    count: Any
    stats: Any
    roots: Any


def scale_by_shampoo(
    eps=1e-4,
    precondition_frequency: int = 1,
    max_preconditioner_dim: int = 1024,
) -> GradientTransformation:
    """Precondition each leaf with Shampoo's per-axis inverse roots.

    Update rule for a leaf ``G`` of order ``k`` (Gupta, Koren & Singer,
    Algorithm 2; for a matrix ``k = 2``: ``u = L^{-1/4} G R^{-1/4}``)::

        H_i <- H_i + G_(i) G_(i)^T           for each axis i  (H_i starts at eps * I)
        if count % precondition_frequency == 0:
            P_i <- H_i^(-1 / (2k))           (eigh; eigenvalues floored at max(eps, 1e-6 * max))
        u = G x_1 P_1 x_2 ... x_k P_k         (mode-i products)

    ``k`` counts the preconditioned axes: axes longer than
    ``max_preconditioner_dim`` are left unpreconditioned (identity), a scalar is
    treated as a 1-vector (so it becomes Adagrad), and a leaf with no
    preconditioned axis passes through unchanged.

    Update frequency: the statistics ``H_i`` accumulate every step; the inverse
    roots ``P_i`` (one ``eigh`` per axis, ``O(d^3)``) are recomputed only when
    ``count % precondition_frequency == 0`` (the first step included) and
    reused in between, as the paper suggests for large models.

    Memory: for an ``m x n`` matrix, ``2 (m^2 + n^2)`` numbers (statistics and
    roots) against Adam's ``2 m n``; in general ``2 sum_i d_i^2`` per leaf, kept
    in at least float32 whatever the param dtype (``eigh`` needs it).

    Conventions: no grafting and no momentum here (chain :func:`trace` for
    momentum, as :func:`functional_opt.shampoo` does); the statistics are sums,
    not moving averages, as in the paper.

    Args:
        eps: ``> 0``, the initial ``eps * I`` and the eigenvalue floor.
        precondition_frequency: recompute the roots every this many steps (int ``>= 1``).
        max_preconditioner_dim: axes longer than this get no factor (int ``>= 1``).

    State: :class:`ScaleByShampooState` ``(count, stats, roots)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_shampoo(eps=1e-8)
        >>> u, s = t.update(jnp.array([3.0, -4.0]), t.init(jnp.zeros(2)))
        >>> u.round(3)  # first step on a vector: g / ||g||
        Array([ 0.6, -0.8], dtype=float32)

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
        Optimization", ICML 2018 (arXiv:1802.09568).
    """
    check_number("eps", eps, low=0.0, low_inclusive=False)
    check_int("precondition_frequency", precondition_frequency, low=1)
    check_int("max_preconditioner_dim", max_preconditioner_dim, low=1)

    def init(params):
        check_not_flat(params, "scale_by_shampoo")

        def per_axis(p, value):  # one d x d matrix per preconditioned axis, in at least float32
            shape, axes = _axes(jnp.shape(p), max_preconditioner_dim)
            mats = tuple(value * jnp.eye(shape[i], dtype=compute_dtype(jnp.result_type(p))) for i in axes)
            return mats if isinstance(p, jax.ShapeDtypeStruct) else _replicated_with(mats, p, tie=True)

        stats = jax.tree.map(lambda p: per_axis(p, eps), params)  # H_i = eps * I
        roots = jax.tree.map(lambda p: per_axis(p, 0.0), params)
        return ScaleByShampooState(count=zero_count(), stats=stats, roots=roots)

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_shampoo")
        del params, extra_args
        refresh = state.count % precondition_frequency == 0
        eps_ = value_at(eps, None)

        def leaf(g, H, P):
            shape, axes = _axes(g.shape, max_preconditioner_dim)
            H, P = _replicated_with(H, g), _replicated_with(P, g)  # (a restored state may have lost its mesh)
            G = g.reshape(shape)
            H = tuple(h + _mode_gram(G, i) for h, i in zip(H, axes))
            power = 1.0 / (2 * len(axes)) if axes else 0.0
            P = jax.lax.cond(refresh, lambda H: tuple(_inverse_root(h, power, eps_) for h in H), lambda H: P, H)
            for p, i in zip(P, axes):
                G = _mode_product(p, G, i)
            return G.reshape(g.shape), H, P

        u, (stats, roots) = _tree.map_moments(
            "scale_by_shampoo", leaf, updates, stats=state.stats, roots=state.roots, check_shapes=False
        )
        return u, ScaleByShampooState(count=safe_increment(state.count), stats=stats, roots=roots)

    return GradientTransformation(init, update)
