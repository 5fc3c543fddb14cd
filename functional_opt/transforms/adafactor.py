"""Adafactor's scaling: factored second moments (row and column statistics) for matrices."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt.flat import check_not_flat
from functional_opt import _tree
from functional_opt._hparams import (
    check_int,
    check_number,
    compute_dtype,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation, stateless


def _factored_dims(shape, factored: bool, min_dim_size_to_factor: int):
    """The two largest axes ``(d1, d0)`` (``d0`` the largest), or ``None``."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape, kind="stable")
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


class FactoredState(NamedTuple):
    """State of :func:`scale_by_factored_rms`.

    ``count`` is the int32 step count. For a factored leaf, ``v_row`` holds
    the moving average of ``g**2 + epsilon`` averaged over its largest axis
    and ``v_col`` over its second largest, and ``v`` is a 1-element
    placeholder; for any other leaf ``v`` is the full moving average and the
    two others are placeholders.
    """

    count: Any
    v_row: Any
    v_col: Any
    v: Any


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate=0.8,
    step_offset=0,
    min_dim_size_to_factor: int = 128,
    epsilon=1e-30,
) -> GradientTransformation:
    """Divide by a factored estimate of the root mean square of the gradients.

    Update rule (Shazeer & Stern, Algorithms 4 and 5), ``t = count + 1 - step_offset``::

        beta2_t = 1 - t ** (-decay_rate)
        G2 = g**2 + epsilon
        # matrix (factored): row / column averages, d0 the largest axis
        R <- beta2_t * R + (1 - beta2_t) * mean(G2, axis=d0)
        C <- beta2_t * C + (1 - beta2_t) * mean(G2, axis=d1)
        V = outer(R, C) / mean(R)
        # vector, scalar, or a matrix with a small side: the full average
        V <- beta2_t * V + (1 - beta2_t) * G2
        u <- g / sqrt(V)

    For an ``n x m`` matrix the state is ``n + m`` numbers instead of ``n m``.
    With means instead of the paper's sums the reconstruction
    ``R C / (1^T R)`` is the same. The decay ``beta2_t`` grows towards 1, so
    the first step is a pure ``g / sqrt(g**2 + epsilon)``.

    Conventions: ``epsilon`` is added to ``g**2`` (paper, optax). A leaf is
    factored only if its two largest axes both have at least
    ``min_dim_size_to_factor`` entries (optax's rule; the paper factors every
    matrix: use ``min_dim_size_to_factor=1``); for rank > 2 the two largest
    axes are factored and the statistics keep the other axes.

    Args:
        factored: use factored statistics where the shape allows.
        decay_rate: the exponent ``> 0`` of the decay schedule (0.8 in the paper).
        step_offset: subtracted from the step (to restart the schedule when
            fine-tuning); a number or array.
        min_dim_size_to_factor: int ``>= 1`` (see above).
        epsilon: ``>= 0``, the paper's ``epsilon_1``.

    State: :class:`FactoredState` ``(count, v_row, v_col, v)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_factored_rms(min_dim_size_to_factor=1)
        >>> s = t.init(jnp.zeros((2, 3)))
        >>> s.v_row.shape, s.v_col.shape
        ((2,), (3,))
        >>> u, s = t.update(jnp.full((2, 3), -4.0), s)
        >>> u[0]
        Array([-1., -1., -1.], dtype=float32)

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear
        Memory Cost", ICML 2018.
    """
    check_number("decay_rate", decay_rate, low=0.0, low_inclusive=False)
    check_number("step_offset", step_offset)
    check_int("min_dim_size_to_factor", min_dim_size_to_factor, low=1)
    check_number("epsilon", epsilon, low=0.0)

    def init(params):
        check_not_flat(params, "scale_by_factored_rms")
        def leaf(p):
            shape, dt = jnp.shape(p), jnp.finfo(jnp.result_type(p)).dtype
            dims = _factored_dims(shape, factored, min_dim_size_to_factor)
            one = jnp.zeros((1,), dt)
            if dims is None:
                return one, one, jnp.zeros(shape, dt)
            d1, d0 = dims
            row = tuple(s for i, s in enumerate(shape) if i != d0)
            col = tuple(s for i, s in enumerate(shape) if i != d1)
            return jnp.zeros(row, dt), jnp.zeros(col, dt), one

        treedef = jax.tree.structure(params)
        v_row, v_col, v = _tree.unzip(jax.tree.map(leaf, params), treedef, 3)
        return FactoredState(count=zero_count(), v_row=v_row, v_col=v_col, v=v)

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_factored_rms")
        del params, extra_args
        t = state.count.astype(jnp.float32) + 1 - value_at(step_offset, None, jnp.float32)
        beta2 = 1 - t ** (-value_at(decay_rate, None, jnp.float32))
        eps_ = value_at(epsilon, None)

        def leaf(g, v_row, v_col, v):
            dt = compute_dtype(g.dtype, v.dtype)
            g_ = g.astype(dt)
            g2 = _tree.abs_sq(g_) + eps_
            dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
            if dims is None:
                v_new = v.astype(dt) + (1 - beta2) * (g2 - v.astype(dt))
                u = g_ * jax.lax.rsqrt(v_new)
                return u.astype(g.dtype), v_row, v_col, v_new.astype(v.dtype)
            d1, d0 = dims
            r, c = v_row.astype(dt), v_col.astype(dt)
            r = r + (1 - beta2) * (jnp.mean(g2, axis=d0) - r)
            c = c + (1 - beta2) * (jnp.mean(g2, axis=d1) - c)
            r_axis = d1 - 1 if d1 > d0 else d1  # d1's position once d0 is gone
            row_factor = jax.lax.rsqrt(r / jnp.mean(r, axis=r_axis, keepdims=True))
            u = g_ * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(jax.lax.rsqrt(c), d1)
            return u.astype(g.dtype), r.astype(v_row.dtype), c.astype(v_col.dtype), v

        out = jax.tree.map(leaf, updates, state.v_row, state.v_col, state.v)
        u, v_row, v_col, v = _tree.unzip(out, jax.tree.structure(updates), 4)
        return u, FactoredState(count=safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)

    return GradientTransformation(init, update)


def _rms(x: jax.Array) -> jax.Array:
    x = x.astype(compute_dtype(x.dtype))
    return jnp.sqrt(jnp.mean(_tree.abs_sq(x)))


def _clip_by_block_rms(threshold) -> GradientTransformation:
    """Per leaf ``u <- u / max(1, rms(u) / threshold)`` (the paper's update clipping ``d``)."""

    def f(updates, params):
        del params
        d = value_at(threshold, None)
        return jax.tree.map(lambda u: (u / jnp.maximum(1.0, _rms(u) / d)).astype(u.dtype), updates)

    return stateless(f)


def _scale_by_param_block_rms(min_scale=1e-3) -> GradientTransformation:
    """Per leaf ``u <- max(rms(param), min_scale) * u`` (the paper's relative step, ``epsilon_2``)."""

    def f(updates, params):
        if params is None:
            raise ValueError("adafactor with multiply_by_parameter_scale needs params: call update(g, state, params)")
        return jax.tree.map(lambda u, p: (u * jnp.maximum(_rms(p), min_scale)).astype(u.dtype), updates, params)

    return stateless(f)


class RelativeStepSizeState(NamedTuple):
    """State of the relative step size: the int32 count."""

    count: Any


def _scale_by_relative_step_size() -> GradientTransformation:
    """``u <- min(1e-2, 1 / sqrt(t)) * u`` with ``t = count + 1`` (the paper's ``rho_t``)."""

    def init(params):
        del params
        return RelativeStepSizeState(count=zero_count())

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        t = state.count.astype(jnp.float32) + 1
        rho = jnp.minimum(1e-2, jax.lax.rsqrt(t))
        u = jax.tree.map(lambda x: (x * rho.astype(compute_dtype(x.dtype))).astype(x.dtype), updates)
        return u, RelativeStepSizeState(count=safe_increment(state.count))

    return GradientTransformation(init, update)

