"""COCOB-Backprop: learning-rate-free coin betting, one bettor per coordinate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation


class COCOBState(NamedTuple):
    """State of :func:`scale_by_cocob` (optax's fields): ``w1``, ``theta``, ``L``, ``G``, ``reward``."""

    init_particles: Any
    cumulative_gradients: Any
    scale: Any
    subgradients: Any
    reward: Any


def scale_by_cocob(alpha=100.0, eps=1e-8) -> GradientTransformation:
    """COCOB-Backprop's step, as the change of the parameters.

    Update rule (Orabona & Tommasi, Algorithm 2), per coordinate, ``w`` the
    params, ``w1`` the params at ``init``::

        L <- max(L, |g|)                 (L starts at eps)
        G <- G + |g|
        reward <- max(reward - g * (w - w1), 0)
        theta <- theta - g
        u = w1 + theta / (L * max(G + L, alpha * L)) * (L + reward) - w

    Conventions: as ``optax.contrib.scale_by_cocob`` (arguments, defaults,
    state fields). The rule sets the next iterate, so the transform returns
    ``w_{t+1} - w_t`` and needs ``params``; scale the *gradient* before it
    (``cocob`` chains ``scale_by_learning_rate(lr, flip_sign=False)`` first,
    as optax).

    Args:
        alpha: ``> 0``, caps the bet early on (the paper's 100).
        eps: ``> 0``, the initial ``L``.

    State: :class:`COCOBState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_cocob(alpha=1.0)
        >>> p = jnp.zeros(1)
        >>> t.update(jnp.array([2.0]), t.init(p), p)[0]  # -2 / (2 * 4) * 2
        Array([-0.5], dtype=float32)

    References:
        Orabona & Tommasi, "Training Deep Networks without Learning Rates
        Through Coin Betting", NeurIPS 2017.
    """
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    check_number("eps", eps, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_cocob", "the parameter", params)
        zeros = _tree.zeros_like(params)
        return COCOBState(
            init_particles=params,
            cumulative_gradients=zeros,
            scale=_tree.full_like(params, eps),
            subgradients=zeros,
            reward=zeros,
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        a = value_at(alpha, None)

        def leaf(g, L, G, R, theta, w1, w):
            L = jnp.maximum(L, jnp.abs(g))
            G = G + jnp.abs(g)
            R = jnp.maximum(R - g * (w - w1), 0)
            theta = theta - g
            return w1 + theta / (L * jnp.maximum(G + L, a * L)) * (L + R) - w, L, G, R, theta, w1

        u, (L, G, R, theta, _) = _tree.map_moments(
            "scale_by_cocob",
            leaf,
            updates,
            params=params,
            scale=state.scale,
            subgradients=state.subgradients,
            reward=state.reward,
            cumulative_gradients=state.cumulative_gradients,
            init_particles=state.init_particles,
        )
        return u, COCOBState(
            init_particles=state.init_particles,
            cumulative_gradients=theta,
            scale=L,
            subgradients=G,
            reward=R,
        )

    return GradientTransformation(init, update)
