"""MADGRAD: dual averaging with a cube-root AdaGrad scaling and momentum by iterate averaging."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class MadgradState(NamedTuple):
    """State of :func:`scale_by_madgrad` (optax's fields): count, ``G_k``, ``s_k`` and the initial params ``x0``."""

    count: Any
    grad_sum_sq: Any
    s: Any
    x0: Any


def scale_by_madgrad(learning_rate, momentum=0.9, eps=1e-6) -> GradientTransformation:
    """MADGRAD's step, as the change of the parameters (the learning rate is inside).

    Update rule (Defazio & Jelassi, Algorithm 1), ``k = count``, ``x`` the
    params, ``x0`` the params at ``init``::

        lambda_k = (learning_rate(k) + eps) * sqrt(k + 1)
        G <- G + lambda_k * g**2
        s <- s + lambda_k * g
        z = x0 - s / (cbrt(G) + eps)
        u = (1 - momentum) * z + momentum * x - x      # x_{k+1} - x_k

    Conventions: as ``optax.contrib.scale_by_madgrad`` (arguments, defaults,
    state fields), which adds ``eps`` to the learning rate as the reference
    PyTorch code does. The rule is defined on iterates, so this transform
    returns the parameter change itself: chain nothing after it (no
    ``scale_by_learning_rate``). Real parameters only.

    Args:
        learning_rate: ``>= 0``: number, array or schedule of the count.
        momentum: iterate-averaging weight in ``[0, 1)``.
        eps: ``> 0``, in the learning rate and the denominator.

    State: :class:`MadgradState` ``(count, grad_sum_sq, s, x0)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_madgrad(0.1, momentum=0.0, eps=0.0)
        >>> p = jnp.zeros(1)
        >>> t.update(jnp.array([8.0]), t.init(p), p)[0]  # -(0.1*8) / cbrt(0.1*64)
        Array([-0.4309], dtype=float32)

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized,
        Adaptive, Dual Averaged Gradient Method for Stochastic Optimization",
        JMLR 2022.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    check_number("eps", eps, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_madgrad", "the parameter", params)
        return MadgradState(
            count=zero_count(),
            grad_sum_sq=_tree.zeros_like(params),
            s=_tree.zeros_like(params),
            x0=jax.tree.map(lambda x: x, params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        eps_, m = value_at(eps, None), value_at(momentum, None)
        lam = (value_at(learning_rate, state.count) + eps_) * jnp.sqrt(safe_increment(state.count).astype(jnp.float32))

        def leaf(g, G, s, x0, x):
            G = G + lam * g * g
            s = s + lam * g
            z = x0 - s / (jnp.cbrt(G) + eps_)
            return (1 - m) * z + m * x - x, G, s, x0

        u, (G, s, _) = _tree.map_moments(
            "scale_by_madgrad", leaf, updates, params=params, grad_sum_sq=state.grad_sum_sq, s=state.s, x0=state.x0
        )
        return u, MadgradState(count=safe_increment(state.count), grad_sum_sq=G, s=s, x0=state.x0)

    return GradientTransformation(init, update)
