"""Muon, Shampoo, Adan, AdEMAMix, ADOPT and Sophia.

Each is a documented ``chain`` of transforms; the update rules and the
conventions tables live on the transforms in :mod:`functional_opt.transforms`
(``muon``, ``shampoo``, ``adan``, ``ademamix``, ``adopt``, ``sophia``). SAM is
a wrapper: see :mod:`functional_opt.sam`.
"""

from __future__ import annotations

from typing import Any

import jax

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.optimizers.core import adamw
from functional_opt.transforms.adan import scale_by_adan
from functional_opt.transforms.ademamix import scale_by_ademamix
from functional_opt.transforms.adopt import default_clip, scale_by_adopt
from functional_opt.transforms.momentum import trace
from functional_opt.transforms.muon import MUON_NS_COEFFS, scale_by_muon
from functional_opt.transforms.scaling import scale_by_learning_rate, scale_by_schedule
from functional_opt.transforms.shampoo import scale_by_shampoo
from functional_opt.transforms.sophia import scale_by_sophia
from functional_opt.transforms.weight_decay import add_decayed_weights
from functional_opt.wrappers.masking import partition


def muon(
    learning_rate,
    ns_coeffs=MUON_NS_COEFFS,
    ns_steps: int = 5,
    beta=0.95,
    eps=1e-7,
    weight_decay=0.0,
    *,
    mu_dtype: Any = None,
    nesterov: bool = True,
    muon_mask=None,
    fallback: GradientTransformation | None = None,
    adam_b1=0.9,
    adam_b2=0.999,
    adam_eps=1e-8,
    adam_weight_decay=0.0,
    adam_learning_rate=None,
) -> GradientTransformation:
    """Muon on the matrix leaves, a fallback optimizer (AdamW by default) on the rest.

    ``partition({"muon": chain(scale_by_muon(beta, ns_coeffs, ns_steps, eps,
    mu_dtype, nesterov=nesterov), add_decayed_weights(weight_decay),
    scale_by_learning_rate(learning_rate)), "fallback": fallback}, labels)``,
    where ``fallback`` defaults to ``adamw(adam_learning_rate or
    learning_rate, adam_b1, adam_b2, adam_eps,
    weight_decay=adam_weight_decay)``.

    ``muon_mask`` picks the Muon leaves: a tree of bools with the params'
    structure or a prefix of it (optax's semantics), or a function of a tree
    returning one (called on the params at ``init`` and on the updates at
    ``update``, so it may look at structure and shapes, not values). The
    default rule is "``ndim == 2``", as optax; the reference also recommends
    sending the embedding and the output head to the fallback, which you do
    with a mask. Leaves with ``ndim > 2`` marked True are treated as
    ``(prod(shape[:-1]), shape[-1])`` matrices.

    Conventions: weight decay is decoupled and multiplied by the learning
    rate (the reference's ``p *= 1 - lr * wd``). Defaults are the
    reference's: ``beta=0.95``, Nesterov, 5 steps of ``(3.4445, -4.7750,
    2.0315)``, norm ``eps=1e-7`` (optax: 1e-8; the reference's learning rate
    is 0.02). The momentum is not bias-corrected (optax's is); the table is on
    :func:`scale_by_muon`. The positional arguments follow
    ``optax.contrib.muon``'s order.

    Args:
        learning_rate: Muon's rate ``>= 0`` (number, array or schedule).
        ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov: see :func:`scale_by_muon`.
        weight_decay: ``>= 0`` decoupled decay of the Muon leaves.
        muon_mask: tree of bools (the params' structure or a prefix of it) or
            a function of a tree returning one; ``None`` means ``ndim == 2``.
        fallback: the optimizer of the other leaves (a full optimizer, sign
            included); default AdamW built from the ``adam_*`` arguments.
        adam_b1, adam_b2, adam_eps, adam_weight_decay: the default fallback's.
        adam_learning_rate: the default fallback's rate; ``None`` means ``learning_rate``.

    State: :class:`PartitionState` with the labels ``"muon"`` and ``"fallback"``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.muon(0.02)
        >>> p = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
        >>> u, s = opt.update(p, opt.init(p), p)
        >>> u["b"]  # the vector went to AdamW: -lr * sign(g) = 0 here
        Array([0., 0., 0., 0.], dtype=float32)

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (github.com/KellerJordan/Muon).
    """
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)
    if fallback is None:
        fallback = adamw(
            learning_rate if adam_learning_rate is None else adam_learning_rate,
            b1=adam_b1,
            b2=adam_b2,
            eps=adam_eps,
            weight_decay=adam_weight_decay,
        )
    branch = chain(
        scale_by_muon(beta=beta, ns_coeffs=ns_coeffs, ns_steps=ns_steps, eps=eps, mu_dtype=mu_dtype,
                      nesterov=nesterov),
        add_decayed_weights(weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )

    def labels(tree):
        leaves, treedef = jax.tree.flatten(tree)
        if muon_mask is None:
            flags = [len(getattr(x, "shape", ())) == 2 for x in leaves]
        else:
            flags = _tree.resolve_mask("muon", muon_mask, tree, name="muon_mask")
        return treedef.unflatten(["muon" if f else "fallback" for f in flags])

    return partition({"muon": branch, "fallback": fallback}, labels)


def shampoo(
    learning_rate,
    eps=1e-4,
    precondition_frequency: int = 1,
    max_preconditioner_dim: int = 1024,
    momentum=None,
    nesterov: bool = False,
) -> GradientTransformation:
    """Shampoo: Kronecker-factored preconditioning of each leaf (optionally with momentum).

    ``chain(scale_by_shampoo(eps, precondition_frequency, max_preconditioner_dim),
    trace(momentum, nesterov) if momentum is not None,
    scale_by_learning_rate(learning_rate))``; see :func:`scale_by_shampoo`
    for the rule on tensors of any order, the update frequency and the
    memory. Momentum, when given, is heavy-ball on the preconditioned
    direction (learning rate outside the buffer). optax has no Shampoo.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        eps, precondition_frequency, max_preconditioner_dim: see :func:`scale_by_shampoo`.
        momentum: ``None`` or a coefficient in ``[0, 1]``; nesterov: Nesterov momentum.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.shampoo(0.1, eps=1e-8)
        >>> u, s = opt.update(jnp.array([[3.0]]), opt.init(jnp.zeros((1, 1))))
        >>> u.round(3)  # 1x1: -lr * g / (g^2)^(1/2)
        Array([[-0.1]], dtype=float32)

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
        Optimization", ICML 2018.
    """
    if momentum is not None:
        check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
    return chain(
        scale_by_shampoo(
            eps=eps, precondition_frequency=precondition_frequency, max_preconditioner_dim=max_preconditioner_dim
        ),
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


def adan(
    learning_rate,
    b1=0.98,
    b2=0.92,
    b3=0.99,
    eps=1e-8,
    eps_root=0.0,
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
    with ``eps_root=0`` (the official code has none; ``optax.adan`` uses
    1e-8). The difference term uses ``b2`` as in the paper, not optax's
    ``1 - b2`` (see :func:`scale_by_adan`).

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        b1, b2, b3, eps, eps_root: see :func:`scale_by_adan`.
        weight_decay: ``>= 0`` (number, array or schedule).
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.
        no_prox: decay as AdamW instead of the proximal division.

    Example:
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

    Example:
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
    return chain(
        scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_learning_rate(learning_rate),
    )


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
) -> GradientTransformation:
    """ADOPT: Adam normalizing the gradient by the previous second moment, as ``optax.contrib.adopt``.

    ``chain(scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=..., use_clipping=...,
    clip_value_fn=...), scale_by_learning_rate(learning_rate))``, with the
    reference's and optax's defaults; the first step only initializes the
    second moment and leaves the params unchanged.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn: see :func:`scale_by_adopt`.

    Example:
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
            b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nesterov=nesterov, use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
        ),
        scale_by_learning_rate(learning_rate),
    )


def sophia(
    learning_rate,
    b1=0.965,
    b2=0.99,
    eps=1e-8,
    weight_decay=1e-4,
    weight_decay_mask=None,
    gamma=0.01,
    clip_threshold=1.0,
    update_interval: int = 10,
    seed: int = 0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Sophia-H: momentum preconditioned by a clipped Hessian-diagonal estimate.

    ``chain(scale_by_sophia(b1, b2, eps, gamma, clip_threshold,
    update_interval, seed, mu_dtype), add_decayed_weights(weight_decay,
    weight_decay_mask), scale_by_learning_rate(learning_rate))``. ``update``
    needs ``params`` and ``obj_fn=`` (the batch loss as a function of the
    params), from which a Hutchinson estimate of the Hessian diagonal is drawn
    every ``update_interval`` steps; see :func:`scale_by_sophia`. Defaults
    are optax's (``b1=0.965``, ``b2=0.99``, ``gamma=0.01``,
    ``weight_decay=1e-4``, ``update_interval=10``); ``seed`` replaces optax's
    ``hessian_diagonal_fn``.

    Args:
        learning_rate: ``>= 0`` (number, array or schedule).
        weight_decay: ``>= 0`` decoupled decay.
        weight_decay_mask: tree of bools (the params' structure or a prefix of
            it) or a function of the params; ``False`` leaves are not decayed.
        b1, b2, eps, gamma, clip_threshold, update_interval, seed, mu_dtype: see
            :func:`scale_by_sophia`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda p: jnp.sum(p ** 2)
        >>> opt = fo.sophia(0.1, weight_decay=0.0)
        >>> p = jnp.array([1.0, -1.0])
        >>> u, s = opt.update(jax.grad(loss)(p), opt.init(p), p, obj_fn=loss)
        >>> u  # mu / (gamma * h) = 0.07 / 0.0002 is clipped to 1
        Array([-0.1,  0.1], dtype=float32)

    References:
        Liu et al., "Sophia: A Scalable Stochastic Second-order Optimizer for
        Language Model Pre-training", ICLR 2024.
    """
    return chain(
        scale_by_sophia(
            b1=b1, b2=b2, eps=eps, gamma=gamma, clip_threshold=clip_threshold, update_interval=update_interval,
            seed=seed, mu_dtype=mu_dtype,
        ),
        add_decayed_weights(weight_decay=weight_decay, mask=weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
