r"""The linear assignment problem, solved in JAX: the ``optax.assignment`` namespace.

Given an :math:`n \times m` cost matrix :math:`C`, find pairs
:math:`(i_k, j_k)`, :math:`k = 1..\min(n, m)`, using each row and each
column at most once, that minimise :math:`\sum_k C_{i_k j_k}`.

Both functions run the same solver: the shortest-augmenting-path form of
the Hungarian algorithm with row and column potentials (Jonker & Volgenant;
Crouse 2016), :math:`O(\min(n,m)^2 \max(n,m))`, as ``lax`` loops, so it jits
and vmaps over batches of cost matrices. They differ only in the order in
which they list the pairs (optax's two implementations list them
differently).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["base_hungarian_algorithm", "hungarian_algorithm"]


def _column_owners(cost: jax.Array) -> jax.Array:
    """For ``cost`` of shape ``(n, m)``, ``n <= m``: ``owner[j]``, the 1-based row given column ``j-1`` (0: none).

    Returns the length ``m + 1`` array (entry 0 is scratch). Rows are added
    one at a time; each addition finds a shortest augmenting path in the
    reduced costs ``C[i, j] - u[i] - v[j]`` (Dijkstra-like, one column per
    inner step) and flips it, keeping the potentials feasible.
    """
    n, m = cost.shape
    inf = jnp.asarray(jnp.inf, cost.dtype)

    def add_row(state, i):
        u, v, owner = state
        owner = owner.at[0].set(i)

        def searching(s):
            _, _, owner, _, _, _, j0 = s
            return owner[j0] != 0

        def relax(s):
            u, v, owner, way, minv, used, j0 = s
            used = used.at[j0].set(True)
            i0 = owner[j0]
            reduced = cost[i0 - 1, :] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < minv[1:])
            minv = minv.at[1:].set(jnp.where(better, reduced, minv[1:]))
            way = way.at[1:].set(jnp.where(better, j0, way[1:]))
            candidates = jnp.where(free, minv[1:], inf)
            j1 = jnp.argmin(candidates) + 1
            delta = candidates[j1 - 1]
            u = u.at[owner].add(jnp.where(used, delta, 0))
            v = jnp.where(used, v - delta, v)
            minv = jnp.where(used, minv, minv - delta)
            return u, v, owner, way, minv, used, j1

        start = (u, v, owner, jnp.zeros(m + 1, jnp.int32), jnp.full(m + 1, inf), jnp.zeros(m + 1, bool), 0)
        u, v, owner, way, _, _, j0 = lax.while_loop(searching, relax, start)

        def flip(s):
            owner, j0 = s
            j1 = way[j0]
            return owner.at[j0].set(owner[j1]), j1

        owner, _ = lax.while_loop(lambda s: s[1] != 0, flip, (owner, j0))
        return (u, v, owner), None

    init = (jnp.zeros(n + 1, cost.dtype), jnp.zeros(m + 1, cost.dtype), jnp.zeros(m + 1, jnp.int32))
    (_, _, owner), _ = lax.scan(add_row, init, jnp.arange(1, n + 1, dtype=jnp.int32))
    return owner


def _prepared(cost_matrix: Any) -> tuple[jax.Array, bool]:
    cost = jnp.asarray(cost_matrix)
    if cost.ndim != 2:
        raise ValueError(f"the cost matrix must be 2-D, got shape {cost.shape}")
    cost = cost.astype(jnp.promote_types(cost.dtype, jnp.float32))
    transpose = cost.shape[0] > cost.shape[1]
    return (cost.T if transpose else cost), transpose


def base_hungarian_algorithm(cost_matrix: Any) -> tuple[jax.Array, jax.Array]:
    r"""An optimal assignment ``(i, j)`` for ``cost_matrix``, listed by increasing row ``i``.

    Minimises :math:`\sum_k C_{i_k j_k}` over one-to-one pairings of
    :math:`\min(n, m)` rows and columns (see the module docstring for the
    algorithm). The cost of the assignment is ``cost_matrix[i, j].sum()``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
      >>> i, j = fo.assignment.base_hungarian_algorithm(cost)
      >>> print(i, j, cost[i, j].sum())
      [0 1 3] [0 2 1] 15

    Same as ``optax.assignment.base_hungarian_algorithm`` (same order).

    Reference: Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES 2016.
    """
    cost, transpose = _prepared(cost_matrix)
    if cost.size == 0:
        return jnp.zeros(0, int), jnp.zeros(0, int)
    n = cost.shape[0]
    owner = _column_owners(cost)[1:]  # 1-based row of each column, 0: unassigned
    slot = jnp.where(owner > 0, owner - 1, n)
    col_of_row = jnp.zeros(n, jnp.int32).at[slot].set(jnp.arange(cost.shape[1], dtype=jnp.int32), mode="drop")
    if transpose:  # rows of `cost` are the original columns
        order = jnp.argsort(col_of_row)
        return col_of_row[order], order.astype(jnp.int32)
    return jnp.arange(n, dtype=jnp.int32), col_of_row


def hungarian_algorithm(cost_matrix: Any) -> tuple[jax.Array, jax.Array]:
    r"""An optimal assignment ``(i, j)`` for ``cost_matrix`` (same solver as :func:`base_hungarian_algorithm`).

    The pairs are listed in the order optax's ``hungarian_algorithm`` lists
    them: for a square matrix by increasing column ``j``; for a wide matrix
    (:math:`n < m`) by decreasing row; for a tall one (:math:`n > m`) by
    decreasing column. The cost is ``cost_matrix[i, j].sum()``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> cost = jnp.array([[90, 80, 75, 70], [35, 85, 55, 65], [125, 95, 90, 95], [45, 110, 95, 115],
      ...                   [50, 100, 90, 100]])
      >>> i, j = fo.assignment.hungarian_algorithm(cost)
      >>> print(cost[i, j].sum())
      265

    Same as ``optax.assignment.hungarian_algorithm``.

    Reference: Kuhn, "The Hungarian method for the assignment problem", Naval Research Logistics 1955;
    Jonker & Volgenant, "A shortest augmenting path algorithm for dense and sparse linear assignment
    problems", Computing 1987.
    """
    cost, transpose = _prepared(cost_matrix)
    if cost.size == 0:
        return jnp.zeros(0, int), jnp.zeros(0, int)
    rows, cols = cost.shape
    owner = _column_owners(cost)[1:]
    if rows == cols:
        owners, columns = owner, jnp.arange(cols, dtype=jnp.int32)
    else:
        owners, columns = lax.top_k(owner, rows)
        columns = columns.astype(jnp.int32)
    owners = owners - 1
    return (columns, owners) if transpose else (owners, columns)
