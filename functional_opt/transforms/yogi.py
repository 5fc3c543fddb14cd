"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_moment_args, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.transforms.adam import ScaleByAdamState


def scale_by_yogi(
    b1=0.9,
    b2=0.999,
    eps=1e-3,
    eps_root=0.0,
    initial_accumulator_value=1e-6,
    *,
    bias_correction: bool = True,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with Yogi.

    Update rule, ``t = count + 1``::

        mu <- b1 * mu + (1 - b1) * g
        nu <- nu - (1 - b2) * sign(nu - g**2) * g**2
        u = c1 * mu / (sqrt(c2 * nu + eps_root) + eps)

    with ``c1 = 1 / (1 - b1**t)``, ``c2 = 1 / (1 - b2**t)`` when
    ``bias_correction`` (default, as optax) and ``c1 = c2 = 1`` otherwise.
    Unlike Adam's multiplicative average, ``nu`` moves by at most
    ``(1 - b2) * g**2`` per step, in the direction of ``g**2``.

    Conventions:

    ====================  ==============  ==============  ==============
    choice                this library    optax           paper
    ====================  ==============  ==============  ==============
    initial mu            1e-6            1e-6            0
    bias correction       on              on              not written
    eps (outside sqrt)    1e-3            1e-3            1e-3
    ====================  ==============  ==============  ==============

    ``initial_accumulator_value`` starts both moments (as optax; the paper
    starts ``mu`` at 0, a negligible difference). The paper's
    Algorithm 2 is written without bias correction: ``bias_correction=False``.
    torch.optim has no Yogi.

    Args:
        b1: first-moment decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment rate in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, outside the square root.
        eps_root: ``>= 0``, inside the square root.
        initial_accumulator_value: the initial value of ``mu`` and ``nu``, ``>= 0``.
        bias_correction: divide by ``1 - b**t`` as optax does.
        mu_dtype: dtype of ``mu`` (e.g. ``jnp.bfloat16``); default the param dtype.
        nu_dtype: dtype of ``nu``; default the param's real dtype. The update
            is computed in at least float32 whatever the stored dtypes.

    State: :class:`~functional_opt.ScaleByAdamState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_yogi(eps=0.0, initial_accumulator_value=0.0)
        >>> u, s = t.update(jnp.array([2.0]), t.init(jnp.zeros(1)))
        >>> u.round(4)  # the first step is sign(g), like Adam's
        Array([1.], dtype=float32)

    References:
        Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018.
    """
    mu_dtype, nu_dtype = check_moment_args(b1, b2, eps, mu_dtype, nu_dtype, eps_root)
    check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)

    def init(params):
        mu = _tree.full_like(params, initial_accumulator_value, mu_dtype)
        nu = _tree.real_dtype_full(params, initial_accumulator_value, nu_dtype)
        return ScaleByAdamState(count=zero_count(), mu=mu, nu=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        c1, c2 = (k1.c, k2.c) if bias_correction else (1.0, 1.0)
        eps_, eps_root_ = value_at(eps, None), value_at(eps_root, None)

        def leaf(g, mu, nu):
            g2 = _tree.abs_sq(g)
            mu = _tree.ema(mu, g, k1.omb)
            nu = nu - k2.omb * jnp.sign(nu - g2) * g2
            return c1 * mu / (jnp.sqrt(c2 * nu + eps_root_) + eps_), mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_yogi", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByAdamState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
