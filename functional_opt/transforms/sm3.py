"""SM3: an Adagrad-like scaling whose accumulators cost one vector per axis."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt.flat import check_not_flat
from functional_opt import _tree
from functional_opt._hparams import check_number, compute_dtype, one_minus, value_at
from functional_opt.base import GradientTransformation


class ScaleBySM3State(NamedTuple):
    """State of :func:`scale_by_sm3`.

    ``mu``: per leaf, a tuple of one accumulator vector per axis (a scalar
    leaf keeps one scalar), the cover maxima ``mu(r)``; ``nu``: the
    momentum of the scaled updates, shaped like the params.
    """

    mu: Any
    nu: Any


def _axis_shapes(shape):
    if not shape:
        return [()]
    return [(n,) for n in shape]


def scale_by_sm3(b1=0.9, b2=1.0, eps=1e-8) -> GradientTransformation:
    """Rescale updates with SM3-II (covers: the rows, columns, ... of each leaf).

    Update rule per leaf of rank ``k >= 1`` with accumulators ``mu_1..mu_k``
    (``mu_i`` has the length of axis ``i``), broadcast along the other axes::

        v = c * g**2 + b2 * min_i mu_i             (c = 1 if b2 == 1 else 1 - b2)
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

    Example:
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
        def leaf(p):
            dt = jnp.finfo(jnp.result_type(p)).dtype
            return tuple(jnp.zeros(s, dt) for s in _axis_shapes(jnp.shape(p)))

        return ScaleBySM3State(mu=jax.tree.map(leaf, params), nu=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_sm3")
        del params, extra_args
        beta2 = value_at(b2, None)
        c = jnp.where(beta2 == 1, 1.0, one_minus(b2, None))
        omb1 = one_minus(b1, None)
        eps_ = value_at(eps, None)

        def leaf(g, mu, nu):
            dt = compute_dtype(g.dtype, nu.dtype, *(m.dtype for m in mu))
            g_ = g.astype(dt)
            k = g_.ndim
            if k == 0:
                prev = mu[0].astype(dt)
            else:
                expanded = [
                    jnp.reshape(m.astype(dt), [1] * i + [g_.shape[i]] + [1] * (k - i - 1))
                    for i, m in enumerate(mu)
                ]
                prev = functools.reduce(jnp.minimum, expanded)
            v = c * _tree.abs_sq(g_) + beta2 * prev
            if k == 0:
                mu_new = (v,)
            else:
                mu_new = tuple(
                    jnp.max(v, axis=tuple(a for a in range(k) if a != i)) if k > 1 else v
                    for i in range(k)
                )
            positive = v > 0
            s = jnp.where(positive, g_ * jax.lax.rsqrt(jnp.where(positive, v, 1.0) + eps_), 0.0)
            nu_f = nu.astype(dt)
            nu_new = nu_f + omb1 * (s - nu_f)
            mu_out = tuple(m_new.astype(m.dtype) for m_new, m in zip(mu_new, mu))
            return nu_new.astype(g.dtype), mu_out, nu_new.astype(nu.dtype)

        treedef = jax.tree.structure(updates)
        out = jax.tree.map(leaf, updates, state.mu, state.nu)
        u, mu, nu = _tree.unzip(out, treedef, 3)
        return u, ScaleBySM3State(mu=mu, nu=nu)

    return GradientTransformation(init, update)
