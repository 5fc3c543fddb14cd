"""Adam and the variants that optax and torch ship beside it: AdamW, NAdam and
NAdamW, AMSGrad, AdaMax and AdaMaxW.

Later variants that change Adam's moments (RAdam, AdaBelief, Yogi, Adan,
AdEMAMix, ADOPT) are in :mod:`functional_opt.optimizers.adam_variants`.

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt.base import GradientTransformation, chain
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.transforms.adam import scale_by_adam
from functional_opt.transforms.adamax import scale_by_adamax
from functional_opt.transforms.amsgrad import scale_by_amsgrad
from functional_opt.transforms.nadam import scale_by_nadam
from functional_opt.transforms.scaling import scale_by_learning_rate


def adam(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adam, as ``optax.adam`` (same arguments and defaults).

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
    scale_by_learning_rate(learning_rate))``; the rule, with ``eps_root`` and
    the Nesterov form, is on :func:`scale_by_adam`. With ``eps_root=0`` and
    ``nesterov=False`` (the defaults) it is Kingma & Ba's
    ``m_t = b1 m_{t-1} + (1 - b1) g_t``, ``v_t = b2 v_{t-1} + (1 - b2) g_t**2``,
    ``theta_{t+1} = theta_t - eta * (m_t / (1 - b1**t)) / (sqrt(v_t / (1 - b2**t)) + eps)``.

    Defaults: ``b1=0.9, b2=0.999, eps=1e-8`` (paper, optax, torch); no default
    learning rate (torch: 1e-3). ``eps`` sits outside the root in all three.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2: decays in ``[0, 1)``.
        eps, eps_root: ``>= 0``, outside and inside the root.
        mu_dtype: dtype of the first moment (e.g. ``jnp.bfloat16``).
        nesterov: NAdam's first-moment estimate (optax's ``nadam``).
        nu_dtype: dtype of the second moment (e.g. ``jnp.bfloat16``); the
            update is computed in float32 whatever the stored dtypes.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adam(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    return chain(
        scale_by_adam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    weight_decay=1e-4,
    mask=None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adam with decoupled weight decay, as ``optax.adamw`` (same arguments and defaults).

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``.

    Conventions: the decay is multiplied by the learning rate (optax, torch;
    the paper's schedule multiplier ``eta_t`` with ``alpha = eta``). Default
    ``weight_decay=1e-4`` (optax); torch's ``AdamW`` uses ``1e-2``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype: as :func:`adam`.
        weight_decay: ``>= 0``: number, array or schedule.
        mask: a tree of bools with the params' structure or a prefix of it
            (optax's semantics, e.g. ``{"encoder": False, "head": True}``),
            or a function of the params returning one; ``False`` leaves are
            not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adamw(0.1, weight_decay=0.5)
        >>> p = jnp.array([2.0])
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(p), p)
        >>> u  # -0.1 * (1 + 0.5 * 2)
        Array([-0.2], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return with_decoupled_decay(
        scale_by_adam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
        ),
        learning_rate,
        weight_decay,
        mask,
    )


def _nadam_direction(b1, b2, eps, eps_root, mu_dtype, momentum_decay, nu_dtype, nesterov=True):
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
    if momentum_decay is None:
        return scale_by_adam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
        )
    if not nesterov:
        raise ValueError("nesterov=False (plain Adam) cannot be combined with momentum_decay (Dozat's schedule)")
    if nu_dtype is not None:
        raise ValueError("nu_dtype is not supported with momentum_decay (scale_by_nadam keeps nu in the param dtype)")
    return scale_by_nadam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, momentum_decay=momentum_decay, mu_dtype=mu_dtype)


def nadam(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    momentum_decay=None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam: Adam with a Nesterov look-ahead first moment.

    ``chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=True),
    scale_by_learning_rate(learning_rate))`` by default (optax's ``nadam``);
    with ``momentum_decay=psi`` the direction is
    :func:`~functional_opt.scale_by_nadam` (Dozat's momentum schedule, as
    ``torch.optim.NAdam``).

    ======================  ================  ===============  ==================
    choice                  this library      optax            torch
    ======================  ================  ===============  ==================
    momentum schedule       off (keyword)     off              on, psi = 0.004
    default learning rate   none (required)   none             2e-3
    ======================  ================  ===============  ==================

    The default follows optax (the paper's constant-momentum form, Dozat's
    section 3); ``momentum_decay=0.004`` reproduces torch.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2: decays in ``[0, 1)``.
        eps, eps_root: ``>= 0``.
        mu_dtype: dtype of the first moment.
        nesterov: ``True`` (the default) for the Nesterov look-ahead; ``False``
            gives plain Adam, as optax's ``nadam(nesterov=False)``.
        momentum_decay: ``None`` (optax) or ``psi >= 0`` (torch, paper schedule).
        nu_dtype: dtype of the second moment (``momentum_decay=None`` only);
            the update is computed in float32.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.nadam(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u.round(3)  # -0.1 * (0.9 * 0.3 / 0.19 + 3) / 3
        Array([-0.147], dtype=float32)

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """
    return chain(
        _nadam_direction(b1, b2, eps, eps_root, mu_dtype, momentum_decay, nu_dtype, nesterov),
        scale_by_learning_rate(learning_rate),
    )


def nadamw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Any = None,
    weight_decay=1e-4,
    mask=None,
    *,
    nesterov: bool = True,
    momentum_decay=None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam with decoupled weight decay (optax's ``nadamw``; torch's ``NAdam(decoupled_weight_decay=True)``).

    ``chain(<the direction of nadam>, add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``; ``momentum_decay`` chooses
    optax's or torch's direction as in :func:`nadam`. Default
    ``weight_decay=1e-4`` as optax (torch: 0).

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, mu_dtype, nesterov, momentum_decay, nu_dtype: as :func:`nadam`.
        weight_decay: ``>= 0``: number, array or schedule.
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.nadamw(0.1, weight_decay=0.0)
        >>> p = jnp.zeros(1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(p), p)
        >>> u.round(3)  # -0.1 * (0.9 * 0.3 / 0.19 + 3) / 3
        Array([-0.147], dtype=float32)

    References:
        Dozat 2016; Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    direction = _nadam_direction(b1, b2, eps, eps_root, mu_dtype, momentum_decay, nu_dtype, nesterov)
    return with_decoupled_decay(direction, learning_rate, weight_decay, mask)


def amsgrad(
    learning_rate,
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
    """AMSGrad: Adam over the running maximum of the second moment.

    ``chain(scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype,
    bias_correction_mu, bias_correction_nu, max_of_corrected=...),
    scale_by_learning_rate(learning_rate))``.

    Conventions: by default the maximum runs over the raw second moment and
    the current bias correction multiplies it, as
    ``torch.optim.Adam(amsgrad=True)``; ``optax.amsgrad`` takes the maximum
    of bias-corrected values (``max_of_corrected=True``). Both
    ``bias_correction_*=False`` is the paper. The table is on
    :func:`~functional_opt.scale_by_amsgrad`.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu, max_of_corrected, nu_dtype: see
            :func:`~functional_opt.scale_by_amsgrad`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.amsgrad(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u.round(4)
        Array([-0.1], dtype=float32)

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
    """
    return chain(
        scale_by_amsgrad(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
            max_of_corrected=max_of_corrected,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate, b1=0.9, b2=0.999, eps=1e-8, *, mu_dtype: Any = None, nu_dtype: Any = None
) -> GradientTransformation:
    """AdaMax: Adam with an infinity-norm second moment.

    ``chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))``.
    optax's ``adamax`` and ``torch.optim.Adamax`` (``weight_decay=0``)
    compute the same; torch's default learning rate is 2e-3.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, mu_dtype, nu_dtype: see :func:`~functional_opt.scale_by_adamax`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adamax(0.1)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u.round(4)
        Array([-0.1], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.
    """
    return chain(
        scale_by_adamax(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adamaxw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    weight_decay=1e-4,
    mask=None,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """AdaMax with decoupled weight decay, as optax's ``adamaxw``.

    ``chain(scale_by_adamax(b1, b2, eps), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``. (``torch.optim.Adamax``'s
    ``weight_decay`` is an L2 term added to the gradient, which is different.)

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, mu_dtype, nu_dtype: as :func:`adamax`.
        weight_decay: ``>= 0``: number, array or schedule (default 1e-4 as optax).
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adamaxw(0.1, weight_decay=0.5)
        >>> p = jnp.array([2.0])
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(p), p)
        >>> u.round(4)  # -0.1 * (1 + 0.5 * 2)
        Array([-0.2], dtype=float32)

    References:
        Kingma & Ba 2015; Loshchilov & Hutter, ICLR 2019.
    """
    direction = scale_by_adamax(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype)
    return with_decoupled_decay(direction, learning_rate, weight_decay, mask)
