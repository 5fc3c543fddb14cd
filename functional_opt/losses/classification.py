"""Per-example classification losses from logits (no reduction inside).

All of them work on *logits* (or log-probabilities), never on probabilities,
and are written with log-sum-exp / log-sigmoid so that logits of +-1e4 give
finite, correct values and gradients. The math is done in at least float32
and the result returned in the logits' dtype (bfloat16/float16 logits work).
Names and argument orders follow ``optax.losses``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import check_number, upcast_floating


def _expand_where(where, logits, axis):
    if where is None:
        return None
    where = jnp.asarray(where, bool)
    if where.ndim != logits.ndim:  # a per-example mask: broadcast over the classes
        where = jnp.expand_dims(where, axis)
    return where


def softmax_cross_entropy(logits, labels, axis=-1, where=None):
    """Cross entropy between ``softmax(logits)`` and probability ``labels``.

    ``l = -sum_k labels_k * log_softmax(logits)_k`` over ``axis``, with
    ``log_softmax(z)_k = z_k - logsumexp(z)``. Labels are probabilities
    (one-hot or smoothed, see :func:`smooth_labels`); for integer classes use
    :func:`softmax_cross_entropy_with_integer_labels`.

    Args:
        logits: floating array ``[..., num_classes]``.
        labels: probabilities, same shape as ``logits``.
        axis: the class axis (or axes).
        where: optional bool mask: shaped like ``logits`` (classes to include)
            or like the batch (examples to include; an excluded example, or one
            with no included class, has loss 0).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
        >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> [round(v, 4) for v in fo.losses.softmax_cross_entropy(logits, labels).tolist()]
        [0.2761, 2.9518]

    References:
        Goodfellow, Bengio & Courville, "Deep Learning", 2016, section 6.2.2.3.
    """
    z, out = upcast_floating("logits", logits)
    where = _expand_where(where, z, axis)
    y = jnp.asarray(labels).astype(z.dtype)
    logp = jax.nn.log_softmax(z, axis=axis, where=where)
    if where is not None:
        logp = jnp.where(where, logp, 0.0)  # excluded classes contribute nothing (no 0 * -inf)
    return (-jnp.sum(y * logp, axis=axis, where=where)).astype(out)


def softmax_cross_entropy_with_integer_labels(logits, labels, axis=-1, where=None, *, ignore_index=None):
    """Cross entropy between ``softmax(logits)`` and integer class ``labels``.

    ``l = logsumexp(logits) - logits[label]`` over the class ``axis``.

    Labels out of range: with concrete (non-traced) labels a label outside
    ``[0, num_classes)`` (other than ``ignore_index``) is a ``ValueError``.
    Under ``jit`` the labels cannot be inspected, so an out-of-range label
    gives a NaN loss for that example (a visible signal, never a silently
    wrong value).

    Args:
        logits: floating array ``[..., num_classes]``.
        labels: integer array ``[...]`` (the batch shape).
        axis: the class axis (an int), or a tuple of class axes (as optax):
            they are flattened, in the given order, into one axis of
            ``prod`` classes, and a label is a flat index into them (e.g.
            ``jnp.ravel_multi_index``).
        where: optional bool mask, shaped like ``logits`` (classes to include
            in the normalizer) or like ``labels`` (examples to include); an
            example with nothing included has loss 0.
        ignore_index: optional label value (e.g. ``-100`` as torch) whose
            examples get loss 0 and zero gradient.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
        >>> loss = fo.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 1]))
        >>> [round(v, 4) for v in loss.tolist()]
        [0.2761, 2.9518]

    References:
        Goodfellow, Bengio & Courville, "Deep Learning", 2016, section 6.2.2.3.
    """
    z, out = upcast_floating("logits", logits)
    if isinstance(axis, tuple) and axis and all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
        # several class axes: move them last (in the given order) and flatten them into one
        class_axes = tuple(a % z.ndim for a in axis)
        if len(set(class_axes)) != len(class_axes):
            raise ValueError(f"axis must not repeat an axis, got {axis!r}")
        batch_axes = tuple(a for a in range(z.ndim) if a not in class_axes)
        perm = batch_axes + class_axes
        z = z.transpose(perm).reshape(tuple(z.shape[a] for a in batch_axes) + (-1,))
        if where is not None and jnp.ndim(where) == len(perm):
            w = jnp.asarray(where).transpose(perm)
            where = w.reshape(w.shape[: len(batch_axes)] + (-1,))
        axis = len(batch_axes)
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int (the class axis) or a tuple of ints, got {axis!r}")
    labels = jnp.asarray(labels) if not isinstance(labels, np.ndarray) else labels
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}")
    axis = axis % z.ndim
    num_classes = z.shape[axis]
    if np.shape(labels) != z.shape[:axis] + z.shape[axis + 1 :]:
        raise ValueError(f"labels shape {np.shape(labels)} does not match logits {z.shape} without axis {axis}")
    if not isinstance(labels, jax.core.Tracer):
        lab = np.asarray(labels)
        bad = (lab < 0) | (lab >= num_classes)
        if ignore_index is not None:
            bad &= lab != ignore_index
        if bad.any():
            raise ValueError(
                f"labels must be in [0, {num_classes}) (num_classes from logits axis {axis})"
                + (f" or equal ignore_index={ignore_index}" if ignore_index is not None else "")
                + f", got {lab[bad].ravel()[:5].tolist()}"
            )
    labels = jnp.asarray(labels)
    in_range = (labels >= 0) & (labels < num_classes)
    safe = jnp.where(in_range, labels, 0)
    label_logit = jnp.take_along_axis(z, jnp.expand_dims(safe, axis), axis=axis).squeeze(axis)
    where = _expand_where(where, z, axis)
    loss = jax.nn.logsumexp(z, axis=axis, where=where) - label_logit
    keep = jnp.ones(loss.shape, bool)
    if where is not None:
        keep = jnp.any(where, axis=axis)
    if ignore_index is not None:
        ignored = labels == ignore_index
        keep = keep & ~ignored
        in_range = in_range | ignored
    loss = jnp.where(keep, loss, 0.0)
    loss = jnp.where(in_range, loss, jnp.nan)
    return loss.astype(out)


def sigmoid_binary_cross_entropy(logits, labels):
    """Element-wise binary cross entropy of ``sigmoid(logits)`` against ``labels``.

    ``l = -y * log(sigmoid(z)) - (1 - y) * log(1 - sigmoid(z))``, evaluated
    as ``y * softplus(-z) + (1 - y) * softplus(z)`` (never forming the
    probability), so ``z = +-1e4`` gives ``0`` or ``1e4`` exactly. Its
    gradient is ``sigmoid(z) - y``. Labels may be soft, in ``[0, 1]``.

    Args:
        logits: floating array.
        labels: probabilities broadcastable with ``logits``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = fo.losses.sigmoid_binary_cross_entropy(jnp.array([0.0, 1e4]), jnp.array([1.0, 0.0]))
        >>> [round(v, 4) for v in loss.tolist()]
        [0.6931, 10000.0]

    References:
        torch.nn.BCEWithLogitsLoss; optax.losses.sigmoid_binary_cross_entropy.
    """
    z, out = upcast_floating("logits", logits)
    y = jnp.asarray(labels).astype(z.dtype)
    return (y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z)).astype(out)


def _log_or_neg_inf(x):
    """``log(x)`` with ``log(0) = -inf`` and a finite gradient for ``x = 0``."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


def sigmoid_focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    """Focal loss: binary cross entropy down-weighted on well-classified examples.

    With ``p = sigmoid(z)`` and ``p_t = y p + (1 - y)(1 - p)``::

        l = alpha_t * (1 - p_t)**gamma * bce(z, y)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)   (1 when alpha is None)

    ``1 - p_t = y sigmoid(-z) + (1 - y) sigmoid(z)`` is formed in log space
    (``logaddexp`` of log-sigmoids), so the weight is exact and its gradient
    finite for ``z = +-1e4`` and for ``gamma < 1``. ``gamma = 0`` and
    ``alpha=None`` give :func:`sigmoid_binary_cross_entropy`.

    Args:
        logits: floating array.
        labels: probabilities in ``[0, 1]`` broadcastable with ``logits``.
        alpha: ``None`` or the positive-class weight in ``[0, 1]``.
        gamma: focusing exponent ``>= 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.sigmoid_focal_loss(jnp.array([0.0, 3.0]), jnp.array([1.0, 1.0])).round(5)
        Array([0.17329, 0.00011], dtype=float32)

    References:
        Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    check_number("alpha", alpha, low=0.0, high=1.0, allow_none=True)
    check_number("gamma", gamma, low=0.0)
    z, out = upcast_floating("logits", logits)
    y = jnp.asarray(labels).astype(z.dtype)
    bce = y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z)
    log_one_minus_pt = jnp.logaddexp(
        _log_or_neg_inf(y) + jax.nn.log_sigmoid(-z), _log_or_neg_inf(1 - y) + jax.nn.log_sigmoid(z)
    )
    g = jnp.asarray(gamma).astype(z.dtype)
    loss = jnp.exp(g * log_one_minus_pt) * bce
    if alpha is not None:
        a = jnp.asarray(alpha).astype(z.dtype)
        loss = (a * y + (1 - a) * (1 - y)) * loss
    return loss.astype(out)


def hinge_loss(predictor_outputs, targets):
    """Binary hinge loss ``max(0, 1 - targets * predictor_outputs)``.

    Args:
        predictor_outputs: floating scores (signed margins).
        targets: labels in ``{-1, +1}``, broadcastable with the outputs.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.hinge_loss(jnp.array([2.0, 0.3, -1.0]), jnp.array([1.0, 1.0, 1.0]))
        Array([0. , 0.7, 2. ], dtype=float32)

    References:
        Cortes & Vapnik, "Support-Vector Networks", Machine Learning 1995.
    """
    f, out = upcast_floating("predictor_outputs", predictor_outputs)
    y = jnp.asarray(targets).astype(f.dtype)
    return jnp.maximum(0.0, 1.0 - y * f).astype(out)


def kl_divergence(log_predictions, targets, axis=-1, where=None):
    """Kullback-Leibler divergence ``KL(targets || predictions)`` along ``axis``.

    ``l = sum_k t_k (log t_k - log_predictions_k)`` with ``0 log 0 = 0``.
    Conventions: the *predictions* are log-probabilities, the *targets*
    probabilities (as optax, and as torch's ``kl_div(input, target)`` with
    ``reduction="none"`` summed over ``axis``).

    Args:
        log_predictions: floating log-probabilities.
        targets: probabilities, same shape.
        axis: the distribution axis (or axes).
        where: optional bool mask of the elements to include.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = jnp.array([0.5, 0.5, 0.0])
        >>> fo.losses.kl_divergence(jnp.log(jnp.array([0.25, 0.5, 0.25])), t).round(4)
        Array(0.3466, dtype=float32)

    References:
        Kullback & Leibler, "On Information and Sufficiency", Ann. Math. Stat. 1951.
    """
    logq, t, out = upcast_floating("log_predictions", log_predictions, "targets", targets)
    log_t = jnp.where(t > 0, _log_or_neg_inf(t), 0.0)
    return jnp.sum(t * (log_t - logq), axis=axis, where=where).astype(out)


def smooth_labels(labels, alpha, *, axis=-1, where=None):
    """Label smoothing: ``(1 - alpha) * labels + alpha / num_classes``.

    ``num_classes`` is the size of ``axis`` (or the number of included
    classes under ``where``). Use the result as the ``labels`` of
    :func:`softmax_cross_entropy`.

    Args:
        labels: one-hot (or probability) floating array.
        alpha: the smoothing in ``[0, 1]``.
        axis: the class axis.
        where: optional bool mask of the classes to include.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.smooth_labels(jnp.array([0.0, 1.0, 0.0, 0.0]), 0.2)
        Array([0.05, 0.85, 0.05, 0.05], dtype=float32)

    References:
        Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016;
        Muller et al., "When Does Label Smoothing Help?", NeurIPS 2019.
    """
    check_number("alpha", alpha, low=0.0, high=1.0)
    y, out = upcast_floating("labels", labels)
    dt = y.dtype
    if where is None:
        k = jnp.asarray(y.shape[axis], dt)
    else:
        k = jnp.sum(jnp.asarray(where, bool), axis=axis, keepdims=True).astype(dt)
    a = jnp.asarray(alpha).astype(dt)
    return ((1 - a) * y + a / k).astype(out)


def safe_softmax_cross_entropy(logits, labels):
    """Softmax cross entropy with ``0 * log 0 = 0``: logits of ``-inf`` on zero labels are allowed.

    ``l = -sum_k [labels_k != 0] labels_k * log_softmax(logits)_k`` over the
    last axis. Same value as :func:`softmax_cross_entropy` wherever that is
    finite; a class with ``logits = -inf`` and ``labels = 0`` (a masked-out
    class) contributes 0 with a zero gradient instead of NaN.

    Args:
        logits: floating ``[..., num_classes]`` logits (``-inf`` allowed).
        labels: probabilities broadcastable to the logits.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([1.2, -jnp.inf, -0.5])
        >>> fo.losses.safe_softmax_cross_entropy(logits, jnp.array([1.0, 0.0, 0.0])).round(4)
        Array(0.1678, dtype=float32)

    References:
        optax.losses.safe_softmax_cross_entropy.
    """
    z, out = upcast_floating("logits", logits)
    y = jnp.asarray(labels).astype(z.dtype)
    logp = jax.nn.log_softmax(z, axis=-1)
    finite = logp > -jnp.inf
    # finite log-probabilities as usual; at -inf: 0 for a zero label, -inf for a positive one (the loss is inf)
    terms = jnp.where(finite, y * jnp.where(finite, logp, 0.0), jnp.where(y != 0, -jnp.inf, 0.0))
    return (-jnp.sum(terms, axis=-1)).astype(out)


def poly_loss_cross_entropy(logits, labels, *, epsilon=2.0, axis=-1, where=None):
    """Poly-1 loss: cross entropy plus ``epsilon`` times the first polynomial term ``1 - p_t``.

    ``l = CE(logits, labels) + epsilon * sum_k labels_k (1 - softmax(logits)_k)``
    over ``axis`` (for one-hot labels, ``-log p_t + epsilon (1 - p_t)``).
    ``epsilon = 0`` is :func:`softmax_cross_entropy`; the paper recommends
    2.0 for ImageNet classification and -1.0 for detection.

    Args:
        logits: floating ``[..., num_classes]`` logits.
        labels: probabilities, same shape.
        epsilon: the coefficient of ``1 - p_t``.
        axis: the class axis (or axes).
        where: optional bool mask, shaped like ``logits`` (classes to include)
            or like the batch (examples to include).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
        >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> [round(v, 4) for v in fo.losses.poly_loss_cross_entropy(logits, labels).tolist()]
        [0.7587, 4.8473]

    References:
        Leng et al., "PolyLoss: A Polynomial Expansion Perspective of
        Classification Loss Functions", ICLR 2022.
    """
    check_number("epsilon", epsilon)
    z, out = upcast_floating("logits", logits)
    if not jnp.issubdtype(jnp.result_type(labels), jnp.floating):
        raise TypeError(f"labels must be a floating array of probabilities, got dtype {jnp.result_type(labels)}")
    y = jnp.asarray(labels).astype(z.dtype)
    mask = _expand_where(where, z, axis)
    p = jax.nn.softmax(z, axis=axis, where=mask)
    one_minus_pt = jnp.sum(y * (1.0 - p), axis=axis, where=mask)
    ce = softmax_cross_entropy(z, y, axis=axis, where=where)
    return (ce + jnp.asarray(epsilon).astype(z.dtype) * one_minus_pt).astype(out)
