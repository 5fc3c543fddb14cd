"""Schedule-free SGD and AdamW, with the reference implementation's defaults.

Each is :func:`functional_opt.schedule_free` around a momentum-free base
optimizer; evaluate at :func:`functional_opt.schedule_free_eval_params`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, value_at
from functional_opt.base import GradientTransformation, chain
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.transforms.rms import scale_by_rms
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.schedule_free import schedule_free
from functional_opt.transforms.weight_decay import add_decayed_weights


def _warmup(warmup_steps: int, count):
    # the reference's ``(k + 1) / warmup_steps`` for k < warmup_steps, then 1
    if warmup_steps == 0:
        return jnp.ones([], jnp.float32)
    return jnp.minimum(1.0, (count.astype(jnp.float32) + 1) / warmup_steps)


def schedule_free_sgd(
    learning_rate=1.0,
    warmup_steps: int = 0,
    b1=0.9,
    weight_decay=0.0,
    weight_lr_power=2.0,
    r=0.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-free SGD, as the reference ``SGDScheduleFreeReference``.

    ``schedule_free(chain(add_decayed_weights(weight_decay),
    scale_by_learning_rate(gamma)), gamma, b1, weight_lr_power, r,
    state_dtype)`` with the warmed-up rate ``gamma(k) = learning_rate(k) *
    min(1, (k + 1) / warmup_steps)``: the base step moves ``z`` by
    ``-gamma(k) * (g(y) + weight_decay * y)``; the averaging equations are
    on :func:`~functional_opt.schedule_free`. Evaluate at
    :func:`~functional_opt.schedule_free_eval_params`.

    Conventions:

    ==============  ==================  ===================  ===================================
    choice          this library        reference (PyTorch)  optax.contrib
    ==============  ==================  ===================  ===================================
    defaults        lr 1, b1 0.9        lr 1, momentum 0.9   lr 1, b1 0.9
    warmup (step)   ``(k+1)/warmup``    ``(k+1)/warmup``     ``k/warmup`` (first step is 0)
    warmup (avg.)   ``(k+1)/warmup``    ``(k+1)/warmup``     ``(k+1)/warmup``
    weight decay    at ``y``, x lr      at ``y``, x lr       at ``y``, x lr
    ==============  ==================  ===================  ===================================

    Without warmup the three give the same trajectory (tested against optax).

    Args:
        learning_rate: ``>= 0``: number, array or schedule of ``k`` (the
            warmup multiplies it).
        warmup_steps: int ``>= 0``: length of the linear warmup.
        b1: interpolation ``(0, 1]`` (the reference's ``momentum``).
        weight_decay: ``>= 0``.
        weight_lr_power, r: averaging weights, see :func:`schedule_free`.
        state_dtype: dtype of ``z``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.schedule_free_sgd(0.1, warmup_steps=2)
        >>> y = jnp.array([1.0]); s = opt.init(y)
        >>> u, s = opt.update(jnp.array([1.0]), s, y)
        >>> u   # gamma_0 = 0.05 and c_0 = 1: y = z = 1 - 0.05
        Array([-0.05], dtype=float32)

    References:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_int("warmup_steps", warmup_steps, low=0)
    lr = lambda count: value_at(learning_rate, count, jnp.float32) * _warmup(warmup_steps, count)  # noqa: E731
    base = chain(add_decayed_weights(weight_decay), scale_by_learning_rate(lr))
    return schedule_free(base, lr, b1=b1, weight_lr_power=weight_lr_power, r=r, state_dtype=state_dtype)


def schedule_free_adamw(
    learning_rate=0.0025,
    warmup_steps: int = 0,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    weight_lr_power=2.0,
    r=0.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-free AdamW, as the reference ``AdamWScheduleFreeReference``.

    ``schedule_free(chain(scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False),
    add_decayed_weights(weight_decay), scale_by_learning_rate(gamma)), gamma,
    b1, weight_lr_power, r, state_dtype)`` with ``gamma(k) =
    learning_rate(k) * min(1, (k + 1) / warmup_steps) * sqrt(1 - b2**(k + 1))``:
    the base step moves ``z`` by ``-gamma(k) * (g(y) / (sqrt(v) + eps) +
    weight_decay * y)`` with the raw second moment ``v`` of
    :func:`~functional_opt.scale_by_rms`; the averaging equations are on
    :func:`~functional_opt.schedule_free`. Adam's second-moment bias
    correction is folded into ``gamma`` and so also into the averaging
    weights, exactly as in the reference.

    Conventions:

    ====================  =============================  ================================
    choice                this library, reference        optax.contrib.schedule_free_adamw
    ====================  =============================  ================================
    bias correction       ``sqrt(1-b2**t)`` in the rate  ``v / (1-b2**t)`` inside the root
    eps                   ``sqrt(v) + eps`` (raw ``v``)  ``sqrt(v_hat) + eps``
    averaging weights     include ``sqrt(1-b2**t)``      ``lr**2`` only
    weight decay          ``gamma_k * wd * y``           ``lr * wd * y``
    defaults              lr 0.0025, b1 .9, b2 .999      the same
    ====================  =============================  ================================

    The weights make the early (small-``gamma``) iterates count less, so
    optax's trajectory differs from the reference's over the first
    ~``1/(1-b2)`` steps.

    Args:
        learning_rate: ``>= 0``: number, array or schedule of ``k`` (the
            warmup multiplies it).
        warmup_steps: int ``>= 0``.
        b1: interpolation ``(0, 1]``.
        b2: second-moment decay in ``[0, 1)``.
        eps: ``>= 0``, outside the root.
        weight_decay: ``>= 0``, decoupled, evaluated at ``y``.
        weight_lr_power, r: averaging weights, see :func:`schedule_free`.
        state_dtype: dtype of ``z``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.schedule_free_adamw(0.1)
        >>> y = jnp.array([1.0]); s = opt.init(y)
        >>> u, s = opt.update(jnp.array([4.0]), s, y)
        >>> u.round(4)   # -0.1 * sqrt(0.001) * 4 / sqrt(0.001 * 16)
        Array([-0.1], dtype=float32)

    References:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024.
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_int("warmup_steps", warmup_steps, low=0)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False)

    def lr(count):
        c2 = _tree.decay_scalars(b2, count).c  # 1 / (1 - b2**t)
        return value_at(learning_rate, count, jnp.float32) * _warmup(warmup_steps, count) / jnp.sqrt(c2)

    base = with_decoupled_decay(scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False), lr, weight_decay, None)
    return schedule_free(base, lr, b1=b1, weight_lr_power=weight_lr_power, r=r, state_dtype=state_dtype)
