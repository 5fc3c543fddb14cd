"""Muon: orthogonalized momentum on the matrix leaves, a fallback optimizer on the rest.

The optimizer is a documented ``partition`` of two chains; the update rule
and the table of conventions live on :func:`~functional_opt.scale_by_muon`.
"""

from __future__ import annotations

from typing import Any

import jax

from functional_opt import _tree
from functional_opt._hparams import check_number
from functional_opt.base import GradientTransformation
from functional_opt.optimizers._links import with_decoupled_decay
from functional_opt.optimizers.adam import adamw
from functional_opt.transforms.muon import MUON_NS_COEFFS, leaf_dimension_numbers, scale_by_muon
from functional_opt.wrappers.masking import partition


def muon(
    learning_rate,
    ns_coeffs=MUON_NS_COEFFS,
    ns_steps: int = 5,
    beta=0.95,
    eps=1e-7,
    weight_decay=0.0,
    weight_decay_mask=None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1=0.9,
    adam_b2=0.999,
    adam_eps_root=0.0,
    adam_weight_decay=0.0,
    adam_learning_rate=None,
    muon_weight_dimension_numbers=None,
    consistent_rms=None,
    muon_mask=None,
    fallback: GradientTransformation | None = None,
    adam_eps=1e-8,
) -> GradientTransformation:
    """Muon on the matrix leaves, a fallback optimizer (AdamW by default) on the rest.

    ``partition({"muon": chain(scale_by_muon(ns_coeffs, ns_steps, beta, eps,
    mu_dtype, nesterov=, adaptive=, preconditioning=,
    weight_dimension_numbers=, consistent_rms=),
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate)), "fallback": fallback}, labels)``,
    where ``fallback`` defaults to ``adamw(adam_learning_rate or
    learning_rate, adam_b1, adam_b2, adam_eps, adam_eps_root,
    weight_decay=adam_weight_decay)``.

    Which leaves are Muon's: by default those with ``ndim == 2`` (optax).
    ``muon_weight_dimension_numbers`` (optax's) is a tree of
    :class:`~functional_opt.transforms.muon.MuonDimensionNumbers` (params'
    structure or a prefix of it, or a function of the params returning
    one): a leaf with an entry is Muon's, laid out as the entry says (other
    axes are batch axes), a ``None`` entry goes to the fallback. ``muon_mask``
    (this library's) is a tree of bools or a function returning one; the
    leaves marked True with ``ndim > 2`` are treated as
    ``(prod(shape[:-1]), shape[-1])`` matrices. Pass at most one of the two.
    The reference also recommends sending the embedding and the output head
    to the fallback, which either argument does.

    Conventions: weight decay is decoupled and multiplied by the learning
    rate (the reference's ``p *= 1 - lr * wd``). Defaults are the
    reference's: ``beta=0.95``, Nesterov, 5 steps of ``(3.4445, -4.7750,
    2.0315)``, norm ``eps=1e-7`` (optax: 1e-8; the reference's learning rate
    is 0.02). The momentum is not bias-corrected (optax's is); the table is on
    :func:`scale_by_muon`. The fallback is plain AdamW with its own
    ``adam_eps`` (optax's uses Muon's ``eps``, ``mu_dtype`` and
    ``nesterov``, i.e. NAdamW by default). The positional arguments follow
    ``optax.contrib.muon``'s order.

    Args:
        learning_rate: Muon's rate ``>= 0`` (number, array or schedule).
        ns_coeffs: as :func:`scale_by_muon`, and so are ``ns_steps``, ``beta``, ``eps``,
            ``mu_dtype``, ``nesterov``, ``adaptive``, ``preconditioning`` and ``consistent_rms``.
        weight_decay: ``>= 0`` decoupled decay of the Muon leaves.
        weight_decay_mask: bools (tree, prefix or function) choosing the Muon
            leaves that decay; ``None`` means all.
        adam_b1, adam_b2, adam_eps_root, adam_weight_decay, adam_eps: the
            default fallback's.
        adam_learning_rate: the default fallback's rate; ``None`` means ``learning_rate``.
        muon_weight_dimension_numbers: see above; ``None`` means ``ndim == 2``.
        muon_mask: tree of bools (the params' structure or a prefix of it) or
            a function of a tree returning one.
        fallback: the optimizer of the other leaves (a full optimizer, sign
            included); default AdamW built from the ``adam_*`` arguments.

    State: :class:`PartitionState` with the labels ``"muon"`` and ``"fallback"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.muon(0.02)
        >>> p = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
        >>> u, s = opt.update(p, opt.init(p), p)
        >>> u["b"]  # the vector went to AdamW: -lr * sign(g) = 0 here
        Array([0., 0., 0., 0.], dtype=float32)

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (github.com/KellerJordan/Muon); optax.contrib.muon.
    """
    check_number("weight_decay", weight_decay, low=0.0, allow_schedule=True)
    if muon_mask is not None and muon_weight_dimension_numbers is not None:
        raise ValueError("muon: pass muon_mask or muon_weight_dimension_numbers, not both")
    if fallback is None:
        fallback = adamw(
            learning_rate if adam_learning_rate is None else adam_learning_rate,
            b1=adam_b1,
            b2=adam_b2,
            eps=adam_eps,
            eps_root=adam_eps_root,
            weight_decay=adam_weight_decay,
        )
    direction = scale_by_muon(
        ns_coeffs,
        ns_steps,
        beta,
        eps,
        mu_dtype,
        nesterov=nesterov,
        adaptive=adaptive,
        preconditioning=preconditioning,
        weight_dimension_numbers=muon_weight_dimension_numbers,
        consistent_rms=consistent_rms,
    )
    branch = with_decoupled_decay(direction, learning_rate, weight_decay, weight_decay_mask)

    def labels(tree):
        leaves, treedef = jax.tree.flatten(tree)
        if muon_weight_dimension_numbers is not None:
            dims = leaf_dimension_numbers("muon", muon_weight_dimension_numbers, tree)
            flags = [d is not None for d in dims]
        elif muon_mask is None:
            flags = [len(getattr(x, "shape", ())) == 2 for x in leaves]
        else:
            flags = _tree.resolve_mask("muon", muon_mask, tree, name="muon_mask")
        return treedef.unflatten(["muon" if f else "fallback" for f in flags])

    return partition({"muon": branch, "fallback": fallback}, labels)
