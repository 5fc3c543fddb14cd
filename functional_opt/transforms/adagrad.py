"""Adagrad's scaling: divide by the root of the sum of all past squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared gradients."""

    sum_of_squares: Any


def scale_by_rss(
    initial_accumulator_value=0.1,
    eps=1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    """Divide the updates by the root of the sum of squared gradients (Adagrad).

    Update rule::

        G <- G + g**2                              (G starts at initial_accumulator_value)
        u = g / sqrt(G + eps)     if G > 0 else 0  (eps_in_sqrt=True: optax)
        u = g / (sqrt(G) + eps)   if G > 0 else 0  (eps_in_sqrt=False: torch, the paper's delta)

    Conventions:

    =======================  =============  =============  =============  ===========
    choice                   this library   optax          torch          paper
    =======================  =============  =============  =============  ===========
    initial ``G``            0.1            0.1            0              0
    eps                      1e-7           1e-7           1e-10          ``delta``
    eps placement            inside sqrt    inside sqrt    outside sqrt   outside
    =======================  =============  =============  =============  ===========

    ``torch.optim.Adagrad`` is ``initial_accumulator_value=0, eps=1e-10,
    eps_in_sqrt=False`` (its ``lr_decay`` is a learning-rate schedule
    ``lr / (1 + count * lr_decay)``). Where ``G == 0`` (an entry whose
    gradients have all been zero, with a zero initial value) the update is 0
    rather than ``0 / 0``.

    Args:
        initial_accumulator_value: initial ``G``, ``>= 0``.
        eps: ``>= 0``, see the table for where it goes.
        eps_in_sqrt: ``eps`` inside (optax) or outside (torch, paper) the root.

    State: :class:`ScaleByRssState` ``(sum_of_squares,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.array([3.0]), s)
        >>> u, s = t.update(jnp.array([4.0]), s)
        >>> u  # 4 / sqrt(9 + 16)
        Array([0.8], dtype=float32)

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
        Learning and Stochastic Optimization", JMLR 2011.
    """
    check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)
    check_number("eps", eps, low=0.0)

    def init(params):
        return ScaleByRssState(sum_of_squares=_tree.real_dtype_full(params, initial_accumulator_value))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        eps_ = value_at(eps, None)

        def leaf(g, G):
            G = G + _tree.abs_sq(g)
            positive = G > 0
            safe = jnp.where(positive, G, 1.0)
            u = g * jax.lax.rsqrt(safe + eps_) if eps_in_sqrt else g / (jnp.sqrt(safe) + eps_)
            return jnp.where(positive, u, 0.0), G

        u, (G,) = _tree.map_moments("scale_by_rss", leaf, updates, sum_of_squares=state.sum_of_squares)
        return u, ScaleByRssState(sum_of_squares=G)

    return GradientTransformation(init, update)
