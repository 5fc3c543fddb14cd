"""Adadelta's scaling: the ratio of two running RMS values, units-correct."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, one_minus, value_at
from functional_opt.base import GradientTransformation


class ScaleByAdaDeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`: ``E[g^2]`` and ``E[dx^2]``."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho=0.9, eps=1e-6) -> GradientTransformation:
    """Rescale updates with Adadelta (Zeiler's Algorithm 1, without the sign).

    Update rule::

        e_g <- rho * e_g + (1 - rho) * g**2
        u   = sqrt(e_x + eps) / sqrt(e_g + eps) * g        (e_x of the previous step)
        e_x <- rho * e_x + (1 - rho) * u**2

    The descent sign is applied afterwards by
    :func:`~functional_opt.scale_by_learning_rate` (the optimizer
    :func:`~functional_opt.adadelta` uses a learning rate of 1.0, which is the
    paper's method). The paper, optax and torch agree on this rule and on
    ``eps`` inside both roots; defaults ``rho=0.9, eps=1e-6`` follow optax and
    torch (the paper's experiments used ``rho=0.95``).

    Args:
        rho: decay of both running averages, in ``[0, 1]`` (number, array).
        eps: ``> 0``: inside both roots; it also sets the size of the first steps.

    State: :class:`ScaleByAdaDeltaState` ``(e_g, e_x)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_adadelta(rho=0.9, eps=1e-6)
        >>> u, s = t.update(jnp.array([1.0]), t.init(jnp.zeros(1)))
        >>> (u * 1e3).round(3)  # sqrt(1e-6) / sqrt(0.1 + 1e-6)
        Array([3.162], dtype=float32)

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.
    """
    check_number("rho", rho, low=0.0, high=1.0)
    check_number("eps", eps, low=0.0, low_inclusive=False)

    def init(params):
        z = _tree.real_dtype_zeros(params)
        return ScaleByAdaDeltaState(e_g=z, e_x=z)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        omr, eps_ = one_minus(rho, None), value_at(eps, None)

        def leaf(g, e_g, e_x):
            e_g = _tree.ema(e_g, _tree.abs_sq(g), omr)
            u = jnp.sqrt(e_x + eps_) * jax.lax.rsqrt(e_g + eps_) * g
            e_x = _tree.ema(e_x, _tree.abs_sq(u), omr)
            return u, e_g, e_x

        u, (e_g, e_x) = _tree.map_moments("scale_by_adadelta", leaf, updates, e_g=state.e_g, e_x=state.e_x)
        return u, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init, update)
