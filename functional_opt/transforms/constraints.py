"""Constraints on the updates: keep the parameters non-negative, replace NaN gradients by zero."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt.base import EmptyState, GradientTransformation

NonNegativeParamsState = EmptyState
"""State of :func:`keep_params_nonnegative`: :class:`~functional_opt.EmptyState` itself (optax's alias)."""


def keep_params_nonnegative() -> GradientTransformation:
    """Change the updates so that the parameters stay ``>= 0`` after ``apply_updates``.

    Update rule, per entry::

        u <- -p   if p + u < 0   else u

    so a step that would cross zero lands exactly on zero. Put it last in a
    chain (after the learning rate), since it constrains the final update.
    Parameters that are already negative are moved to zero.

    Conventions: as optax's ``keep_params_nonnegative``; ``p + u`` is formed
    in at least float32. For a projection of arbitrary parameters (not of
    the update), see the projection functions.

    State: :class:`~functional_opt.EmptyState` (``NonNegativeParamsState``).
    Needs ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.keep_params_nonnegative()
        >>> p = jnp.array([1.0, 0.5, 2.0])
        >>> t.update(jnp.array([-2.0, -0.1, 1.0]), t.init(p), p)[0]
        Array([-1. , -0.1,  1. ], dtype=float32)

    References:
        optax.keep_params_nonnegative.
    """

    def init(params):
        del params
        return NonNegativeParamsState()

    def update(updates, state, params=None, **extra_args):
        del extra_args

        def leaf(u, p):
            return (jnp.where(p + u < 0, -p, u),)

        u, _ = _tree.map_moments("keep_params_nonnegative", leaf, updates, params=params)
        return u, state

    return GradientTransformation(init, update)


class ZeroNansState(NamedTuple):
    """State of :func:`zero_nans`.

    ``found_nan``: a tree with the params' structure, one bool scalar per
    leaf, true iff that leaf's last update held a NaN (optax's field).
    """

    found_nan: Any


def zero_nans() -> GradientTransformation:
    """Replace every NaN in the updates by zero, and record which leaves had one.

    Update rule, per leaf::

        found_nan <- any(isnan(g))
        u <- where(isnan(g), 0, g)

    Infinities pass unchanged (see :func:`apply_if_finite` to skip such
    steps). The state is only a report for the user; it is not read.

    Conventions: as optax's ``zero_nans``.

    State: :class:`ZeroNansState` ``(found_nan,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.zero_nans()
        >>> u, s = t.update({"w": jnp.array([1.0, jnp.nan])}, t.init({"w": jnp.zeros(2)}))
        >>> u["w"], bool(s.found_nan["w"])
        (Array([1., 0.], dtype=float32), True)

    References:
        optax.zero_nans.
    """

    def init(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.zeros((), bool), params))

    def update(updates, state, params=None, **extra_args):
        del state, params, extra_args

        def leaf(g):
            nan = jnp.isnan(g)
            return jnp.where(nan, jnp.zeros_like(g), g), jnp.any(nan)

        u, (found_nan,) = _tree.map_moments("zero_nans", leaf, updates)
        return u, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init, update)
