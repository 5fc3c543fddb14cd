"""Sparsemax losses and Fenchel-Young losses built from a "max" (convex conjugate) function.

A Fenchel-Young loss ``L(s, y) = Omega*(s) - <y, s>`` (+ ``Omega(y)``) is
convex in the scores ``s``, with gradient ``argmax - y``. The sparsemax loss
is the one of the Gini entropy: its prediction ``sparsemax(s)`` (the
Euclidean projection of ``s`` onto the simplex) has exact zeros. Names and
argument orders follow ``optax.losses``; the math is done in at least
float32 and the result returned in the scores' floating dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from functional_opt._hparams import scores_and_labels, upcast_floating


def _sparsemax(z):
    """Euclidean projection of ``z`` onto the probability simplex along the last axis (sort-based)."""
    k = z.shape[-1]
    z_sorted = -jnp.sort(-z, axis=-1)
    cumsum = jnp.cumsum(z_sorted, axis=-1)
    ranks = jnp.arange(1, k + 1, dtype=z.dtype)
    support = 1.0 + ranks * z_sorted > cumsum  # true for a prefix of the sorted entries
    size = jnp.sum(support, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cumsum, size - 1, axis=-1) - 1.0) / size.astype(z.dtype)
    return jnp.maximum(z - tau, 0.0)


def sparsemax_loss(logits, labels):
    """Binary sparsemax loss: ``sparse_plus(-z)`` for label 1, ``sparse_plus(z)`` for label 0.

    ``sparse_plus(x) = 0`` for ``x <= -1``, ``(x + 1)**2 / 4`` for
    ``|x| < 1`` and ``x`` for ``x >= 1``: the Fenchel-Young loss of the
    binary Gini entropy. It is 0 exactly when ``sparse_sigmoid(z) =
    clip((z + 1) / 2, 0, 1)`` equals the label, and its gradient is
    ``sparse_sigmoid(z) - label``.

    Args:
        logits: floating scores.
        labels: labels in ``{0, 1}`` (any nonzero value is the positive
            class, as optax), broadcastable with ``logits``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.sparsemax_loss(jnp.array([2.0, 0.0, -3.0]), jnp.array([1, 1, 1]))
        Array([0.  , 0.25, 3.  ], dtype=float32)

    References:
        Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses",
        JMLR 2020, section 4.4.
    """
    z, out = upcast_floating("logits", logits)
    x = jnp.where(jnp.asarray(labels) != 0, -z, z)
    return jnp.where(x <= -1.0, 0.0, jnp.where(x >= 1.0, x, 0.25 * (x + 1.0) ** 2)).astype(out)


def multiclass_sparsemax_loss(scores, labels):
    """Multiclass sparsemax loss of integer ``labels``, one value per example.

    With ``p = sparsemax(s)`` (the projection of the scores onto the simplex)::

        l = <p, s> + (1 - |p|**2) / 2 - s[label]

    the Fenchel-Young loss of the Gini entropy: ``>= 0``, zero iff ``p`` is
    the one-hot label, gradient ``p - onehot(label)`` (computed that way,
    exactly).

    Conventions: the classes are the last axis and any leading axes are
    batch axes (optax's version needs exactly one batch axis).

    Args:
        scores: floating ``[..., num_classes]`` scores.
        labels: integer ``[...]`` labels in ``[0, num_classes)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> scores = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.3, 0.0]])
        >>> fo.losses.multiclass_sparsemax_loss(scores, jnp.array([0, 2])).round(4)
        Array([0.    , 0.6633], dtype=float32)

    References:
        Martins & Astudillo, "From Softmax to Sparsemax", ICML 2016;
        Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    s, labels, out = scores_and_labels(scores, labels)
    p = jax.lax.stop_gradient(_sparsemax(s))  # envelope theorem: the gradient is p - onehot
    s_label = jnp.take_along_axis(s, labels[..., None], axis=-1)[..., 0]
    loss = jnp.sum(p * s, axis=-1) + 0.5 * (1.0 - jnp.sum(p * p, axis=-1)) - s_label
    return loss.astype(out)


def make_fenchel_young_loss(max_fun):
    """Build the Fenchel-Young loss ``loss(scores, targets, *args, **kwargs) = max_fun(scores) - <targets, scores>``.

    ``max_fun`` maps a score vector ``[n]`` to a scalar (a convex conjugate
    ``Omega*``, e.g. ``jax.nn.logsumexp`` for the softmax / cross-entropy
    loss without the targets' entropy); the loss applies it along the last
    axis, the leading axes being batch axes, and passes ``*args`` and
    ``**kwargs`` on to ``max_fun``. Its gradient is
    ``grad(max_fun)(scores) - targets``.

    Conventions (as optax): the constant ``Omega(targets)`` is left out (so
    with ``logsumexp`` the value is the cross entropy, not the KL
    divergence); jaxopt's version flattens the input instead of working on
    the last axis.

    Args:
        max_fun: a function ``[n] -> ()`` of the scores.

    Returns:
        ``fenchel_young_loss(scores, targets, *args, **kwargs)`` giving one
        value per example (the scores' shape without the last axis).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = fo.losses.make_fenchel_young_loss(jax.nn.logsumexp)
        >>> loss(jnp.array([[1.2, -0.8, -0.5]]), jnp.array([[1.0, 0.0, 0.0]])).round(4)
        Array([0.2761], dtype=float32)

    References:
        Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    if not callable(max_fun):
        raise TypeError(f"max_fun must be a callable [n] -> (), got {type(max_fun).__name__}")

    def fenchel_young_loss(scores, targets, *args, **kwargs):
        s = jnp.asarray(scores)
        if s.ndim < 1:
            raise ValueError("scores must have at least one axis (the last is the vector max_fun reduces)")
        per_vector = jnp.vectorize(lambda v: max_fun(v, *args, **kwargs), signature="(n)->()")
        return per_vector(s) - jnp.sum(jnp.asarray(targets) * s, axis=-1)

    return fenchel_young_loss
