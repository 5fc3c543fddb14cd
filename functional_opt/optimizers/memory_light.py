"""Memory-light optimizers: Adafactor (factored second moments).

Adam with a bfloat16 first moment is :func:`functional_opt.adam` with
``mu_dtype=jnp.bfloat16`` (tested in ``tests/test_memory_light.py``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_dtype, check_number
from functional_opt.base import GradientTransformation, chain
from functional_opt.transforms.adafactor import scale_by_factored_rms, scale_by_param_block_rms
from functional_opt.transforms.clipping import clip_by_block_rms
from functional_opt.transforms.momentum import ema
from functional_opt.transforms.scaling import scale_by_learning_rate, scale_by_schedule
from functional_opt.transforms.weight_decay import add_decayed_weights


def adafactor(
    learning_rate=None,
    min_dim_size_to_factor: int = 128,
    decay_rate=0.8,
    decay_offset=0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold=1.0,
    momentum=None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate=None,
    eps=1e-30,
    factored: bool = True,
    weight_decay_mask: Any = None,
    *,
    relative_step: bool = False,
) -> GradientTransformation:
    """Adafactor, with optax's arguments and the paper's relative step size available.

    Expands to (each optional step present when its argument says so)::

        chain(
            scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
            clip_by_block_rms(clipping_threshold),                     # the paper's update clipping d
            scale_by_learning_rate(learning_rate, flip_sign=False),
            scale_by_schedule(lambda count: min(1e-2, 1 / sqrt(count + 1))),   # relative_step: rho_t
            scale_by_param_block_rms(1e-3),                            # multiply_by_parameter_scale
            ema(momentum, debias=False, accumulator_dtype=dtype_momentum),
            add_decayed_weights(weight_decay_rate, weight_decay_mask),
            scale_by_learning_rate(1.0),                               # descent's sign flip
        )

    The sign flip is last because the weight decay is added after the
    learning-rate scaling, which does not multiply it (optax's order).

    ``adafactor(relative_step=True)`` is the paper's Algorithm 4/5 with its
    defaults (``beta2_t = 1 - t**-0.8``, ``d = 1``, ``epsilon_1 = 1e-30``,
    ``epsilon_2 = 1e-3``, no momentum), except that only matrices whose two
    sides are both ``>= min_dim_size_to_factor`` are factored.

    Conventions (this library follows optax; these are where optax departs
    from the paper):

    ========================  ==========================  ===========================
    choice                    this library / optax        paper
    ========================  ==========================  ===========================
    relative step ``rho_t``   off (``relative_step``)     ``min(1e-2, 1/sqrt(t))``
    learning rate             absolute factor (or None)   none (``rho_t`` only)
    which leaves factored     both sides >= 128           every matrix
    rank > 2                  two largest axes            (matrices only)
    momentum                  EMA of the scaled update    EMA of the update (beta1)
    weight decay              optional, added at the end  none
    ========================  ==========================  ===========================

    Args:
        learning_rate: ``None`` (factor 1) or ``>= 0``: number, array or schedule.
        min_dim_size_to_factor: factor a leaf only if its two largest axes are
            at least this long (int ``>= 1``).
        decay_rate: exponent of ``beta2_t = 1 - t**(-decay_rate)``.
        decay_offset: step offset for the decay schedule (fine-tuning).
        multiply_by_parameter_scale: scale by ``max(1e-3, rms(X))`` (relative step).
        clipping_threshold: ``None`` or ``>= 1``: the update clipping ``d``.
        momentum: ``None`` or a decay in ``[0, 1]`` for an EMA of the updates.
        dtype_momentum: dtype of the momentum buffer.
        weight_decay_rate: ``None`` or ``>= 0`` (number, array or schedule).
        eps: ``epsilon_1 >= 0`` added to ``g**2``.
        factored: use factored statistics at all.
        weight_decay_mask: tree of bools or function; ``False`` leaves are not decayed.
        relative_step: multiply by the paper's ``rho_t = min(1e-2, 1/sqrt(t))``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adafactor(relative_step=True)   # the paper's defaults
        >>> p = jnp.ones((4, 3))
        >>> u, _ = opt.update(jnp.ones((4, 3)), opt.init(p), p)
        >>> float(u[0, 0])  # -rho_1 * rms(X) * clip(g / |g|)
        -0.01

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear
        Memory Cost", ICML 2018.
    """
    if clipping_threshold is not None:
        check_number("clipping_threshold", clipping_threshold, low=1.0)
    if momentum is not None:
        check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
    dtype_momentum = check_dtype("dtype_momentum", dtype_momentum)
    if weight_decay_rate is not None:
        check_number("weight_decay_rate", weight_decay_rate, low=0.0, allow_schedule=True)
    tx = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        tx.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if relative_step:
        tx.append(scale_by_schedule(lambda count: jnp.minimum(1e-2, jax.lax.rsqrt(count + 1.0))))  # rho_t
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))
    # descent's sign flip comes last, after the weight decay, which (as in optax) the
    # learning rate above does not multiply
    tx.append(scale_by_learning_rate(1.0))
    return chain(*tx)
