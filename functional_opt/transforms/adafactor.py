"""Adafactor's scaling: factored second moments (row and column statistics) for matrices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation, stateless
from functional_opt.flat import check_not_flat


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
    decay_rate_fn: Callable[[Any, Any], Any] | None = None,
) -> GradientTransformation:
    """Divide by a factored estimate of the root mean square of the gradients.

    Update rule (Shazeer & Stern, Algorithms 4 and 5), ``t = count + 1 - step_offset``::

        beta2_t = 1 - t ** (-decay_rate)
        G2 = |g|**2 + epsilon
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
        decay_rate_fn: optional ``(i, decay_rate) -> beta2_t`` with the 0-based
            ``i = count - step_offset`` (optax's argument), replacing the
            schedule above; ``None`` is the schedule above, with ``1 - beta2_t``
            formed directly as ``t ** (-decay_rate)`` (no cancellation).
        step_offset: subtracted from the step (to restart the schedule when
            fine-tuning); a number or array.
        min_dim_size_to_factor: int ``>= 1`` (see above).
        epsilon: ``>= 0``, the paper's ``epsilon_1``.

    State: :class:`FactoredState` ``(count, v_row, v_col, v)``.

    Examples:
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

        def shapes(shape):  # of (R, C, V) for one leaf; the unused ones are 1-element placeholders
            dims = _factored_dims(shape, factored, min_dim_size_to_factor)
            if dims is None:
                return (1,), (1,), shape
            d1, d0 = dims
            return shape[:d0] + shape[d0 + 1 :], shape[:d1] + shape[d1 + 1 :], (1,)

        def zeros(i):  # an unfactored (param-shaped) v keeps p's sharding
            def leaf(p):
                shape = shapes(tuple(jnp.shape(p)))[i]
                if shape == tuple(jnp.shape(p)):
                    return _tree.real_dtype_zeros(p)
                return jnp.zeros(shape, jnp.finfo(jnp.result_type(p)).dtype)

            return jax.tree.map(leaf, params)

        return FactoredState(count=zero_count(), v_row=zeros(0), v_col=zeros(1), v=zeros(2))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_factored_rms")
        del params, extra_args
        t = state.count.astype(jnp.float32) + 1 - value_at(step_offset, None, jnp.float32)
        if decay_rate_fn is None:
            omb = t ** (-value_at(decay_rate, None, jnp.float32))  # 1 - beta2_t
        else:
            i = state.count - jnp.asarray(step_offset)
            omb = 1.0 - jnp.asarray(decay_rate_fn(i, decay_rate), jnp.float32)
        eps_ = value_at(epsilon, None)

        def leaf(g, R, C, V):
            G2 = _tree.abs_sq(g) + eps_
            dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
            if dims is None:
                V = _tree.ema(V, G2, omb)
                return g * jax.lax.rsqrt(V), R, C, V
            d1, d0 = dims
            R = _tree.ema(R, jnp.mean(G2, axis=d0), omb)
            C = _tree.ema(C, jnp.mean(G2, axis=d1), omb)
            r_axis = d1 - 1 if d1 > d0 else d1  # d1's position in R once d0 is gone
            # 1 / sqrt(V) = 1 / sqrt(outer(R, C) / mean(R)), without forming V
            row_factor = jax.lax.rsqrt(R / jnp.mean(R, axis=r_axis, keepdims=True))
            return g * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(jax.lax.rsqrt(C), d1), R, C, V

        u, (v_row, v_col, v) = _tree.map_moments(
            "scale_by_factored_rms", leaf, updates, v_row=state.v_row, v_col=state.v_col, v=state.v, check_shapes=False
        )
        return u, FactoredState(count=safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)

    return GradientTransformation(init, update)


def scale_by_param_block_rms(min_scale=1e-3) -> GradientTransformation:
    """Scale each leaf's update by the root mean square of its parameter (Adafactor's relative step).

    Update rule, for each leaf ``u`` and its parameter ``X`` separately::

        u <- max(rms(X), min_scale) * u,      rms(X) = sqrt(mean(|X|**2))

    so the step is relative to the parameter's scale (Shazeer & Stern's
    ``max(epsilon_2, RMS(X))``), and never 0 for a zero-initialised leaf.

    Args:
        min_scale: ``>= 0``, the floor ``epsilon_2`` (number or array).

    State: :class:`~functional_opt.EmptyState`. Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from functional_opt.transforms.adafactor import scale_by_param_block_rms
        >>> t = scale_by_param_block_rms()
        >>> p = jnp.array([3.0, -3.0])
        >>> t.update(jnp.ones(2), t.init(p), p)[0]
        Array([3., 3.], dtype=float32)

    References:
        optax.scale_by_param_block_rms; Shazeer & Stern, "Adafactor: Adaptive
        Learning Rates with Sublinear Memory Cost", ICML 2018.
    """
    check_number("min_scale", min_scale, low=0.0)

    def f(updates, params):
        def leaf(u, X):
            return (jnp.maximum(jnp.sqrt(jnp.mean(_tree.abs_sq(X))), min_scale) * u,)

        return _tree.map_moments("scale_by_param_block_rms", leaf, updates, params=params)[0]

    return stateless(f)
