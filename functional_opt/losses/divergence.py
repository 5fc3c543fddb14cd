"""Divergences between distributions given in log space (no reduction over the batch).

Each function sums over the distribution ``axis`` (or axes) and keeps the
other axes: one value per example. The math is done in at least float32 and
the result returned in the inputs' floating dtype. Names, argument names and
orders follow ``optax.losses``. :func:`~functional_opt.losses.kl_divergence`
(probability targets) lives in :mod:`.classification`.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from functional_opt._hparams import upcast_floating
from functional_opt.losses.classification import kl_divergence


def kl_divergence_with_log_targets(log_predictions, log_targets, axis=-1, where=None):
    """Kullback-Leibler divergence ``KL(targets || predictions)`` with both sides as log-probabilities.

    ``l = sum_k exp(log_t_k) * (log_t_k - log_q_k)`` over ``axis``, with
    ``q`` the predictions and ``t`` the targets.

    Conventions: the same value as :func:`kl_divergence` on
    ``(log_predictions, exp(log_targets))``, without the round trip through
    probability space (exact for targets far below the float range). A
    target of probability 0 (``log_t = -inf``) contributes 0 (``0 log 0 = 0``,
    with a zero gradient); optax gives NaN there. torch's
    ``kl_div(input, target, log_target=True, reduction="none")`` summed
    over ``axis`` is the same quantity.

    Args:
        log_predictions: floating log-probabilities ``[..., dim]``.
        log_targets: floating log-probabilities of the targets, same shape.
        axis: the distribution axis (or axes).
        where: optional bool mask of the elements to include.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> log_q = jnp.log(jnp.array([0.25, 0.5, 0.25]))
        >>> log_t = jnp.log(jnp.array([0.5, 0.5, 0.0]))
        >>> fo.losses.kl_divergence_with_log_targets(log_q, log_t).round(4)
        Array(0.3466, dtype=float32)

    References:
        Kullback & Leibler, "On Information and Sufficiency", Ann. Math. Stat. 1951.
    """
    logq, logt, out = upcast_floating("log_predictions", log_predictions, "log_targets", log_targets)
    present = logt > -jnp.inf
    safe_logt = jnp.where(present, logt, 0.0)
    terms = jnp.where(present, jnp.exp(safe_logt) * (safe_logt - logq), 0.0)
    return jnp.sum(terms, axis=axis, where=where).astype(out)


def generalized_kl_divergence(log_predictions, targets, axis=-1, where=None):
    """Generalized Kullback-Leibler divergence, for unnormalized (positive) measures.

    ``l = sum_k [t_k (log t_k - log_q_k) - t_k + q_k]`` over ``axis``, with
    ``q = exp(log_predictions)`` and ``0 log 0 = 0``: the Bregman divergence
    of ``f(x) = x log x - x``. It is :func:`kl_divergence` plus
    ``sum(q) - sum(t)``, so it equals the KL divergence when both sum to 1,
    and it is ``>= 0`` for any non-negative ``t`` and ``q`` (0 iff ``q = t``).

    Args:
        log_predictions: floating log of the predicted measure ``[..., dim]``.
        targets: non-negative target measure, same shape.
        axis: the axis (or axes) summed over.
        where: optional bool mask of the elements to include.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.generalized_kl_divergence(jnp.log(jnp.array([1.0, 2.0])), jnp.array([2.0, 2.0])).round(4)
        Array(0.3863, dtype=float32)

    References:
        Bregman, "The relaxation method of finding the common point of convex
        sets", USSR Comput. Math. Math. Phys. 1967; Boyd & Vandenberghe,
        "Convex Optimization", 2004, p. 90.
    """
    logq, t, out = upcast_floating("log_predictions", log_predictions, "targets", targets)
    kl = kl_divergence(logq, t, axis=axis, where=where)
    mass = jnp.sum(jnp.exp(logq) - t, axis=axis, where=where)
    return (kl + mass).astype(out)


def convex_kl_divergence(log_predictions, targets, axis=-1, where=None):
    """optax's deprecated name of :func:`generalized_kl_divergence` (the same value).

    ``l = sum_k [t_k (log t_k - log_q_k) - t_k + q_k]``. Emits a
    ``DeprecationWarning`` (as optax 0.2.8) pointing to
    :func:`generalized_kl_divergence`.

    Args:
        log_predictions: floating log of the predicted measure.
        targets: non-negative target measure, same shape.
        axis: the axis (or axes) summed over.
        where: optional bool mask of the elements to include.

    Examples:
        >>> import warnings
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     fo.losses.convex_kl_divergence(jnp.log(jnp.array([1.0, 2.0])), jnp.array([2.0, 2.0])).round(4)
        Array(0.3863, dtype=float32)

    References:
        optax.losses.convex_kl_divergence (deprecated there in favour of
        generalized_kl_divergence).
    """
    warnings.warn(
        "convex_kl_divergence is deprecated (as in optax), use generalized_kl_divergence",
        DeprecationWarning,
        stacklevel=2,
    )
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
