"""AdaMax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.transforms.adam import ScaleByAdamState


def scale_by_adamax(
    b1=0.9, b2=0.999, eps=1e-8, *, mu_dtype: Any = None, nu_dtype: Any = None
) -> GradientTransformation:
    """Rescale updates with AdaMax (Adam's infinity-norm variant).

    Update rule, ``t = count + 1``::

        mu <- b1 * mu + (1 - b1) * g
        nu <- max(b2 * nu, |g| + eps)
        u = mu / ((1 - b1**t) * nu)

    ``nu`` is an exponentially weighted infinity norm and needs no bias
    correction.

    Conventions: ``eps`` sits inside the max (optax and torch agree; the
    paper has no ``eps``, i.e. ``eps=0``, which divides 0 by 0 on a leaf whose
    gradients have all been zero).

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: infinity-norm decay in ``[0, 1]`` (number, array or schedule).
        eps: ``>= 0``, added to ``|g|`` inside the max.
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        nu_dtype: dtype of ``nu``; default the param's real dtype. The update
            is computed in at least float32 whatever the stored dtypes.

    State: :class:`~functional_opt.ScaleByAdamState` ``(count, mu, nu)``, with
    ``nu`` the weighted infinity norm.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_adamax()
        >>> u, s = t.update(jnp.array([2.0, -0.5]), t.init(jnp.zeros(2)))
        >>> u.round(4)  # (0.1 g / 0.1) / |g|
        Array([ 1., -1.], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("b2", b2, low=0.0, high=1.0, allow_schedule=True)
    check_number("eps", eps, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)
    nu_dtype = check_dtype("nu_dtype", nu_dtype)

    def init(params):
        mu = _tree.zeros_like(params, mu_dtype)
        return ScaleByAdamState(count=zero_count(), mu=mu, nu=_tree.real_dtype_zeros(params, nu_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, beta2 = _tree.decay_scalars(b1, state.count), value_at(b2, state.count)
        eps_ = value_at(eps, None)

        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = jnp.maximum(beta2 * nu, jnp.abs(g) + eps_)
            return k1.c * mu / nu, mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_adamax", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByAdamState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
