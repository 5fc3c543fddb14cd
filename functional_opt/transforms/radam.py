"""RAdam: Adam with the variance of its adaptive step rectified."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.transforms.adam import ScaleByAdamState

_CONVENTIONS = ("optax", "torch")


def scale_by_radam(
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    threshold=5.0,
    *,
    nesterov: bool = False,
    convention: str = "optax",
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with Rectified Adam.

    Update rule, ``t = count + 1``::

        mu <- b1 * mu + (1 - b1) * g,   nu <- b2 * nu + (1 - b2) * g**2
        mu_hat = mu / (1 - b1**t),      nu_hat = nu / (1 - b2**t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 t b2**t / (1 - b2**t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        if rho_t >= threshold   (convention="optax"; "torch": rho_t > threshold)
            u = r_t * mu_hat / (sqrt(nu_hat + eps_root) + eps)                 ("optax")
            u = r_t * mu_hat * sqrt(1 - b2**t) / (sqrt(nu + eps_root) + eps)   ("torch")
        else
            u = mu_hat             (momentum SGD while the variance is intractable)

    Conventions (threshold and where ``eps`` goes):

    ==============  =================  ==================  ==================  ==============
    choice          this library       optax               torch               paper
    ==============  =================  ==================  ==================  ==============
    rectify when    ``rho_t >= 5``     ``rho_t >= 5``      ``rho_t > 5``       ``rho_t > 4``
    eps added to    ``sqrt(nu_hat)``   ``sqrt(nu_hat)``    ``sqrt(nu)``        no eps
    ==============  =================  ==================  ==================  ==============

    ``convention="torch"`` gives ``torch.optim.RAdam`` (which also matches the
    authors' code in where ``eps`` goes; their code rectifies at ``>= 5``). The
    paper's Algorithm 2 rectifies when ``rho_t > 4``: ``threshold=4.0`` with
    ``eps=0``. With the defaults (``b2=0.999``) ``rho_t`` first exceeds 5 at
    ``t = 6`` under every convention, and the first five steps are momentum
    SGD.

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``(0, 1)`` (number or array).
        eps: ``>= 0``, outside the square root.
        eps_root: ``>= 0``, inside the square root.
        threshold: the rectification threshold on ``rho_t`` (``>= 4``; number or array).
        nesterov: Nesterov first moment as optax (see :func:`~functional_opt.scale_by_adam`).
        convention: ``"optax"`` (default) or ``"torch"`` (see the table).
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        nu_dtype: dtype of ``nu``; default the param's real dtype. The update
            is computed in at least float32 whatever the stored dtypes.

    State: :class:`~functional_opt.ScaleByAdamState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_radam()
        >>> u, s = t.update(jnp.array([2.0, -0.5]), t.init(jnp.zeros(2)))
        >>> u.round(4)  # the first steps are the bias-corrected momentum
        Array([ 2. , -0.5], dtype=float32)

    References:
        Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """
    check_number("b1", b1, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_number("b2", b2, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)
    nu_dtype = check_dtype("nu_dtype", nu_dtype)
    check_number("threshold", threshold, low=4.0)
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be one of {_CONVENTIONS}, got {convention!r}")
    torch_form = convention == "torch"

    def init(params):
        mu = _tree.zeros_like(params, mu_dtype)
        return ScaleByAdamState(count=zero_count(), mu=mu, nu=_tree.real_dtype_zeros(params, nu_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        eps_, eps_root_, thr = value_at(eps, None), value_at(eps_root, None), value_at(threshold, None)
        t = safe_increment(state.count)
        rho_inf = 2 / k2.omb - 1
        rho_t = rho_inf - 2 * t * (k2.c - 1)  # b2**t / (1 - b2**t) = c2 - 1
        rectify = rho_t > thr if torch_form else rho_t >= thr
        r2 = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        r_t = jnp.sqrt(jnp.where(rectify, r2, 1.0))

        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            mu_hat = _tree.mu_hat(mu, g, k1, nesterov)
            if torch_form:
                adaptive = r_t * mu_hat * jax.lax.rsqrt(k2.c) / (jnp.sqrt(nu + eps_root_) + eps_)
            else:
                adaptive = r_t * mu_hat / (jnp.sqrt(nu * k2.c + eps_root_) + eps_)
            return jnp.where(rectify, adaptive, mu_hat), mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_radam", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByAdamState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
