"""Adagrad, Adadelta, SM3, Rprop, the sign methods, noisy and Polyak SGD,
NovoGrad and Fromage.

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms.
"""

from __future__ import annotations

from typing import Any

from functional_opt._hparams import concrete_scalar, check_number
from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.transforms.adadelta import scale_by_adadelta
from functional_opt.transforms.adagrad import scale_by_rss
from functional_opt.transforms.fromage import scale_by_fromage
from functional_opt.transforms.momentum import ema
from functional_opt.transforms.noise import add_noise
from functional_opt.transforms.novograd import scale_by_novograd
from functional_opt.transforms.polyak import scale_by_polyak
from functional_opt.transforms.rprop import scale_by_rprop
from functional_opt.transforms.scaling import scale, scale_by_learning_rate
from functional_opt.transforms.sign import scale_by_sign
from functional_opt.transforms.sm3 import scale_by_sm3
from functional_opt.transforms.weight_decay import add_decayed_weights


def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7, *,
            eps_in_sqrt: bool = True) -> GradientTransformation:
    """Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.

    ``chain(scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt),
    scale_by_learning_rate(learning_rate))``. Defaults follow optax (the sum
    starts at 0.1, ``eps=1e-7`` inside the root).
    ``torch.optim.Adagrad`` (and the paper's ``delta``) is
    ``adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)``
    (torch's default learning rate is 1e-2; its ``lr_decay`` is the schedule
    ``lambda count: lr / (1 + count * lr_decay)``). Table on
    :func:`~functional_opt.scale_by_rss`.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        initial_accumulator_value: initial ``G``, ``>= 0``.
        eps: ``>= 0``.
        eps_in_sqrt: ``eps`` inside (optax) or outside (torch, paper) the root.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
        >>> u, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
        >>> u
        Array([-0.1], dtype=float32)

    References:
        Duchi, Hazan & Singer, JMLR 2011.
    """
    return chain(scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps,
                              eps_in_sqrt=eps_in_sqrt),
                 scale_by_learning_rate(learning_rate))


def adadelta(learning_rate=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
             weight_decay_mask=None) -> GradientTransformation:
    """Adadelta; with the default ``learning_rate=1.0`` exactly Zeiler's method.

    ``chain(add_decayed_weights(weight_decay, weight_decay_mask) if
    weight_decay != 0, scale_by_adadelta(rho, eps),
    scale_by_learning_rate(learning_rate))``.

    Conventions: the weight decay is coupled (added to the gradient before
    the adaptive scaling, as torch and optax). Defaults follow torch
    (``lr=1.0``); optax's ``adadelta`` has no default learning rate.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule (default 1.0).
        rho: decay in ``[0, 1]``.
        eps: ``> 0``.
        weight_decay: ``>= 0``, an L2 term added to the gradient (needs params when not 0).
        weight_decay_mask: tree of bools (the params' structure or a prefix
            of it) or a function of the params; ``False`` leaves are not decayed.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.adadelta()
        >>> u, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
        >>> (u * 1e3).round(3)  # a small step downhill
        Array([-3.162], dtype=float32)

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.
    """
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)
    decay = (identity() if concrete_scalar(weight_decay) == 0.0
             else add_decayed_weights(weight_decay=weight_decay, mask=weight_decay_mask))
    return chain(decay, scale_by_adadelta(rho=rho, eps=eps), scale_by_learning_rate(learning_rate))


def rprop(learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
          max_step_size=50.0) -> GradientTransformation:
    """Rprop (iRprop-): signed steps whose per-entry sizes adapt to sign agreement.

    ``chain(scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size,
    max_step_size), scale(-1.0))``: ``learning_rate`` is the initial step
    size (torch's default is 0.01), which the transform itself adapts, so the
    last link only flips the sign. Equal to ``torch.optim.Rprop``; optax's
    ``rprop`` lags by one step (see :func:`~functional_opt.scale_by_rprop`
    for the rule and the table).

    Args:
        learning_rate: initial step size ``>= 0`` (number or array; no schedule).
        eta_minus, eta_plus, min_step_size, max_step_size: see
            :func:`~functional_opt.scale_by_rprop`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.rprop(0.01)
        >>> u, _ = opt.update(jnp.array([3.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> u
        Array([-0.01,  0.01], dtype=float32)

    References:
        Riedmiller & Braun, ICNN 1993; Igel & Hüsken, 2000.
    """
    return chain(scale_by_rprop(learning_rate, eta_minus=eta_minus, eta_plus=eta_plus,
                                min_step_size=min_step_size, max_step_size=max_step_size),
                 scale(-1.0))


def sign_sgd(learning_rate) -> GradientTransformation:
    """signSGD: descend along the sign of the gradient, as optax's ``sign_sgd``.

    ``chain(scale_by_sign(), scale_by_learning_rate(learning_rate))``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sign_sgd(0.1)
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex Problems", ICML 2018.
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate, beta=0.9, accumulator_dtype: Any = None) -> GradientTransformation:
    """Signum: descend along the sign of a moving average of the gradients.

    ``chain(ema(beta, debias=False, accumulator_dtype), scale_by_sign(),
    scale_by_learning_rate(learning_rate))``. The average is not
    bias-corrected (the sign does not change). Same as optax's ``signum`` and
    the paper's Algorithm 3.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        beta: momentum in ``[0, 1]`` (number, array or schedule).
        accumulator_dtype: dtype of ``m``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.signum(0.1)
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., ICML 2018.
    """
    return chain(ema(beta, debias=False, accumulator_dtype=accumulator_dtype), scale_by_sign(),
                 scale_by_learning_rate(learning_rate))


def noisy_sgd(learning_rate, eta=0.01, gamma=0.55, key: Any = 0) -> GradientTransformation:
    """SGD on gradients with annealed Gaussian noise, as optax's ``noisy_sgd``.

    ``chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))``
    (the noise schedule is on :func:`~functional_opt.add_noise`). Default
    ``key=0`` (optax: ``None``, which it treats as seed 0); the same ``key``
    gives optax's noise.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        eta: base variance ``>= 0``.
        gamma: decay exponent ``>= 0``.
        key: an int seed or a PRNG key.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.noisy_sgd(0.1, eta=0.0)
        >>> opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.3], dtype=float32)

    References:
        Neelakantan et al., arXiv:1511.06807, 2015.
    """
    return chain(add_noise(eta=eta, gamma=gamma, key=key), scale_by_learning_rate(learning_rate))


def polyak_sgd(max_learning_rate=1.0, scaling=1.0, f_min=0.0, eps=0.0,
               variant: str = "sps") -> GradientTransformation:
    """SGD with Polyak's step size; ``update`` needs ``value=loss``.

    ``chain(scale_by_learning_rate(scaling), scale_by_polyak(f_min,
    max_learning_rate, eps, variant))``, as optax: the scaling comes first, so
    the step size is computed from the scaled gradient. With ``scaling=1``
    this is SPS_max of Loizou et al. with ``gamma_b = max_learning_rate``;
    ``scaling`` plays their constant ``c`` in the denominator and also scales
    the cap.

    Args:
        max_learning_rate: the cap ``> 0``.
        scaling: ``c >= 0``: number, array or schedule.
        f_min: lower bound on the loss.
        eps: ``>= 0``.
        variant: ``"sps"`` or ``"sps+"``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.polyak_sgd()
        >>> p = jnp.array([2.0])  # loss p**2 = 4, gradient 4
        >>> opt.update(jnp.array([4.0]), opt.init(p), p, value=4.0)[0]  # -min(4/16, 1) * 4
        Array([-1.], dtype=float32)

    References:
        Loizou et al., "Stochastic Polyak Step-size for SGD", AISTATS 2021.
    """
    return chain(scale_by_learning_rate(scaling),
                 scale_by_polyak(f_min=f_min, max_learning_rate=max_learning_rate, eps=eps, variant=variant))


def novograd(learning_rate, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0,
             weight_decay=0.0) -> GradientTransformation:
    """NovoGrad: per-leaf normalised gradient momentum (defaults as optax's ``novograd``).

    ``chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
    scale_by_learning_rate(learning_rate))``, the paper's Algorithm 1.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, weight_decay: see :func:`~functional_opt.scale_by_novograd`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.novograd(0.1, eps=0.0)
        >>> opt.update(jnp.array([3.0, 4.0]), opt.init(jnp.zeros(2)))[0].round(4)  # -0.1 g / ||g||
        Array([-0.06, -0.08], dtype=float32)

    References:
        Ginsburg et al., arXiv:1905.11286, 2019.
    """
    return chain(scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
                 scale_by_learning_rate(learning_rate))


def fromage(learning_rate, min_norm=1e-6) -> GradientTransformation:
    """Fromage: per-leaf steps relative to the parameter's norm, as optax's ``fromage``.

    ``chain(scale_by_fromage(learning_rate, min_norm))``: the transform takes
    the learning rate itself (it enters the rescaling of the parameters, see
    :func:`~functional_opt.scale_by_fromage`) and returns the full descent
    update. Needs ``params`` in ``update``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        min_norm: ``>= 0``, floor for both norms.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.fromage(0.1)
        >>> p = jnp.array([3.0, 4.0])
        >>> u, _ = opt.update(jnp.array([0.0, 2.0]), opt.init(p), p)
        >>> fo.apply_updates(p, u).round(4)  # (p - 0.1 * 5/2 * g) / sqrt(1.01)
        Array([2.9851, 3.4826], dtype=float32)

    References:
        Bernstein et al., NeurIPS 2020.
    """
    return chain(scale_by_fromage(learning_rate=learning_rate, min_norm=min_norm))


def sm3(learning_rate, momentum=0.9) -> GradientTransformation:
    """SM3: Adagrad with one accumulator per row/column (per axis) of each leaf.

    ``chain(scale_by_sm3(b1=momentum), scale_by_learning_rate(learning_rate))``
    (``b2 = 1``), as optax's ``sm3`` (whose learning rate cannot be a
    schedule; here it can).

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        momentum: in ``[0, 1]``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.sm3(0.1, momentum=0.0)
        >>> opt.update(jnp.array([[3.0, -4.0]]), opt.init(jnp.zeros((1, 2))))[0]
        Array([[-0.1,  0.1]], dtype=float32)

    References:
        Anil et al., "Memory-Efficient Adaptive Optimization", NeurIPS 2019.
    """
    return chain(scale_by_sm3(b1=momentum), scale_by_learning_rate(learning_rate))
