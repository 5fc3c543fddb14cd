"""Adam variants that change its moments: RAdam (rectified variance), AdaBelief
(the gradient's deviation from its mean), Yogi (an additive second moment),
Adan (Nesterov momentum of gradient differences), AdEMAMix (a mixture of a
fast and a slow momentum) and ADOPT (normalization by the previous second
moment).

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.transforms.adan import scale_by_adan
from functional_opt.transforms.ademamix import scale_by_ademamix
from functional_opt.transforms.adopt import default_clip, scale_by_adopt
from functional_opt.transforms.belief import scale_by_belief
from functional_opt.transforms.radam import scale_by_radam
from functional_opt.transforms.scaling import scale_by_learning_rate, scale_by_schedule
from functional_opt.transforms.weight_decay import add_decayed_weights
from functional_opt.transforms.yogi import scale_by_yogi


def radam(
    learning_rate,
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
    """Rectified Adam: momentum SGD until the variance of Adam's step is tractable.

    ``chain(scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov,
    convention=convention), scale_by_learning_rate(learning_rate))``, as
    ``optax.radam`` by default. ``convention="torch"`` matches
    ``torch.optim.RAdam`` (strict threshold, ``eps`` added to the
    uncorrected root); the table of conventions is on the transform.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, threshold, nesterov, convention, mu_dtype, nu_dtype: see
            :func:`~functional_opt.scale_by_radam`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.radam(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u.round(4)  # -eta * mu_hat
        Array([-0.3], dtype=float32)

    References:
        Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """
    return chain(
        scale_by_radam(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            threshold=threshold,
            nesterov=nesterov,
            convention=convention,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


def adabelief(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-16,
    eps_root=1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """AdaBelief: Adam whose second moment tracks the gradient's deviation from its mean.

    ``chain(scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
    scale_by_learning_rate(learning_rate))``, the same as
    ``optax.adabelief`` (``eps_root`` is added to the state, as the authors'
    code; see :func:`~functional_opt.scale_by_belief`).

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, nesterov, mu_dtype, nu_dtype: see :func:`~functional_opt.scale_by_belief`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adabelief(0.1)
        >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
        >>> u.round(4)
        Array([-0.1111], dtype=float32)

    References:
        Zhuang et al., "AdaBelief Optimizer", NeurIPS 2020.
    """
    return chain(
        scale_by_belief(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-3,
    *,
    bias_correction: bool = True,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Yogi: Adam with an additive, sign-controlled second-moment update.

    ``chain(scale_by_yogi(b1, b2, eps, bias_correction=bias_correction),
    scale_by_learning_rate(learning_rate))``, the same as ``optax.yogi``
    (moments start at 1e-6, bias-corrected); ``bias_correction=False`` is the
    paper's Algorithm 2.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, bias_correction, mu_dtype, nu_dtype: see :func:`~functional_opt.scale_by_yogi`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.yogi(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u.round(3)
        Array([-0.1], dtype=float32)

    References:
        Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018.
    """
    return chain(
        scale_by_yogi(b1=b1, b2=b2, eps=eps, bias_correction=bias_correction, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adan(
    learning_rate,
    b1=0.98,
    b2=0.92,
    b3=0.99,
    eps=1e-8,
    eps_root=1e-8,
    weight_decay=0.0,
    mask=None,
    *,
    no_prox: bool = False,
) -> GradientTransformation:
    """Adan with the official coefficients and its proximal weight decay.

    ``chain(scale_by_adan(b1, b2, b3, eps, eps_root), add_decayed_weights(weight_decay,
    mask), scale_by_learning_rate(learning_rate), scale_by_schedule(1 / (1 +
    learning_rate * weight_decay)) unless no_prox)``. With ``u`` the direction
    and ``eta = learning_rate``, the last two links give the official
    proximal step ``w <- (w - eta * u) / (1 + eta * weight_decay)``;
    ``no_prox=True`` is optax's (AdamW-like) ``w <- w - eta * (u + weight_decay * w)``.

    Defaults are the official ``b1, b2, b3 = 0.98, 0.92, 0.99`` and ``eps=1e-8``,
    with ``eps_root=1e-8`` as ``optax.adan`` (the official code has none: pass
    ``eps_root=0.0``; :func:`scale_by_adan` defaults to 0 as optax's). The
    difference term uses ``b2`` as in the paper, not optax's ``1 - b2`` (see
    :func:`scale_by_adan`).

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        b1, b2, b3, eps, eps_root: see :func:`scale_by_adan`.
        weight_decay: ``>= 0`` (number, array or schedule).
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.
        no_prox: decay as AdamW instead of the proximal division.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adan(0.1, weight_decay=1.0)
        >>> p = jnp.array([1.0])
        >>> u, _ = opt.update(jnp.array([2.0]), opt.init(p), p)
        >>> (p + u).round(4)  # (1 - 0.1 * 1) / (1 + 0.1)
        Array([0.8182], dtype=float32)

    References:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster
        Optimizing Deep Models", arXiv:2208.06677 (github.com/sail-sg/Adan).
    """
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)

    def prox_factor(count):
        return 1 / (1 + value_at(learning_rate, count) * value_at(weight_decay, count))

    return chain(
        scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_learning_rate(learning_rate),
        identity() if no_prox else scale_by_schedule(prox_factor),
    )


def ademamix(
    learning_rate,
    b1=0.9,
    b2=0.999,
    b3=0.9999,
    alpha=5.0,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    weight_decay=0.0,
    mask=None,
) -> GradientTransformation:
    """AdEMAMix: Adam plus a slow momentum, with decoupled weight decay, as ``optax.contrib.ademamix``.

    ``chain(scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``, with optax's defaults. For the
    paper's warmups pass ``alpha=ademamix_alpha_schedule(alpha, T)`` and
    ``b3=ademamix_b3_schedule(b3, T)``.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        b1, b2, b3, alpha, eps, eps_root, mu_dtype: see :func:`scale_by_ademamix`.
        weight_decay: ``>= 0`` (number, array or schedule).
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.ademamix(0.1)
        >>> p = jnp.zeros(1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(p), p)
        >>> round(float(u[0]), 5)  # -0.1 * (3 + 5 * 1e-4 * 3) / 3
        -0.10005

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better,
        Faster, Older", ICLR 2025.
    """
    direction = scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype)
    return with_decoupled_decay(direction, learning_rate, weight_decay, mask)


def adopt(
    learning_rate,
    b1=0.9,
    b2=0.9999,
    eps=1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn=default_clip,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """ADOPT: Adam normalizing the gradient by the previous second moment, as ``optax.contrib.adopt``.

    ``chain(scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=..., use_clipping=...,
    clip_value_fn=...), scale_by_learning_rate(learning_rate))``, with the
    reference's and optax's defaults; the first step only initializes the
    second moment and leaves the params unchanged.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn, nu_dtype: see :func:`scale_by_adopt`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adopt(1.0)
        >>> s = opt.init(jnp.zeros(1))
        >>> u, s = opt.update(jnp.array([2.0]), s)
        >>> u
        Array([-0.], dtype=float32)

    References:
        Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any beta_2
        with the Optimal Rate", NeurIPS 2024.
    """
    return chain(
        scale_by_adopt(
            b1=b1,
            b2=b2,
            eps=eps,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
