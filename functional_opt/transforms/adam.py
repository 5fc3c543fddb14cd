"""Adam's scaling: bias-corrected first moment over the root of the second."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_moment_args, concrete_scalar, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: the int32 count and the two moments."""

    count: Any
    mu: Any
    nu: Any


def scale_by_adam(
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with Adam's bias-corrected moment estimates.

    Update rule (the tutorial's, Kingma & Ba's Algorithm 1), ``t = count + 1``::

        mu <- b1 * mu + (1 - b1) * g
        nu <- b2 * nu + (1 - b2) * g**2
        mu_hat = mu / (1 - b1**t)
        nu_hat = nu / (1 - b2**t)
        u <- mu_hat / (sqrt(nu_hat + eps_root) + eps)

    With ``nesterov=True`` (Dozat's NAdam form, as optax):
    ``mu_hat = b1 * mu / (1 - b1**(t+1)) + (1 - b1) * g / (1 - b1**t)``.

    Conventions: ``eps`` is outside the square root (the paper, optax and
    torch agree); ``eps_root`` inside it (0 by default; set it > 0 when
    differentiating through the optimizer). Bias-correction powers are
    computed in at least float32 whatever the moment dtype.

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, added to the denominator outside the root.
        eps_root: ``>= 0``, added inside the root.
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16`` to save memory);
            default the param dtype.
        nesterov: use the Nesterov (NAdam) first-moment estimate.
        nu_dtype: dtype of ``nu``; default the param dtype.

    State: :class:`ScaleByAdamState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_adam()
        >>> u, s = t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))
        >>> u  # the first Adam step is sign(g) (up to eps)
        Array([ 1., -1.], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """
    mu_dtype, nu_dtype = check_moment_args(b1, b2, eps, mu_dtype, nu_dtype, eps_root)
    # 0 / 0 is possible only when eps may be 0 (a Python 0, an array or a tracer);
    # a positive Python eps needs no guard (one op less per leaf)
    guard_zero = not (concrete_scalar(eps) or 0.0) > 0.0

    def init(params):
        _tree.check_inexact("scale_by_adam", "the parameter", params)
        mu = _tree.zeros_like(params, mu_dtype)
        nu = _tree.real_dtype_zeros(params, nu_dtype)
        return ScaleByAdamState(count=zero_count(), mu=mu, nu=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            mu_hat = _tree.mu_hat(mu, g, k1, nesterov)
            den = jnp.sqrt(nu * k2.c + eps_root_) + eps_
            # den == 0 only where every gradient so far was 0 (so mu_hat == 0)
            # and eps == eps_root == 0: define 0 / 0 as 0, not NaN.
            u = jnp.where(den == 0, 0, mu_hat / den) if guard_zero else mu_hat / den
            return u, mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_adam", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByAdamState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
