"""Contrastive (metric-learning) losses on embeddings: NT-Xent and the triplet margin loss.

``ntxent`` averages over the positive pairs of the batch (as optax: one
scalar); ``triplet_margin_loss`` gives one value per triplet. The math is
done in at least float32 and the result returned in the embeddings' floating
dtype. Names and argument orders follow ``optax.losses``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_number, upcast_floating
from functional_opt.losses.regression import cosine_similarity


def ntxent(embeddings, labels, temperature=0.07):
    """Normalized temperature-scaled cross entropy (NT-Xent, SimCLR's loss), averaged over positive pairs.

    With ``s_ij = cos(e_i, e_j) / temperature``, the positive pairs ``P =
    {(i, j): i != j, labels_i = labels_j}`` and the negatives of ``i``,
    ``N_i = {k: labels_k != labels_i}``::

        l = mean_{(i, j) in P} [ log(exp(s_ij) + sum_{k in N_i} exp(s_ik)) - s_ij ]

    Each positive competes only with the anchor's negatives (not with the
    other positives), as optax and pytorch-metric-learning's ``NTXentLoss``.
    Evaluated with ``logaddexp`` / ``logsumexp``, so a small ``temperature``
    cannot overflow. The squared norms are floored at the dtype's machine
    epsilon (as optax), so a zero embedding has similarity 0, not NaN.

    Conventions (as optax): a scalar; a batch without any positive pair
    gives NaN (nothing to average).

    Args:
        embeddings: floating ``[batch, dim]`` embeddings.
        labels: ``[batch]`` group ids; equal ids are positive pairs.
        temperature: ``> 0``, the softmax temperature.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> e = jnp.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> fo.losses.ntxent(e, jnp.array([0, 0, 1, 1]), temperature=0.5).round(4)
        Array(0.2965, dtype=float32)

    References:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020;
        Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss
        Objective", NeurIPS 2016.
    """
    check_number("temperature", temperature, low=0.0, low_inclusive=False)
    e, out = upcast_floating("embeddings", embeddings)
    dt = e.dtype
    if jnp.ndim(embeddings) != 2:
        raise ValueError(f"embeddings must have shape [batch, dim], got {jnp.shape(embeddings)}")
    if jnp.ndim(labels) != 1 or jnp.shape(labels)[0] != jnp.shape(embeddings)[0]:
        raise ValueError(
            f"labels must have shape [batch] = ({jnp.shape(embeddings)[0]},) (as embeddings), got {jnp.shape(labels)}"
        )
    n = e.shape[0]
    eps = float(jnp.finfo(out).eps)
    sim = cosine_similarity(e[None, :, :], e[:, None, :], epsilon=eps) / jnp.asarray(temperature).astype(dt)
    labels = jnp.asarray(labels)
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(n, dtype=bool)
    negative = ~same
    # log-sum-exp over each anchor's negatives (-inf when it has none); masked entries get a zero gradient
    lse_neg = jax.nn.logsumexp(jnp.where(negative, sim, -jnp.inf), axis=1, keepdims=True)
    per_pair = jnp.logaddexp(sim, lse_neg) - sim
    total = jnp.sum(jnp.where(positive, per_pair, 0.0))
    return (total / jnp.sum(positive)).astype(out)


def triplet_margin_loss(anchors, positives, negatives, axis=-1, norm_degree=2, margin=1.0, eps=1e-6):
    """Triplet margin loss ``max(d(a, p) - d(a, n) + margin, 0)``, one value per triplet.

    The distance is ``d(x, y) = (sum |x - y|**q + eps)**(1/q)`` along
    ``axis``, ``q = norm_degree``.

    Conventions: as optax, ``eps`` is added inside the root (torch's
    ``triplet_margin_loss`` adds it to the difference, ``|x - y + eps|_q``,
    so the two differ by ``O(eps)``); the absolute value makes odd degrees
    a norm (optax raises the signed difference to the power, the same for
    even degrees).

    Args:
        anchors: floating ``[batch, dim]`` embeddings.
        positives: embeddings close to the anchors, same shape.
        negatives: embeddings far from the anchors, same shape.
        axis: the feature axis.
        norm_degree: ``q > 0``, the degree of the norm.
        margin: the required gap between the two distances.
        eps: ``>= 0``, keeps the root's gradient finite at ``x = y``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
        >>> p = jnp.array([[0.1, 0.1], [1.1, 1.1]])
        >>> n = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> fo.losses.triplet_margin_loss(a, p, n).round(4)
        Array([0.1414, 0.1414], dtype=float32)

    References:
        Balntas, Riba, Ponsa & Mikolajczyk, "Learning local feature
        descriptors with triplets and shallow convolutional neural
        networks", BMVC 2016.
    """
    check_number("norm_degree", norm_degree, low=0.0, low_inclusive=False)
    check_number("eps", eps, low=0.0)
    check_number("margin", margin)
    shapes = {jnp.shape(anchors), jnp.shape(positives), jnp.shape(negatives)}
    if len(shapes) != 1:
        raise ValueError(
            f"anchors, positives and negatives must have one shape, got {jnp.shape(anchors)}, "
            f"{jnp.shape(positives)}, {jnp.shape(negatives)}"
        )
    a, p, n, out = upcast_floating("anchors", anchors, "positives", positives, "negatives", negatives)
    dt = a.dtype
    q = jnp.asarray(norm_degree).astype(dt)
    e = jnp.asarray(eps).astype(dt)

    def distance(x, y):
        d = jnp.abs(x - y)
        powered = d * d if isinstance(norm_degree, int) and norm_degree == 2 else d**q
        return (jnp.sum(powered, axis=axis) + e) ** (1.0 / q)

    loss = jnp.maximum(distance(a, p) - distance(a, n) + jnp.asarray(margin).astype(dt), 0.0)
    return loss.astype(out)
