"""AMSGrad: Adam whose denominator never decreases (a running max of ``nu``)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_moment_args, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByAmsgradState(NamedTuple):
    """State of :func:`scale_by_amsgrad`: count, the two moments and the running max."""

    count: Any
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_of_corrected: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with AMSGrad: Adam over the running maximum of ``nu``.

    Update rule, ``t = count + 1``, ``c1 = 1 / (1 - b1**t)``, ``c2 = 1 / (1 - b2**t)``
    (each 1 when its ``bias_correction_*`` is off)::

        mu <- b1 * mu + (1 - b1) * g
        nu <- b2 * nu + (1 - b2) * g**2
        nu_max <- max(nu_max, nu)                 (max_of_corrected=False, default: torch)
        u = c1 * mu / (sqrt(c2 * nu_max + eps_root) + eps)

        nu_max <- max(nu_max, c2 * nu)            (max_of_corrected=True: optax)
        u = c1 * mu / (sqrt(nu_max + eps_root) + eps)

    Conventions:

    ====================  ===============  ===============  ============  ============
    choice                this library     optax            torch         paper
    ====================  ===============  ===============  ============  ============
    max taken over        raw ``nu``       corrected ``nu``  raw ``nu``   raw ``nu``
    bias correction       on (both)        on (both)        on (both)     none
    ====================  ===============  ===============  ============  ============

    The default is ``torch.optim.Adam(amsgrad=True)``: the max runs over the
    raw average and the current ``1 / (1 - b2**t)`` multiplies it. optax
    takes the max of already-corrected values (``max_of_corrected=True``):
    there an old maximum keeps the correction factor of its own step, here
    the current factor is applied to the stored raw maximum. The
    paper (Reddi et al., Algorithm 2) has no bias correction:
    ``bias_correction_mu=False, bias_correction_nu=False`` (both options then agree).

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, added outside the square root.
        eps_root: ``>= 0``, added inside the square root.
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        bias_correction_mu: divide ``mu`` by ``1 - b1**t``.
        bias_correction_nu: divide ``nu`` by ``1 - b2**t``.
        max_of_corrected: take the max over the corrected ``nu`` (optax).
        nu_dtype: dtype of ``nu`` and ``nu_max``; default the param's real dtype.
            The update is computed in at least float32 whatever the stored dtypes.

    State: :class:`ScaleByAmsgradState` ``(count, mu, nu, nu_max)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_amsgrad()
        >>> u, s = t.update(jnp.array([2.0, -0.5]), t.init(jnp.zeros(2)))
        >>> u.round(4)
        Array([ 1., -1.], dtype=float32)

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
    """
    mu_dtype, nu_dtype = check_moment_args(b1, b2, eps, mu_dtype, nu_dtype, eps_root)

    def init(params):
        nu = _tree.real_dtype_zeros(params, nu_dtype)
        return ScaleByAmsgradState(count=zero_count(), mu=_tree.zeros_like(params, mu_dtype), nu=nu, nu_max=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        c1 = k1.c if bias_correction_mu else 1.0
        c2 = k2.c if bias_correction_nu else 1.0
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, mu, nu, nu_max):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            nu_max = jnp.maximum(nu_max, c2 * nu if max_of_corrected else nu)
            nu_hat = nu_max if max_of_corrected else c2 * nu_max
            return c1 * mu / (jnp.sqrt(nu_hat + eps_root_) + eps_), mu, nu, nu_max

        u, (mu, nu, nu_max) = _tree.map_moments(
            "scale_by_amsgrad", leaf, updates, mu=state.mu, nu=state.nu, nu_max=state.nu_max
        )
        return u, ScaleByAmsgradState(count=safe_increment(state.count), mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init, update)
