"""Scaling by the root of a centered second moment (centered RMSProp's denominator)."""

from __future__ import annotations

from typing import Any, NamedTuple

from functional_opt.base import GradientTransformation
from functional_opt.transforms.rms import ScaleByRmsState, scale_by_rms


class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev`.

    ``count``: int32 step count (kept whatever the arguments: ``decay`` may
    be a schedule); ``mu``: moving average of ``g``; ``nu``: moving average
    of ``|g|**2``. optax's ``ScaleByRStdDevState`` is ``(mu, nu)`` without
    bias correction and ``ScaleByRStdDevWithCountState(count, mu, nu)`` with
    it; this is the latter layout in both cases (``state.mu``/``state.nu``
    read the same).
    """

    count: Any
    mu: Any
    nu: Any


def scale_by_stddev(
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Divide the updates by the root of a moving estimate of their variance.

    Update rule, ``t = count + 1``::

        mu <- decay * mu + (1 - decay) * g
        nu <- decay * nu + (1 - decay) * |g|**2
        mu_hat, nu_hat = mu / (1 - decay**t), nu / (1 - decay**t)   (bias_correction; else mu, nu)
        u <- g / sqrt(nu_hat - |mu_hat|**2 + eps)      (eps_in_sqrt=True)
        u <- g / (sqrt(nu_hat - |mu_hat|**2) + eps)    (eps_in_sqrt=False)

    This is :func:`scale_by_rms` with ``centered=True`` (the same code),
    under optax's name and state layout; centered RMSProp is
    ``fo.rmsprop(..., centered=True)``.

    Conventions: optax's arguments and defaults. ``nu`` is real for complex
    gradients (optax keeps it complex); ``decay`` may be a schedule.

    Args:
        decay: ``beta`` in ``[0, 1]`` (number, array or schedule).
        eps: ``>= 0``, guards the division.
        initial_scale: initial value of ``nu``, ``>= 0``.
        eps_in_sqrt: where ``eps`` goes (see the rule).
        bias_correction: divide both averages by ``1 - decay**t``.

    State: :class:`ScaleByRStdDevState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_stddev(decay=0.5, eps=0.0)
        >>> u, s = t.update(jnp.full(1, 2.0), t.init(jnp.zeros(1)))
        >>> u  # 2 / sqrt(0.5 * 4 - (0.5 * 2)**2)
        Array([2.], dtype=float32)

    References:
        Graves, "Generating Sequences With Recurrent Neural Networks", 2013
        (arXiv:1308.0850), eq. 38-45; optax.scale_by_stddev.
    """
    rms = scale_by_rms(
        decay=decay,
        eps=eps,
        initial_scale=initial_scale,
        eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction,
        centered=True,
    )

    def init(params):
        s = rms.init(params)
        return ScaleByRStdDevState(count=s.count, mu=s.mu, nu=s.nu)

    def update(updates, state, params=None, **extra_args):
        u, s = rms.update(updates, ScaleByRmsState(count=state.count, nu=state.nu, mu=state.mu), params, **extra_args)
        return u, ScaleByRStdDevState(count=s.count, mu=s.mu, nu=s.nu)

    return GradientTransformation(init, update)
