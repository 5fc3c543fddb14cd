"""Margin losses on raw scores: perceptron and multiclass hinge (no reduction inside).

Scores are not probabilities and need no normalization; the classes of the
multiclass losses are the last axis, and labels are integers. The math is
done in at least float32 and the result returned in the scores' floating
dtype. Names and argument orders follow ``optax.losses``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from functional_opt._hparams import scores_and_labels, upcast_floating


def perceptron_loss(predictor_outputs, targets):
    """Binary perceptron loss ``max(0, -targets * predictor_outputs)``.

    Zero for every correctly signed output (no margin, unlike
    :func:`~functional_opt.losses.hinge_loss`).

    Args:
        predictor_outputs: floating scores.
        targets: labels in ``{-1, +1}``, the same shape (as optax).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.perceptron_loss(jnp.array([2.0, 0.3, -1.0]), jnp.array([1.0, -1.0, 1.0]))
        Array([0. , 0.3, 1. ], dtype=float32)

    References:
        Rosenblatt, "The Perceptron", Psychological Review 1958.
    """
    if jnp.shape(predictor_outputs) != jnp.shape(targets):
        raise ValueError(
            f"predictor_outputs {jnp.shape(predictor_outputs)} and targets {jnp.shape(targets)} must have one shape"
        )
    f, out = upcast_floating("predictor_outputs", predictor_outputs)
    y = jnp.asarray(targets).astype(f.dtype)
    return jnp.maximum(0.0, -y * f).astype(out)


def multiclass_hinge_loss(scores, labels):
    """Multiclass hinge (Crammer-Singer) loss ``max_k (s_k + [k != y]) - s_y``.

    Zero when the label's score beats every other score by at least 1.

    Args:
        scores: floating ``[..., num_classes]`` scores.
        labels: integer ``[...]`` labels in ``[0, num_classes)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> scores = jnp.array([[3.0, 1.0, 0.0], [0.5, 1.0, 0.0]])
        >>> fo.losses.multiclass_hinge_loss(scores, jnp.array([0, 0]))
        Array([0. , 1.5], dtype=float32)

    References:
        Crammer & Singer, "On the Algorithmic Implementation of Multiclass
        Kernel-based Vector Machines", JMLR 2001.
    """
    s, labels, out = scores_and_labels(scores, labels)
    one_hot = jax.nn.one_hot(labels, s.shape[-1], dtype=s.dtype)
    s_label = jnp.sum(s * one_hot, axis=-1)
    return (jnp.max(s + 1.0 - one_hot, axis=-1) - s_label).astype(out)


def multiclass_perceptron_loss(scores, labels):
    """Multiclass perceptron loss ``max_k s_k - s_y``.

    Zero when the label has the highest score (ties included).

    Args:
        scores: floating ``[..., num_classes]`` scores.
        labels: integer ``[...]`` labels in ``[0, num_classes)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> scores = jnp.array([[3.0, 1.0, 0.0], [0.5, 1.0, 0.0]])
        >>> fo.losses.multiclass_perceptron_loss(scores, jnp.array([0, 0]))
        Array([0. , 0.5], dtype=float32)

    References:
        Collins, "Discriminative Training Methods for Hidden Markov Models:
        Theory and Experiments with Perceptron Algorithms", EMNLP 2002.
    """
    s, labels, out = scores_and_labels(scores, labels)
    one_hot = jax.nn.one_hot(labels, s.shape[-1], dtype=s.dtype)
    return (jnp.max(s, axis=-1) - jnp.sum(s * one_hot, axis=-1)).astype(out)
