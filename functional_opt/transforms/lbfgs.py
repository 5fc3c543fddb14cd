"""L-BFGS: the limited-memory BFGS direction by the two-loop recursion."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, compute_dtype, safe_increment, zero_count
from functional_opt.base import GradientTransformation


class ScaleByLBFGSState(NamedTuple):
    """State of :func:`scale_by_lbfgs` (optax's fields).

    ``count``: int32 step count; ``params``, ``updates``: the params and the
    incoming updates (gradients) of the previous step; ``diff_params_memory``,
    ``diff_updates_memory``: per leaf, ``memory_size`` stacked differences
    ``s_j = w_{j+1} - w_j`` and ``y_j = g_{j+1} - g_j`` (a ring buffer along
    the leading axis); ``weights_memory``: ``rho_j = 1 / Re <y_j, s_j>``
    (0 for an empty or skipped slot), shape ``(memory_size,)``.
    """

    count: Any
    params: Any
    updates: Any
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: Any


def _axpy(x: Any, a: jax.Array, y: Any) -> Any:
    """``x + a * y`` leaf by leaf, in the dtype of ``x`` (the two-loop recursion's one vector operation)."""
    return jax.tree.map(lambda xi, yi: (xi + a * _tree.up(yi)).astype(xi.dtype), x, y)


def _two_loop(q: Any, s_mem: Any, y_mem: Any, rho: jax.Array, gamma: jax.Array, order: jax.Array) -> Any:
    """``H q`` by Nocedal & Wright's Algorithm 7.4, over the memory slots in ``order`` (oldest first).

    ``q`` is in the compute dtype; ``s_mem``/``y_mem`` hold the pairs stacked
    along a leading axis; a slot with ``rho = 0`` contributes nothing.
    """

    def slot(mem, i):
        return jax.tree.map(lambda m: m[i], mem)

    def backward(q, i):  # newest to oldest: alpha_i = rho_i s_i^T q, q <- q - alpha_i y_i
        alpha = rho[i] * _tree.real_vdot(slot(s_mem, i), q)
        return _axpy(q, -alpha, slot(y_mem, i)), alpha

    q, alphas = jax.lax.scan(backward, q, order, reverse=True)
    r = jax.tree.map(lambda x: gamma * x, q)  # H_0 = gamma I

    def forward(r, i_alpha):  # oldest to newest: beta = rho_i y_i^T r, r <- r + (alpha_i - beta) s_i
        i, alpha = i_alpha
        beta = rho[i] * _tree.real_vdot(slot(y_mem, i), r)
        return _axpy(r, alpha - beta, slot(s_mem, i)), None

    r, _ = jax.lax.scan(forward, r, (order, alphas))
    return r


def scale_by_lbfgs(memory_size: int = 10, scale_init_precond: bool = True) -> GradientTransformation:
    r"""Precondition the updates by the L-BFGS approximation of the inverse Hessian.

    With ``g_k`` the incoming updates (gradients) and ``w_k`` the params at
    step ``k``, the transform stores the pairs
    ``s_j = w_{j+1} - w_j``, ``y_j = g_{j+1} - g_j`` of the last
    ``m = memory_size`` steps and returns ``H_k g_k``, where

    .. math::

        H_{k,k-m} = \gamma_k I,\qquad
        H_{k,j+1} = V_j^\top H_{k,j} V_j + \rho_j s_j s_j^\top \ (j = k-m, \ldots, k-1),\qquad
        H_k = H_{k,k},

    with :math:`V_j = I - \rho_j y_j s_j^\top` and
    :math:`\rho_j = 1 / \mathrm{Re}\langle y_j, s_j\rangle`,
    computed without forming ``H_k`` by the two-loop recursion (Nocedal &
    Wright, Algorithm 7.4), with the initial scaling

    .. math::

        \gamma_k = \frac{\mathrm{Re}\langle s_{k-1}, y_{k-1}\rangle}{\langle y_{k-1}, y_{k-1}\rangle}
        \ (\texttt{scale\_init\_precond}),\qquad \gamma_0 = \min(1, 1/\|g_0\|),

    (``gamma = 1`` at every step, the first included, when
    ``scale_init_precond=False``). The output is the
    quasi-Newton direction, *not* negated: chain it with
    :func:`scale_by_learning_rate` (which flips the sign) and a line search,
    as :func:`lbfgs` does. The memory is updated before the direction is
    computed, from the params and updates this step receives, so a line
    search later in the chain sees a direction built from the accepted steps
    only.

    Conventions: optax's names, defaults, state fields and formulas (the
    iterates agree with ``optax.scale_by_lbfgs``): a pair with
    ``Re <y, s> = 0`` gets ``rho = 0``, and a pair of negative curvature is
    kept as it is (a strong Wolfe line search guarantees ``Re <y, s> > 0``;
    with ``linesearch=None`` or after a failed search the direction may
    then not be a descent direction). scipy's L-BFGS-B skips such pairs.
    Complex parameters use ``Re <., .>`` throughout.

    Args:
        memory_size: int ``>= 1``, the number of pairs kept (``m``).
        scale_init_precond: use ``gamma_k`` above (else ``gamma = 1``).

    State: :class:`ScaleByLBFGSState`; it holds ``2 m + 2`` copies of the
    params, so L-BFGS suits small and medium problems.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_lbfgs(memory_size=3)
        >>> w = jnp.array([3.0, 4.0])
        >>> u, s = t.update(w, t.init(w), w)  # first step: g / ||g|| (gamma_0 = 1/5)
        >>> u
        Array([0.6, 0.8], dtype=float32)

    References:
        Nocedal & Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
        Algorithms 7.4 and 7.5, (7.20). Liu & Nocedal, "On the limited memory
        BFGS method for large scale optimization", Math. Programming 45,
        1989. optax.scale_by_lbfgs.
    """
    where = "scale_by_lbfgs"
    check_int("memory_size", memory_size, low=1)
    if not isinstance(scale_init_precond, bool):
        raise TypeError(f"scale_init_precond must be a bool, got {scale_init_precond!r}")
    m = memory_size

    def init(params):
        zeros = _tree.zeros_like(params)
        stacked = jax.tree.map(lambda z: jnp.broadcast_to(z, (m, *jnp.shape(z))), zeros)
        dt = compute_dtype(*(jnp.finfo(jnp.result_type(x)).dtype for x in jax.tree.leaves(params)))
        return ScaleByLBFGSState(
            count=zero_count(),
            params=zeros,
            updates=_tree.zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros([m], dt),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(f"{where} needs params: call update(updates, state, params)")
        _tree.check_inexact(where, "the update", updates)
        _tree.check_same_shapes(where, "updates", updates, "params", params)
        _tree.check_same_shapes(where, "updates", updates, "state.updates", state.updates)
        dt = state.weights_memory.dtype
        k = state.count
        started = k > 0
        # 1. the newest pair (s, y) from this step's params and updates; nothing at the first step
        s = jax.tree.map(lambda w, w0: jnp.where(started, _tree.up(w) - _tree.up(w0), 0), params, state.params)
        y = jax.tree.map(lambda g, g0: jnp.where(started, _tree.up(g) - _tree.up(g0), 0), updates, state.updates)
        sy = _tree.real_vdot(s, y).astype(dt)
        yy = _tree.squared_norm(y).astype(dt)
        nonzero = sy != 0
        rho = jnp.where(nonzero, 1 / jnp.where(nonzero, sy, 1), 0).astype(dt)
        newest = (k - 1) % m  # the ring buffer's slot for this pair (overwrites the oldest)
        s_mem = jax.tree.map(lambda mem, x: mem.at[newest].set(x.astype(mem.dtype)), state.diff_params_memory, s)
        y_mem = jax.tree.map(lambda mem, x: mem.at[newest].set(x.astype(mem.dtype)), state.diff_updates_memory, y)
        rhos = state.weights_memory.at[newest].set(rho)
        # 2. gamma: the scale of H_0
        g_norm = jnp.sqrt(_tree.squared_norm(jax.lax.stop_gradient(updates))).astype(dt)
        capped = jnp.minimum(1.0, 1 / g_norm).astype(dt)
        if scale_init_precond:
            gamma = jnp.where(yy > 0, sy / jnp.where(yy > 0, yy, 1), 1.0)
            gamma = jnp.where(started, gamma, capped).astype(dt)
        else:
            gamma = jnp.ones([], dt)
        # 3. H g by the two-loop recursion, slots oldest to newest
        order = (k + jnp.arange(m)) % m
        q = jax.tree.map(_tree.up, updates)
        r = _two_loop(q, s_mem, y_mem, rhos, gamma, order)
        u = jax.tree.map(lambda x, g: x.astype(g.dtype), r, updates)
        new_state = ScaleByLBFGSState(
            count=safe_increment(k),
            params=params,
            updates=updates,
            diff_params_memory=s_mem,
            diff_updates_memory=y_mem,
            weights_memory=rhos,
        )
        return u, new_state

    return GradientTransformation(init, update)
