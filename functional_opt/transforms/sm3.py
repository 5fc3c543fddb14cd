"""SM3: an Adagrad-like scaling whose accumulators cost one vector per axis."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, one_minus, value_at
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat


class ScaleBySM3State(NamedTuple):
    """State of :func:`scale_by_sm3`.

    ``mu``: per leaf, a tuple of one accumulator vector per axis (a scalar
    leaf keeps one scalar), the cover maxima ``mu(r)``; ``nu``: the
    momentum of the scaled updates, shaped like the params.
    """

    mu: Any
    nu: Any


def _axis_shapes(shape):
    return [(n,) for n in shape] or [()]


def _cover_min(mu, shape):
    """``min_i mu_i``, each ``mu_i`` broadcast along the other axes (a scalar leaf: its one accumulator)."""
    if not shape:
        return mu[0]
    k = len(shape)
    return functools.reduce(jnp.minimum, [jnp.reshape(m, [1] * i + [-1] + [1] * (k - i - 1)) for i, m in enumerate(mu)])


def _cover_max(v):
    """``mu_i = max of v over every axis but i``, for each axis ``i`` (a scalar leaf: ``v`` itself)."""
    if v.ndim <= 1:
        return (v,)
    return tuple(jnp.max(v, axis=tuple(a for a in range(v.ndim) if a != i)) for i in range(v.ndim))


def scale_by_sm3(b1=0.9, b2=1.0, eps=1e-8) -> GradientTransformation:
    """Rescale updates with SM3-II (covers: the rows, columns, ... of each leaf).

    Update rule per leaf of rank ``k >= 1`` with accumulators ``mu_1..mu_k``
    (``mu_i`` has the length of axis ``i``), broadcast along the other axes::

        v = c * |g|**2 + b2 * min_i mu_i             (c = 1 if b2 == 1 else 1 - b2)
        mu_i <- max of v over every axis but i
        s = g / sqrt(v + eps)   where v > 0, else 0
        nu <- b1 * nu + (1 - b1) * s
        u = nu

    A scalar leaf keeps one scalar accumulator (``mu`` = ``v``). With
    ``b2 = 1`` (default) ``v`` is the paper's sum of squares over the cover,
    so memory is ``sum(shape)`` per leaf instead of ``prod(shape)``.

    Conventions: the same rule as optax's ``scale_by_sm3`` (which fails on
    scalar leaves); the momentum is an exponential moving average of the
    scaled gradient, as optax; ``b1 = 0`` gives plain SM3-II.

    Args:
        b1: momentum in ``[0, 1]`` (number or array).
        b2: ``1`` for sums (the paper), or a decay in ``[0, 1)`` (number or array).
        eps: ``>= 0``, inside the square root.

    State: :class:`ScaleBySM3State` ``(mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_sm3(b1=0.0, eps=0.0)
        >>> u, s = t.update(jnp.array([[3.0, -4.0]]), t.init(jnp.zeros((1, 2))))
        >>> u  # g / |g| at the first step
        Array([[ 1., -1.]], dtype=float32)
        >>> [m.shape for m in s.mu]  # one vector per axis
        [(1,), (2,)]

    References:
        Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive
        Optimization", NeurIPS 2019.
    """
    check_number("b1", b1, low=0.0, high=1.0)
    check_number("b2", b2, low=0.0, high=1.0)
    check_number("eps", eps, low=0.0)

    def init(params):
        check_not_flat(params, "scale_by_sm3")

        def accumulators(p):  # one real vector per axis; a param-shaped one (1-D, scalar) keeps p's sharding
            dt = jnp.finfo(jnp.result_type(p)).dtype
            return tuple(
                _tree.real_dtype_zeros(p) if a == jnp.shape(p) else jnp.zeros(a, dt) for a in _axis_shapes(jnp.shape(p))
            )

        return ScaleBySM3State(mu=jax.tree.map(accumulators, params), nu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_sm3")
        del params, extra_args
        _tree.check_same_shapes("scale_by_sm3", "updates", updates, "state.nu", state.nu)  # (mu: one per axis)
        beta2, omb1, eps_ = value_at(b2, None), one_minus(b1, None), value_at(eps, None)
        c = jnp.where(beta2 == 1, 1.0, one_minus(b2, None))

        def leaf(g, mu, nu):
            v = c * _tree.abs_sq(g) + beta2 * _cover_min(mu, g.shape)
            positive = v > 0
            s = jnp.where(positive, g * jax.lax.rsqrt(jnp.where(positive, v, 1.0) + eps_), 0.0)
            nu = _tree.ema(nu, s, omb1)
            return nu, _cover_max(v), nu

        u, (mu, nu) = _tree.map_moments("scale_by_sm3", leaf, updates, mu=state.mu, nu=state.nu, check_shapes=False)
        return u, ScaleBySM3State(mu=mu, nu=nu)

    return GradientTransformation(init, update)
