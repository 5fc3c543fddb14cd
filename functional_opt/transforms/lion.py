"""Lion's scaling: the sign of an interpolation between momentum and gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByLionState(NamedTuple):
    """State of :func:`scale_by_lion`: the int32 count and the momentum ``mu``."""

    count: Any
    mu: Any


LION_MODES = ("hard", "smooth", "refined")


def scale_by_lion(
    b1=0.9, b2=0.99, mu_dtype: Any = None, *, mode: str = "hard", smooth_beta=1.0
) -> GradientTransformation:
    """Rescale updates with Lion's sign of interpolated momentum.

    Update rule (Chen et al., Algorithm 2), ``g`` the gradient::

        c   = b1 * mu + (1 - b1) * g       (interpolation used for the step)
        u  <- sign(c)                      (mode="hard", the paper's)
              tanh(smooth_beta * c)        (mode="smooth")
              c if |c| < 1 else sign(c)    (mode="refined")
        mu <- b2 * mu + (1 - b2) * g       (the momentum that is kept)

    Every coordinate of the update is ``-1``, ``0`` or ``+1``; the step size is
    therefore the learning rate itself, and Lion's learning rate is typically
    3-10x smaller than AdamW's (with a correspondingly larger weight decay).

    Conventions: ``b1`` only mixes the step, ``b2`` tracks the momentum (the
    paper's, optax's and the reference's names and defaults ``0.9 / 0.99``).
    ``sign(0) = 0``. Only one buffer is kept, half the memory of Adam.

    Args:
        b1: interpolation coefficient in ``[0, 1]`` (number, array or schedule).
        b2: momentum decay in ``[0, 1]`` (number, array or schedule).
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        mode: ``"hard"`` (default), ``"smooth"`` or ``"refined"`` (optax's variants).
        smooth_beta: the ``tanh`` sharpness of ``mode="smooth"`` (number, array or schedule).

    State: :class:`ScaleByLionState` ``(count, mu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_lion()
        >>> u, s = t.update(jnp.array([0.3, -2.0, 0.0]), t.init(jnp.zeros(3)))
        >>> u
        Array([ 1., -1.,  0.], dtype=float32)

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023.
    """
    check_number("b1", b1, low=0.0, high=1.0, allow_schedule=True)
    check_number("b2", b2, low=0.0, high=1.0, allow_schedule=True)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)
    if mode not in LION_MODES:
        raise ValueError(f"mode must be one of {LION_MODES}, got {mode!r}")
    check_number("smooth_beta", smooth_beta, allow_schedule=True)

    def init(params):
        return ScaleByLionState(count=zero_count(), mu=_tree.zeros_like(params, mu_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        beta_s = value_at(smooth_beta, state.count)

        def leaf(g, mu):
            c = _tree.ema(mu, g, k1.omb)
            mu = _tree.ema(mu, g, k2.omb)
            if mode == "smooth":
                return jnp.tanh(beta_s * c), mu
            if mode == "refined":
                return jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c)), mu
            return jnp.sign(c), mu

        u, (mu,) = _tree.map_moments("scale_by_lion", leaf, updates, mu=state.mu)
        return u, ScaleByLionState(count=safe_increment(state.count), mu=mu)

    return GradientTransformation(init, update)
