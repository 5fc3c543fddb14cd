"""AdaBelief: Adam whose denominator tracks the belief in the gradient, ``(g - mu)**2``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_moment_args, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByBeliefState(NamedTuple):
    """State of :func:`scale_by_belief`: count, ``mu`` and ``nu`` (the ``s_t`` of the paper)."""

    count: Any
    mu: Any
    nu: Any


def scale_by_belief(
    b1=0.9,
    b2=0.999,
    eps=1e-16,
    eps_root=1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with AdaBelief.

    Update rule, ``t = count + 1`` (the paper's Algorithm 2)::

        mu <- b1 * mu + (1 - b1) * g
        nu <- b2 * nu + (1 - b2) * (g - mu)**2 + eps_root      (s_t, kept in the state)
        mu_hat = mu / (1 - b1**t),   nu_hat = nu / (1 - b2**t)
        u = mu_hat / (sqrt(nu_hat) + eps)

    Conventions: ``eps_root`` is added to the state itself at every step, as
    the paper's ``s_t = ... + eps`` and the authors' code do; optax agrees
    (torch has no AdaBelief). The paper uses one ``eps`` for both places;
    here, as in optax, they are two arguments with the same default 1e-16.
    ``nesterov=True`` uses the NAdam-style first moment of optax.

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: decay of ``nu`` in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, outside the square root.
        eps_root: ``>= 0``, added to ``nu`` at every step.
        nesterov: Nesterov first-moment estimate.
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        nu_dtype: dtype of ``nu``; default the param's real dtype. The update
            is computed in at least float32 whatever the stored dtypes.

    State: :class:`ScaleByBeliefState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_belief()
        >>> u, s = t.update(jnp.array([2.0]), t.init(jnp.zeros(1)))
        >>> u.round(4)  # mu_hat = 2, nu_hat = (2 - 0.2)**2: 2 / 1.8
        Array([1.1111], dtype=float32)

    References:
        Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief
        in Observed Gradients", NeurIPS 2020.
    """
    mu_dtype, nu_dtype = check_moment_args(b1, b2, eps, mu_dtype, nu_dtype, eps_root)

    def init(params):
        mu = _tree.zeros_like(params, mu_dtype)
        return ScaleByBeliefState(count=zero_count(), mu=mu, nu=_tree.real_dtype_zeros(params, nu_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g - mu), k2.omb) + eps_root_
            mu_hat = _tree.mu_hat(mu, g, k1, nesterov)
            return mu_hat / (jnp.sqrt(nu * k2.c) + eps_), mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_belief", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByBeliefState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
