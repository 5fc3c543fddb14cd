"""Rprop: signed steps whose per-entry sizes adapt to the gradient's sign agreement.

The optimizer is a documented ``chain`` of transforms; the update rule and
the table of conventions live on :func:`~functional_opt.scale_by_rprop`.
"""

from __future__ import annotations

from functional_opt.base import GradientTransformation, chain
from functional_opt.transforms.rprop import scale_by_rprop
from functional_opt.transforms.scaling import scale_by_learning_rate


def rprop(learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0) -> GradientTransformation:
    """Rprop (iRprop-): signed steps whose per-entry sizes adapt to sign agreement.

    ``chain(scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size,
    max_step_size), scale_by_learning_rate(1.0))``: ``learning_rate`` is the
    initial step size (torch's default is 0.01), which the transform itself
    adapts, so the last link only flips the sign (optax's last link is a
    constant scaling by -1 with an empty state; here it keeps a ``count``). Equal to
    ``torch.optim.Rprop``; optax's ``rprop`` lags by one step (see
    :func:`~functional_opt.scale_by_rprop` for the rule and the table).

    Args:
        learning_rate: initial step size ``>= 0`` (number or array; no schedule).
        eta_minus, eta_plus, min_step_size, max_step_size: see
            :func:`~functional_opt.scale_by_rprop`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.rprop(0.01)
        >>> u, _ = opt.update(jnp.array([3.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> u
        Array([-0.01,  0.01], dtype=float32)

    References:
        Riedmiller & Braun, ICNN 1993; Igel & Hüsken, 2000.
    """
    return chain(
        scale_by_rprop(
            learning_rate,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        ),
        scale_by_learning_rate(1.0),
    )
