"""Loss-side regularization: L1 / L2 / elastic-net penalties over pytrees, and dropout.

Coupled versus decoupled weight decay
-------------------------------------
An L2 *penalty* is added to the loss, so its gradient goes through the
optimizer with the data gradient::

    loss(w) + lam * l2_penalty(w),   l2_penalty(w) = 0.5 * sum(w**2)
    g = grad loss(w) + lam * w        (then e.g. Adam divides g by sqrt(nu))

*Decoupled* weight decay (:func:`functional_opt.add_decayed_weights`, as in
:func:`functional_opt.adamw`) adds ``lam * w`` to the *update* after the
adaptive scaling::

    w <- w - lr * (adam_direction(grad loss) + lam * w)

Under plain SGD both give ``w <- w - lr * (grad loss + lam * w)``: identical.
Under Adam they differ: the coupled penalty's gradient is rescaled per
coordinate (weights with large gradient variance are barely decayed), the
decoupled one decays every weight at the same rate (Loshchilov & Hutter).
The L1 counterpart on the update side is :func:`functional_opt.prox_l1`,
which produces exact zeros; the gradient of :func:`l1_penalty` (``lam *
sign(w)``) only makes weights oscillate around 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, compute_dtype, value_at

Mask = Any  # a tree of bools with the params' structure or a prefix of it, or params -> such a tree


def _sum_of(where: str, fn, params, mask) -> jax.Array:
    """``sum(fn(w))`` over the leaves ``mask`` selects (the one mask reader), in at least float32."""
    keep = _tree.resolve_mask(where, mask, params)
    leaves = [jnp.asarray(x) for x, k in zip(jax.tree.leaves(params), keep) if k]
    return _tree.tree_sum([jnp.sum(fn(_tree.up(x))) for x in leaves])


def l1_penalty(params, mask: Mask | Callable | None = None) -> jax.Array:
    """The L1 norm of the parameters: ``sum_i |w_i|`` over every (unmasked) leaf.

    Add ``lam * l1_penalty(params)`` to the loss. Its (sub)gradient is
    ``lam * sign(w)``, which makes small weights oscillate around 0 rather
    than reach it; for exact zeros use the proximal step
    :func:`functional_opt.prox_l1` instead.

    Args:
        params: a pytree of arrays (``None`` leaves are skipped).
        mask: ``None`` (all leaves), a tree of bools with the params'
            structure or a prefix of it (e.g. ``{"encoder": False, "head":
            True}``, as in :func:`functional_opt.masked`), or a function
            ``params -> such a tree``; leaves marked ``False`` are not
            penalized (e.g. biases).

    Returns:
        A float32 (or wider) scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.l1_penalty({"w": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}, mask={"w": True, "b": False})
        Array(3., dtype=float32)

    References:
        Tibshirani, "Regression Shrinkage and Selection via the Lasso", 1996.
    """
    return _sum_of("l1_penalty", jnp.abs, params, mask)


def l2_penalty(params, mask: Mask | Callable | None = None) -> jax.Array:
    """Half the squared L2 norm of the parameters: ``0.5 * sum_i |w_i|**2``.

    The ``1/2`` makes the gradient of ``lam * l2_penalty(w)`` exactly
    ``lam * w``, so the penalty coefficient ``lam`` and a decoupled
    ``weight_decay`` have the same meaning under SGD (see the module
    docstring for why they differ under Adam). torch's ``weight_decay=lam``
    in ``SGD``/``Adam`` is this coupled penalty; Keras' ``l2(l)`` regularizer
    is ``l * sum(w**2)`` without the ``1/2`` (``l = lam / 2``).

    Args:
        params: a pytree of arrays (``None`` leaves are skipped).
        mask: as in :func:`l1_penalty`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.l2_penalty({"w": jnp.array([1.0, -2.0])})
        Array(2.5, dtype=float32)

    References:
        Krogh & Hertz, "A Simple Weight Decay Can Improve Generalization", NIPS 1991.
    """
    return 0.5 * _sum_of("l2_penalty", _tree.abs_sq, params, mask)


def elastic_net_penalty(params, l1_ratio=0.5, mask: Mask | Callable | None = None) -> jax.Array:
    """Elastic net: ``l1_ratio * sum|w| + (1 - l1_ratio) * 0.5 * sum w**2``.

    The mix of :func:`l1_penalty` and :func:`l2_penalty` used by
    scikit-learn's ``ElasticNet`` (whose ``alpha`` is the caller's overall
    coefficient: add ``alpha * elastic_net_penalty(params, l1_ratio)``).

    Args:
        params: a pytree of arrays.
        l1_ratio: the L1 share in ``[0, 1]`` (1: pure L1, 0: pure L2).
        mask: as in :func:`l1_penalty`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.elastic_net_penalty({"w": jnp.array([1.0, -2.0])}, l1_ratio=0.5)
        Array(2.75, dtype=float32)

    References:
        Zou & Hastie, "Regularization and Variable Selection via the Elastic
        Net", J. R. Stat. Soc. B 2005.
    """
    check_number("l1_ratio", l1_ratio, low=0.0, high=1.0)
    r = value_at(l1_ratio, None)
    return r * l1_penalty(params, mask) + (1 - r) * l2_penalty(params, mask)


def dropout(rng_key, rate, x, *, deterministic: bool = False) -> jax.Array:
    """Inverted dropout: zero each element with probability ``rate``, scale the rest.

    ``y = x * m / (1 - rate)`` with ``m ~ Bernoulli(1 - rate)`` i.i.d. per
    element, so ``E[y] = x`` and no rescaling is needed at evaluation time
    (``deterministic=True`` returns ``x``). Conventions: ``rate`` is the
    *drop* probability (torch's ``p``, Keras' and flax's ``rate``; the old
    TensorFlow ``keep_prob`` is ``1 - rate``).

    ``rate`` may be a jax array or tracer (it is then not checked: a traced
    rate of 1 zeroes everything, with zero gradient, not NaN). ``rate = 0``
    is the identity.

    Args:
        rng_key: a ``jax.random`` key; use a fresh one per step.
        rate: the drop probability in ``[0, 1)``.
        x: the activations (any float dtype; returned in that dtype).
        deterministic: a Python bool; ``True`` returns ``x`` unchanged.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> y = fo.dropout(jax.random.PRNGKey(0), 0.5, jnp.ones(8))
        >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True

    References:
        Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks
        from Overfitting", JMLR 2014.
    """
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a Python bool, got {deterministic!r}")
    check_number("rate", rate, low=0.0, high=1.0, high_inclusive=False)
    x = jnp.asarray(x)
    if deterministic or (isinstance(rate, (int, float)) and rate == 0):
        return x
    dt = compute_dtype(x.dtype)
    r = value_at(rate, None, dt)
    keep = jax.random.bernoulli(rng_key, 1 - r, x.shape)
    multiplier = jnp.where(keep, 1 / (1 - r), jnp.zeros((), dt))
    return (x.astype(dt) * multiplier).astype(x.dtype)
