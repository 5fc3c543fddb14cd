"""Ranking losses: the cost of the ranking induced by item scores against relevance labels.

Lists are the last axis, leading axes are batch axes. As optax, the ranking
losses reduce over the lists by default (``reduce_fn=jnp.mean``);
``reduce_fn=None`` gives one value per list. The math is done in at least
float32 and the result returned in the logits' floating dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from functional_opt._hparams import upcast_floating


def ranking_softmax_loss(logits, labels, *, where=None, weights=None, reduce_fn=jnp.mean):
    """Listwise softmax (ListNet-style) ranking loss: cross entropy of the relevance labels against ``softmax(logits)``.

    Per list::

        l = -sum_i w_i y_i log(exp(s_i) / sum_{j valid} exp(s_j))

    over the valid items (``where``), with ``y`` the relevance labels (not
    normalized) and ``w`` the optional item weights. Then
    ``reduce_fn(l, where=list_valid)`` over the lists, a list being valid
    when it has a valid item.

    Conventions (as optax): ``reduce_fn=jnp.mean`` by default (a scalar);
    the mean over no valid list is 0, not NaN (a NaN loss still shows); with
    ``reduce_fn=None`` invalid lists get 0, so that
    ``jnp.sum(loss(reduce_fn=None)) == loss(reduce_fn=jnp.sum)``.

    Args:
        logits: floating ``[..., list_size]`` item scores.
        labels: ``[..., list_size]`` relevance labels.
        where: optional bool ``[..., list_size]``: the valid items.
        weights: optional ``[..., list_size]`` item weights.
        reduce_fn: ``jnp.mean``, ``jnp.sum``, another function taking
            ``where=``, or ``None`` (no reduction).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> scores = jnp.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
        >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> where = jnp.array([[True, True, False], [True, True, True]])
        >>> fo.losses.ranking_softmax_loss(scores, labels, where=where).round(3)
        Array(0.497, dtype=float32)

    References:
        Cao, Qin, Liu, Tsai & Li, "Learning to Rank: From Pairwise Approach
        to Listwise Approach", ICML 2007; Bruch et al., "An Analysis of the
        Softmax Cross Entropy Loss for Learning-to-Rank with Binary
        Relevance", ICTIR 2019.
    """
    if reduce_fn is not None and not callable(reduce_fn):
        raise TypeError(f"reduce_fn must be a callable (e.g. jnp.mean) or None, got {reduce_fn!r}")
    s, out = upcast_floating("logits", logits)
    dt = s.dtype
    if s.ndim < 1:
        raise ValueError("logits must have a list axis (the last), got a scalar")
    y = jnp.asarray(labels).astype(dt)
    for name, arr in (("labels", labels), ("where", where), ("weights", weights)):
        if arr is not None and jnp.shape(arr) != s.shape:
            raise ValueError(f"{name} must have the logits' shape {s.shape}, got {jnp.shape(arr)}")
    if weights is not None:
        y = y * jnp.asarray(weights).astype(dt)
    valid_list = None
    if where is not None:
        where = jnp.asarray(where, bool)
        y = jnp.where(where, y, 0.0)
        valid_list = jnp.any(where, axis=-1)
    log_p = jax.nn.log_softmax(s, axis=-1, where=where)
    terms = y * jnp.where(y != 0, log_p, 0.0) if where is None else jnp.where(where, y * log_p, 0.0)
    loss = -jnp.sum(terms, axis=-1)
    if reduce_fn is None:
        if valid_list is not None:
            loss = jnp.where(valid_list, loss, 0.0)
        return loss.astype(out)
    if reduce_fn is jnp.mean:
        if valid_list is None:
            return jnp.mean(loss).astype(out)
        count = jnp.sum(valid_list)
        total = jnp.sum(jnp.where(valid_list, loss, 0.0))
        return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0).astype(out)
    reduced = reduce_fn(loss) if valid_list is None else reduce_fn(loss, where=valid_list)
    return jnp.asarray(reduced).astype(out)
