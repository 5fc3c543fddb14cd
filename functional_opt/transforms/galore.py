"""GaLore: run a base optimizer on low-rank projections of matrix gradients."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation, chain, check_transform, with_extra_args_support
from functional_opt.flat import check_not_flat
from functional_opt.transforms.adam import scale_by_adam
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.weight_decay import add_decayed_weights


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a weight form the rows (``reduction_axis``) and columns (``output_axis``) of its matrix.

    As ``optax.contrib.GaLoreDimensionNumbers``: every axis must be in
    exactly one of the two; the matrix is the weight transposed to
    ``reduction + output`` axes and reshaped to 2-D.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class GaLoreState(NamedTuple):
    """State of :func:`scale_by_galore` (optax's fields): count, the base state, one projector per leaf."""

    count: Any
    base_optimizer_state: Any
    projector: Any


def _axes(spec: Any, ndim: int) -> tuple[int, ...]:
    return tuple(a % ndim for a in ((spec,) if isinstance(spec, int) else spec))


def _as_matrix(x: Any, dims: GaLoreDimensionNumbers) -> tuple[Any, Any]:
    """``(to_2d, from_2d)`` for leaves shaped like ``x``."""
    if x.ndim < 2:
        raise ValueError(f"scale_by_galore: GaLore needs weights of rank >= 2, got shape {x.shape}")
    red, out = _axes(dims.reduction_axis, x.ndim), _axes(dims.output_axis, x.ndim)
    if set(red) & set(out) or len(set(red) | set(out)) != x.ndim:
        raise ValueError(
            f"scale_by_galore: reduction axes {red} and output axes {out} must be disjoint and cover the "
            f"{x.ndim} axes of shape {x.shape}"
        )
    perm = red + out
    inv = tuple(sorted(range(x.ndim), key=lambda i: perm[i]))
    rows = math.prod(x.shape[a] for a in red)
    shape_t = tuple(x.shape[a] for a in perm)
    return (lambda y: y.transpose(perm).reshape(rows, -1)), (lambda y: y.reshape(shape_t).transpose(inv))


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale=1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """Project each matrix gradient to rank ``r``, run ``base_optimizer`` there, project back.

    Update rule (Zhao et al., Algorithm 1), for a weight whose gradient
    matrix ``G`` is ``m x n`` (``r_eff = min(rank, m, n)``), ``k = count``::

        every update_proj_gap steps (k % gap == 0):
            U, S, V^T = svd(G);  P = U[:, :r_eff] if m >= n else V[:, :r_eff]
        R = P^T G           (m >= n)      or   G P        (m < n)
        N = base_optimizer(R)
        u = scale * (P N)   (m >= n)      or   scale * N P^T

    Leaves without dimension numbers (by default every leaf that is not a
    matrix) pass their full gradient to ``base_optimizer`` unprojected.

    Conventions: as ``optax.contrib.scale_by_galore`` (arguments, defaults,
    state fields; the projector of an unprojected leaf is a ``(0, 0)``
    array). The base optimizer's moments are not rotated when the projector
    changes (the paper's and optax's choice). The SVD runs in float32.

    Args:
        rank: the projection rank (int ``>= 1``).
        update_proj_gap: recompute the projectors every this many steps.
        scale: ``alpha``, multiplies the projected-back update.
        base_optimizer: the optimizer of the low-rank gradients (default
            ``scale_by_adam()``); it is called without params.
        weight_dimension_numbers: ``None`` (every 2-D leaf, rows = axis 0),
            one :class:`GaLoreDimensionNumbers` (every leaf of rank ``>= 2``),
            a tree of them with ``None`` for unprojected leaves, or a
            function of the params returning such a tree.

    State: :class:`GaLoreState` ``(count, base_optimizer_state, projector)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_galore(rank=1, base_optimizer=fo.identity())
        >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> t.update(g, t.init(g))[0]  # the rank-1 part of g
        Array([[3., 0.],
               [0., 0.],
               [0., 0.]], dtype=float32)

    References:
        Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient
        Low-Rank Projection", ICML 2024.
    """
    check_int("rank", rank, low=1)
    check_int("update_proj_gap", update_proj_gap, low=1)
    check_number("scale", scale)
    base = with_extra_args_support(scale_by_adam() if base_optimizer is None else base_optimizer)
    if base_optimizer is not None:
        check_transform(base_optimizer, "base_optimizer")

    def dim_numbers(tree):
        leaves, treedef = jax.tree.flatten(tree)
        spec = weight_dimension_numbers
        if spec is None:
            return [GaLoreDimensionNumbers() if x.ndim == 2 else None for x in leaves]
        if isinstance(spec, GaLoreDimensionNumbers):
            return [spec if x.ndim >= 2 else None for x in leaves]
        if callable(spec):
            spec = spec(tree)
        return treedef.flatten_up_to(spec)

    def shapes(x, dims):
        m, n = x.shape if dims is None else _as_matrix(x, dims)[0](jnp.zeros(x.shape, x.dtype)).shape
        return m, n, min(rank, m, n)

    def init(params):
        check_not_flat(params, "scale_by_galore")
        leaves, treedef = jax.tree.flatten(params)
        projectors, proxies = [], []
        for x, dims in zip(leaves, dim_numbers(params)):
            if dims is None:
                projectors.append(jnp.zeros((0, 0), x.dtype))
                proxies.append(x)
                continue
            m, n, r = shapes(x, dims)
            projectors.append(jnp.zeros((m, r) if m >= n else (n, r), x.dtype))
            proxies.append(jnp.zeros((r, n) if m >= n else (m, r), x.dtype))
        return GaLoreState(
            count=zero_count(),
            base_optimizer_state=base.init(treedef.unflatten(proxies)),
            projector=treedef.unflatten(projectors),
        )

    def update(updates, state, params=None, **extra_args):
        del params
        check_not_flat(updates, "scale_by_galore")
        leaves, treedef = jax.tree.flatten(updates)
        refresh = state.count % update_proj_gap == 0
        dims_list = dim_numbers(updates)
        old_projectors = treedef.flatten_up_to(state.projector)
        low: list[Any] = []
        projectors: list[Any] = []
        backs: list[Any] = []
        for g, dims, P in zip(leaves, dims_list, old_projectors):
            if dims is None:
                low.append(g)
                projectors.append(P)
                backs.append(None)
                continue
            to_2d, from_2d = _as_matrix(g, dims)
            G = to_2d(g)
            m, n, r = shapes(g, dims)
            left = m >= n

            def fresh(G=G, left=left, r=r, dtype=g.dtype):
                U, _, Vh = jnp.linalg.svd(G.astype(jnp.float32), full_matrices=False)
                return (U[:, :r] if left else Vh[:r, :].T).astype(dtype)

            P = jax.lax.cond(refresh, fresh, lambda P=P: P)
            low.append(P.T @ G if left else G @ P)
            projectors.append(P)
            backs.append((from_2d, left))
        n_low, base_state = base.update(treedef.unflatten(low), state.base_optimizer_state, None, **extra_args)
        s = value_at(scale, None)
        out = []
        for g, N, P, back in zip(leaves, treedef.flatten_up_to(n_low), projectors, backs):
            if back is None:
                out.append(N)
                continue
            from_2d, left = back
            out.append((s * from_2d(P @ N if left else N @ P.T)).astype(g.dtype))
        return treedef.unflatten(out), GaLoreState(
            count=safe_increment(state.count),
            base_optimizer_state=base_state,
            projector=treedef.unflatten(projectors),
        )

    return GradientTransformation(init, update)


def galore(
    learning_rate,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale=1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay=0.0,
    mask=None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """GaLore, as ``optax.contrib.galore`` (same arguments and defaults).

    ``chain(scale_by_galore(rank, update_proj_gap, scale, base_optimizer,
    weight_dimension_numbers), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``; the rule is on
    :func:`scale_by_galore` (by default Adam on the low-rank gradients).

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        rank, update_proj_gap, scale, base_optimizer, weight_dimension_numbers: see :func:`scale_by_galore`.
        weight_decay: ``>= 0``, decoupled.
        mask: tree of bools or a function of the params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.galore(0.1, rank=1)
        >>> p = jnp.zeros((3, 2))
        >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> opt.update(g, opt.init(p), p)[0][0].round(4)  # Adam's first step on the rank-1 part: -0.1 * sign
        Array([-0.1, -0. ], dtype=float32)

    References:
        Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient
        Low-Rank Projection", ICML 2024.
    """
    return chain(
        scale_by_galore(
            rank=rank,
            update_proj_gap=update_proj_gap,
            scale=scale,
            base_optimizer=base_optimizer,
            weight_dimension_numbers=weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
