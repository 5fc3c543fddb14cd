"""The optimizers optax 0.2.8 keeps in ``optax.contrib`` (and optimistic descent at its top level) that the
rest of this library did not have: optimistic gradient descent and Adam, MADGRAD, simplified AdEMAMix,
ACProp, COCOB, DoG, DoWG and DP-SGD.

Each is a documented ``chain`` of transforms with optax's arguments and
defaults; the update rules live on the transforms. MoMo, MoMo-Adam and
Mechanic are single transformations (their step size is part of the rule):
see :mod:`functional_opt.transforms.momo` and
:mod:`functional_opt.transforms.mechanic`.
"""

from __future__ import annotations

import warnings
from typing import Any

from functional_opt._hparams import is_schedule
from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.transforms.acprop import scale_by_acprop
from functional_opt.transforms.adam import scale_by_adam
from functional_opt.transforms.cocob import scale_by_cocob
from functional_opt.transforms.dog import scale_by_dog, scale_by_dowg
from functional_opt.transforms.madgrad import scale_by_madgrad
from functional_opt.transforms.momentum import trace
from functional_opt.transforms.optimistic import scale_by_optimistic_gradient
from functional_opt.transforms.privacy import differentially_private_aggregate
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.simplified_ademamix import scale_by_simplified_ademamix
from functional_opt.transforms.weight_decay import add_decayed_weights


def optimistic_gradient_descent(learning_rate, alpha=1.0, beta=1.0) -> GradientTransformation:
    """Optimistic gradient descent, as ``optax.optimistic_gradient_descent``.

    ``chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))``::

        w_{t+1} = w_t - eta_t * ((alpha + beta) * g_t - beta * g_{t-1})

    (``g_0 = g_1``: the first step is ``-eta * alpha * g_1``.) For min-max
    games it converges in the last iterate where plain gradient
    descent-ascent cycles.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        alpha, beta: the optimism coefficients (numbers or arrays).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.optimistic_gradient_descent(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.3], dtype=float32)

    References:
        Mokhtari, Ozdaglar & Pattathil, AISTATS 2020.
    """
    return chain(scale_by_optimistic_gradient(alpha=alpha, beta=beta), scale_by_learning_rate(learning_rate))


def optimistic_adam_v2(
    learning_rate,
    *,
    alpha=1.0,
    beta=1.0,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    nesterov: bool = True,
) -> GradientTransformation:
    """Optimistic Adam, as ``optax.optimistic_adam_v2`` (same arguments and defaults).

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
    scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))``:
    with ``r_t`` Adam's direction,
    ``w_{t+1} = w_t - eta_t * ((alpha + beta) * r_t - beta * r_{t-1})``.

    Defaults as optax: ``nesterov=True`` (NAdam's direction).

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        alpha, beta: optimism coefficients.
        b1, b2, eps, eps_root, mu_dtype, nesterov: as :func:`~functional_opt.scale_by_adam`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.optimistic_adam_v2(0.1, nesterov=False)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018.
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def optimistic_adam(
    learning_rate,
    optimism=None,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """Optimistic Adam with optax's first interface (``optax.optimistic_adam``).

    ``chain(scale_by_adam(...), scale_by_optimistic_gradient(alpha=learning_rate,
    beta=optimism), scale_by_learning_rate(1.0))``: the learning rate is the
    optimistic ``alpha``, and ``optimism`` (default: the learning rate) is
    ``beta``:
    ``w_{t+1} = w_t - (learning_rate * r_t + optimism * (r_t - r_{t-1}))``.

    Deprecated, as in optax 0.2.8: each call emits a ``DeprecationWarning``
    (same message as optax's) pointing to :func:`optimistic_adam_v2`, whose
    learning rate may be a schedule. Conventions: as optax, a schedule is
    refused here (``ValueError``).

    Args:
        learning_rate: ``>= 0`` (number or array, not a schedule).
        optimism: ``beta``; ``None`` means ``learning_rate`` (the paper's choice).
        b1, b2, eps, eps_root, mu_dtype, nesterov: as :func:`~functional_opt.scale_by_adam`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     opt = fo.optimistic_adam(0.1, nesterov=False)
        >>> caught[0].category.__name__
        'DeprecationWarning'
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018.
    """
    warnings.warn("`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.", DeprecationWarning, 2)
    if is_schedule(learning_rate):
        raise ValueError("optimistic_adam does not take a learning-rate schedule; use optimistic_adam_v2")
    if optimism is None:
        optimism = learning_rate
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),
    )


def madgrad(learning_rate, momentum=0.9, weight_decay=0.0, eps=1e-6) -> GradientTransformation:
    """MADGRAD, as ``optax.contrib.madgrad`` (same arguments and defaults).

    ``chain(add_decayed_weights(weight_decay), scale_by_madgrad(learning_rate,
    momentum, eps))``; the rule is on
    :func:`functional_opt.transforms.madgrad.scale_by_madgrad`, which returns
    the parameter change itself (dual averaging defines iterates), so no
    ``scale_by_learning_rate`` follows. ``weight_decay`` is added to the
    gradient (an L2 term, as the paper and optax).

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        momentum: in ``[0, 1)``.
        weight_decay: ``>= 0``.
        eps: ``>= 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.madgrad(0.1, momentum=0.0, eps=0.0)
        >>> p = jnp.zeros(1)
        >>> opt.update(jnp.array([8.0]), opt.init(p), p)[0].round(4)  # -(0.1 * 8) / cbrt(0.1 * 64)
        Array([-0.4309], dtype=float32)

    References:
        Defazio & Jelassi, JMLR 2022.
    """
    return chain(
        add_decayed_weights(weight_decay), scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps)
    )


def simplified_ademamix(
    learning_rate, b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0, weight_decay=0.0, mask=None
) -> GradientTransformation:
    """Simplified AdEMAMix, as ``optax.contrib.simplified_ademamix`` (same arguments and defaults).

    ``chain(scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        b1, b2, alpha, eps, eps_root: see :func:`~functional_opt.scale_by_simplified_ademamix`.
        weight_decay: ``>= 0``, decoupled.
        mask: tree of bools or a function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.simplified_ademamix(0.1, alpha=1.0)
        >>> p = jnp.zeros(1)
        >>> opt.update(jnp.array([2.0]), opt.init(p), p)[0]
        Array([-0.2], dtype=float32)

    References:
        Morwani, Vyas, Kakade et al., 2025.
    """
    direction = scale_by_simplified_ademamix(b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root)
    return with_decoupled_decay(direction, learning_rate, weight_decay, mask)


def acprop(
    learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, weight_decay=0.0, mask=None
) -> GradientTransformation:
    """ACProp, as ``optax.contrib.acprop`` (same arguments and defaults).

    ``chain(scale_by_acprop(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``; the rule is on
    :func:`~functional_opt.scale_by_acprop`.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        b1, b2, eps, eps_root: see :func:`~functional_opt.scale_by_acprop`.
        weight_decay: ``>= 0``, decoupled.
        mask: tree of bools or a function of the params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.acprop(0.1)
        >>> p = jnp.zeros(1)
        >>> opt.update(jnp.array([2.0]), opt.init(p), p)[0]
        Array([-0.2], dtype=float32)

    References:
        Zhuang et al., NeurIPS 2021.
    """
    direction = scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    return with_decoupled_decay(direction, learning_rate, weight_decay, mask)


def cocob(learning_rate=1.0, alpha=100.0, eps=1e-8, weight_decay=0.0, mask=None) -> GradientTransformation:
    """COCOB-Backprop, as ``optax.contrib.cocob`` (same arguments and defaults).

    ``chain(add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate, flip_sign=False), scale_by_cocob(alpha, eps))``:
    the learning rate scales the gradient fed to the bettors (1 is the
    method), and :func:`functional_opt.transforms.cocob.scale_by_cocob`
    returns the parameter change.

    Args:
        learning_rate: gradient scale ``>= 0`` (number, array or schedule).
        alpha: ``> 0``.
        eps: ``>= 0``.
        weight_decay: ``>= 0``, added to the gradient.
        mask: tree of bools or a function of the params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.cocob(alpha=1.0)
        >>> p = jnp.zeros(1)
        >>> opt.update(jnp.array([2.0]), opt.init(p), p)[0]
        Array([-0.5], dtype=float32)

    References:
        Orabona & Tommasi, NeurIPS 2017.
    """
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha=alpha, eps=eps),
    )


def dog(
    learning_rate=1.0, init_step=("heuristic", 1e-6), eps=1e-8, weight_decay=None, mask=None
) -> GradientTransformation:
    """DoG, as ``optax.contrib.dog`` (same arguments and defaults).

    ``chain(add_decayed_weights(weight_decay, mask) if weight_decay is not None,
    scale_by_dog(init_step, eps), scale_by_learning_rate(learning_rate))``;
    the step size is on :func:`functional_opt.transforms.dog.scale_by_dog`.
    ``learning_rate`` multiplies DoG's step (1 is the method).

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        init_step: ``(kind, value)``; see ``scale_by_dog``.
        eps: ``>= 0``.
        weight_decay: ``None`` (none) or ``>= 0``, added to the gradient.
        mask: tree of bools or a function of the params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.dog(init_step=("distance", 1.0), eps=0.0)
        >>> p = jnp.zeros(2)
        >>> opt.update(jnp.array([3.0, 4.0]), opt.init(p), p)[0]
        Array([-0.6, -0.8], dtype=float32)

    References:
        Ivgi, Hinder & Carmon, ICML 2023.
    """
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dog(init_step, eps),
        scale_by_learning_rate(learning_rate),
    )


def dowg(learning_rate=1.0, init_estim_sq_dist=None, eps=1e-4, weight_decay=None, mask=None) -> GradientTransformation:
    """DoWG, as ``optax.contrib.dowg`` (same arguments and defaults).

    ``chain(add_decayed_weights(weight_decay, mask) if weight_decay is not None,
    scale_by_dowg(init_estim_sq_dist, eps), scale_by_learning_rate(learning_rate))``.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        init_estim_sq_dist: ``r_0**2`` or ``None`` (then ``eps``).
        eps: ``> 0``.
        weight_decay: ``None`` or ``>= 0``, added to the gradient.
        mask: tree of bools or a function of the params.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.dowg(init_estim_sq_dist=1.0, eps=0.0)
        >>> p = jnp.zeros(2)
        >>> opt.update(jnp.array([3.0, 4.0]), opt.init(p), p)[0]
        Array([-0.6, -0.8], dtype=float32)

    References:
        Khaled, Mishchenko & Jin, NeurIPS 2023.
    """
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dowg(init_estim_sq_dist, eps),
        scale_by_learning_rate(learning_rate),
    )


def dpsgd(learning_rate, l2_norm_clip, noise_multiplier, seed, momentum=None, nesterov=False) -> GradientTransformation:
    """DP-SGD, as ``optax.dpsgd`` (same arguments).

    ``chain(differentially_private_aggregate(l2_norm_clip, noise_multiplier, seed=seed),
    trace(momentum, nesterov) if momentum is not None, scale_by_learning_rate(learning_rate))``.
    The gradients given to ``update`` are per-example (a leading batch axis).

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        l2_norm_clip: per-example clipping norm ``C > 0``.
        noise_multiplier: ``sigma >= 0``; the noise std is ``C * sigma``.
        seed: an int (or a key) for the noise.
        momentum: ``None`` or a decay in ``[0, 1)``.
        nesterov: Nesterov momentum.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
        >>> g = jnp.array([[3.0, 4.0], [0.3, 0.4]])
        >>> opt.update(g, opt.init(jnp.zeros(2)))[0]
        Array([-0.045, -0.06 ], dtype=float32)

    References:
        Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    aggregate = differentially_private_aggregate(
        l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, seed=seed
    )
    tail = chain(
        identity() if momentum is None else trace(decay=momentum, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )

    # The state is optax's chain layout (aggregate, momentum, learning rate). The per-example updates have
    # a batch axis the params lack, so they skip chain's updates-vs-params shape check until aggregated.
    def init(params):
        return (aggregate.init(params), *tail.init(params))

    def update(updates, state, params=None, **extra_args):
        u, s0 = aggregate.update(updates, state[0], None)
        u, rest = tail.update(u, tuple(state[1:]), params, **extra_args)
        return u, (s0, *rest)

    return GradientTransformation(init, update)
