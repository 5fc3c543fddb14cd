"""Layer-wise normalized optimizers: LARS and LAMB (per-layer trust ratios,
for large batches), NovoGrad (per-layer second moments) and Fromage (steps
relative to each layer's norm). A leaf is a layer.

Each optimizer is a documented ``chain`` of transforms; the update rules and
the tables of conventions live on the transforms
(:mod:`functional_opt.transforms`).
"""

from __future__ import annotations

from typing import Any

from functional_opt._hparams import check_number
from functional_opt.base import GradientTransformation, chain
from functional_opt.transforms.adam import scale_by_adam
from functional_opt.transforms.fromage import scale_by_fromage
from functional_opt.transforms.momentum import trace
from functional_opt.transforms.novograd import scale_by_novograd
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.trust_ratio import scale_by_trust_ratio
from functional_opt.transforms.weight_decay import add_decayed_weights


def lars(
    learning_rate,
    weight_decay=0.0,
    weight_decay_mask: Any = True,
    trust_coefficient=0.001,
    eps=0.0,
    trust_ratio_mask: Any = True,
    momentum=0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS: SGD with momentum and a per-layer trust ratio, as ``optax.lars``.

    ``chain(add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps,
    mask=trust_ratio_mask), scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov))``: the ratio (on
    :func:`scale_by_trust_ratio`) rescales the decayed gradient
    ``d = g + weight_decay * w`` of each leaf, and the learning rate is
    inside the momentum buffer.

    Conventions:

    ====================  ===================================  ===============================
    choice                this library, optax                  LARS paper (Alg. 1)
    ====================  ===================================  ===============================
    trust-ratio denom.    ``||g + weight_decay w|| + eps``     ``||g|| + weight_decay ||w||``
    learning rate         inside the momentum                  inside the momentum
    trust coefficient     0.001                                0.001
    ====================  ===================================  ===============================

    The two denominators agree without weight decay; with it the paper's is
    the triangle-inequality bound of ours, so its ratio is slightly smaller.
    A leaf is a layer: kernel and bias get separate ratios.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        weight_decay: ``>= 0`` (coupled: added to the gradient before the
            trust ratio, as in the paper).
        weight_decay_mask: ``True`` (all leaves, the default), or a tree of
            bools with the params' structure or a prefix of it, or a function
            of the params returning one.
        trust_coefficient: ``> 0``.
        eps: ``>= 0``, added to the denominator of the ratio.
        trust_ratio_mask: like ``weight_decay_mask``; ``False`` leaves (e.g.
            biases, norms) skip the ratio.
        momentum: in ``[0, 1]``.
        nesterov: Nesterov momentum.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.lars(1.0, trust_coefficient=0.1, momentum=0.0)
        >>> p = jnp.array([3.0, 4.0])
        >>> u, _ = opt.update(jnp.array([0.0, 2.0]), opt.init(p), p)
        >>> u  # -(0.1 * 5 / 2) * g
        Array([ 0. , -0.5], dtype=float32)

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional
        Networks", 2017 (arXiv:1708.03888).
    """
    check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
    return chain(
        add_decayed_weights(weight_decay=weight_decay, mask=weight_decay_mask),
        scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps, mask=trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )


def lamb(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-6,
    eps_root=0.0,
    weight_decay=0.0,
    mask: Any = None,
) -> GradientTransformation:
    """LAMB: Adam's direction plus decoupled decay, rescaled per layer, as ``optax.lamb``.

    ``chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay,
    mask), scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))``:
    each leaf's direction ``d = adam + weight_decay * w`` is rescaled by
    ``||w|| / ||d||``.

    Conventions: the paper's scaling function ``phi`` is the identity (as in
    optax and NVIDIA's reference); ``eps = 1e-6`` outside the root (paper,
    optax); Adam's bias correction on (the paper's Algorithm 2; the first
    LAMB preprint omitted it). A leaf is a layer: kernel and bias have
    separate ratios; mask the decay off biases and norms with ``mask``.

    Args:
        learning_rate: ``>= 0``: number, array or schedule.
        b1, b2: Adam decays in ``[0, 1)``.
        eps, eps_root: ``>= 0`` (outside / inside the root).
        weight_decay: ``>= 0`` (decoupled: added to Adam's direction).
        mask: tree of bools (the params' structure or a prefix of it) or a
            function of the params; ``False`` leaves are not decayed.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.lamb(0.1)
        >>> p = jnp.array([3.0, 4.0])
        >>> u, _ = opt.update(jnp.array([1.0, 1.0]), opt.init(p), p)
        >>> u.round(4)  # Adam gives (1, 1); ratio 5 / sqrt(2)
        Array([-0.3536, -0.3536], dtype=float32)

    References:
        You et al., "Large Batch Optimization for Deep Learning: Training BERT
        in 76 minutes", ICLR 2020.
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def novograd(learning_rate, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0) -> GradientTransformation:
    """NovoGrad: per-leaf normalised gradient momentum (defaults as optax's ``novograd``).

    ``chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
    scale_by_learning_rate(learning_rate))``, the paper's Algorithm 1.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        b1, b2, eps, eps_root, weight_decay: see :func:`~functional_opt.scale_by_novograd`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.novograd(0.1, eps=0.0)
        >>> opt.update(jnp.array([3.0, 4.0]), opt.init(jnp.zeros(2)))[0].round(4)  # -0.1 g / ||g||
        Array([-0.06, -0.08], dtype=float32)

    References:
        Ginsburg et al., arXiv:1905.11286, 2019.
    """
    return chain(
        scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def fromage(learning_rate, min_norm=1e-6) -> GradientTransformation:
    """Fromage: per-leaf steps relative to the parameter's norm, as optax's ``fromage``.

    ``chain(scale_by_fromage(learning_rate, min_norm))``: the transform takes
    the learning rate itself (it enters the rescaling of the parameters, see
    :func:`~functional_opt.scale_by_fromage`) and returns the full descent
    update. Needs ``params`` in ``update``.

    Args:
        learning_rate: ``eta >= 0``: number, array or schedule.
        min_norm: ``>= 0``, floor for both norms.

    Examples:
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
