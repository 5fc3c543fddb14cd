"""ACProp: AdaBelief's centred second moment, applied asynchronously (the previous step's)."""

from __future__ import annotations

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.transforms.belief import ScaleByBeliefState


def scale_by_acprop(b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16) -> GradientTransformation:
    """Rescale updates as ACProp: the gradient over the previous step's centred second moment.

    Update rule (optax's ``scale_by_acprop``), ``t = count`` before the step::

        u = g / (sqrt(s_hat) + eps),   s_hat = s / (1 - b2**t)   (s_hat = 1 on the first step)
        s <- b2 * s + (1 - b2) * (g - mu)**2 + eps_root      (mu before its update)
        mu <- b1 * mu + (1 - b1) * g

    The denominator uses ``s`` from *before* this gradient (the asynchronous
    update of the paper, which decouples ``g_t`` from its own scale).

    Conventions: as ``optax.contrib.scale_by_acprop`` (arguments, defaults,
    state :class:`~functional_opt.ScaleByBeliefState`). Like optax, the
    numerator is the raw gradient ``g`` and the centring uses the previous
    ``mu``; the paper's Algorithm 2 writes ``m_t`` for both, so chain a
    ``trace``/``ema`` before it for the momentum form.

    Args:
        b1: decay of the gradient average, in ``[0, 1)``.
        b2: decay of the centred second moment, in ``[0, 1)``.
        eps: ``>= 0``, outside the root.
        eps_root: ``>= 0``, added to ``s`` at each step.

    State: :class:`~functional_opt.ScaleByBeliefState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_acprop()
        >>> t.update(jnp.array([3.0]), t.init(jnp.zeros(1)))[0]  # s_hat = 1 on the first step
        Array([3.], dtype=float32)

    References:
        Zhuang et al., "Momentum Centering and Asynchronous Update for
        Adaptive Gradient Methods", NeurIPS 2021.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_acprop", "the parameter", params)
        return ScaleByBeliefState(count=zero_count(), mu=_tree.zeros_like(params), nu=_tree.real_dtype_zeros(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1 = _tree.decay_scalars(b1, state.count)
        k2_prev = _tree.decay_scalars(b2, jnp.maximum(state.count - 1, 0))  # .c = 1 / (1 - b2**count)
        first = state.count == 0
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, mu, s):
            s_hat = jnp.where(first, 1.0, s * k2_prev.c)
            u = g / (jnp.sqrt(s_hat) + eps_)
            s = _tree.ema(s, _tree.abs_sq(g - mu), k2_prev.omb) + eps_root_
            mu = _tree.ema(mu, g, k1.omb)
            return u, mu, s

        u, (mu, nu) = _tree.map_moments("scale_by_acprop", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByBeliefState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
