"""Dice (overlap) losses for segmentation, from logits by default.

Shapes follow optax: predictions and targets are ``[batch, *spatial,
classes]``; the overlap is summed over the spatial axes (all but the first
and last, by default) and the per-class losses are then reduced over the
classes (``reduction``). The math is done in at least float32 and the result
returned in the predictions' floating dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import check_number, upcast_floating

_REDUCTIONS = ("mean", "sum", "none")


def _probabilities(p, apply_softmax):
    if not apply_softmax:
        return p
    return jax.nn.sigmoid(p) if p.shape[-1] == 1 else jax.nn.softmax(p, axis=-1)


def _with_class_axis(predictions, targets, *, binary=False):
    """Predictions and targets in the compute dtype, one shape ``[batch, ..., classes]``, and the output dtype.

    An input without the class axis gets a size-1 one; with ``binary``,
    equal-rank inputs whose last axis is not of size 1 get one too.
    """
    p, out = upcast_floating("predictions", predictions)
    t = jnp.asarray(targets).astype(p.dtype)
    if binary and p.ndim == t.ndim and p.shape[-1:] != (1,):
        p, t = p[..., None], t[..., None]
    if p.ndim == t.ndim - 1:
        p = p[..., None]
    if t.ndim == p.ndim - 1:
        t = t[..., None]
    if p.shape != t.shape:
        raise ValueError(f"predictions {jnp.shape(predictions)} and targets {jnp.shape(targets)} must have one shape")
    return p, t, out


def dice_loss(
    predictions,
    targets,
    *,
    class_weights=None,
    smooth=1.0,
    alpha=0.5,
    beta=0.5,
    apply_softmax=True,
    reduction="mean",
    ignore_background=False,
    axis=None,
):
    """Soft Dice (Tversky) loss per class, reduced over the classes.

    With ``p`` the probabilities (``softmax`` over the last axis, or
    ``sigmoid`` when it has size 1, unless ``apply_softmax=False``), ``t`` the
    one-hot targets, and sums over the spatial ``axis``::

        I_c = sum p_c t_c,  P_c = sum p_c,  T_c = sum t_c
        l_c = 1 - (I_c + smooth) / (I_c + alpha (P_c - I_c) + beta (T_c - I_c) + smooth)

    ``alpha = beta = 0.5`` is the Dice loss ``1 - (2 I + s) / (P + T + 2 s)``
    (for ``s = smooth``, up to the factor on ``smooth``); other values are
    the Tversky loss (``alpha`` weighs false positives, ``beta`` false
    negatives). ``l_c`` is multiplied by ``class_weights``, the background
    class 0 dropped if ``ignore_background``, then reduced over the classes.

    Conventions (as optax): predictions ``[...]`` or targets ``[...]``
    without the class axis get a size-1 one; ``axis=None`` sums over all
    axes but the first (batch) and the last (classes), so ``[batch, classes]``
    inputs give per-(example, class) losses. With ``apply_softmax=False``
    concrete predictions must sum to 1 over the classes (a ``ValueError``;
    not checked under ``jit``). torch has no built-in Dice loss.

    Args:
        predictions: floating logits ``[batch, ..., classes]`` (or
            probabilities with ``apply_softmax=False``).
        targets: one-hot targets of the same shape.
        class_weights: optional ``[classes]`` weights.
        smooth: ``>= 0``, added to numerator and denominator.
        alpha: false-positive weight.
        beta: false-negative weight.
        apply_softmax: turn logits into probabilities first.
        reduction: over the classes: ``"mean"``, ``"sum"`` or ``"none"``.
        ignore_background: drop class 0 (when there are several classes).
        axis: the axis or axes summed over (default: all but first and last).

    Returns:
        ``[batch, ...]`` losses (``[..., classes]`` with ``reduction="none"``).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[[2.0, -2.0], [-1.0, 1.0]]])  # 1 image, 2 pixels, 2 classes
        >>> targets = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
        >>> fo.losses.dice_loss(logits, targets).round(4)
        Array([0.0343], dtype=float32)

    References:
        Milletari, Navab & Ahmadi, "V-Net", 3DV 2016; Salehi, Erdogmus &
        Gholipour, "Tversky loss function for image segmentation", 2017.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    check_number("smooth", smooth, low=0.0)
    check_number("alpha", alpha)
    check_number("beta", beta)
    p, t, out = _with_class_axis(predictions, targets)
    if not apply_softmax and not isinstance(predictions, jax.core.Tracer):
        sums = np.sum(np.asarray(p, np.float64), axis=-1)
        if not np.allclose(sums, 1.0, rtol=1e-5):
            raise ValueError(
                "predictions must be valid probability distributions (summing to 1 over the class axis) when "
                "apply_softmax=False; "
                f"sums range over [{sums.min():.6f}, {sums.max():.6f}]"
            )
    probs = _probabilities(p, apply_softmax)
    return _dice(probs, t, class_weights, smooth, alpha, beta, reduction, ignore_background, axis).astype(out)


def _dice(probs, t, class_weights, smooth, alpha, beta, reduction, ignore_background, axis):
    """The per-class Dice/Tversky loss from probabilities, reduced over the classes."""
    dt = probs.dtype
    if axis is None:
        axis = tuple(range(1, probs.ndim - 1))
    inter = jnp.sum(probs * t, axis=axis)
    pred_sum = jnp.sum(probs, axis=axis)
    target_sum = jnp.sum(t, axis=axis)
    a, b, s = (jnp.asarray(v).astype(dt) for v in (alpha, beta, smooth))
    loss = 1.0 - (inter + s) / (inter + a * (pred_sum - inter) + b * (target_sum - inter) + s)
    if class_weights is not None:
        if jnp.ndim(class_weights) != 1:
            raise ValueError(f"class_weights must be a vector [classes], got shape {jnp.shape(class_weights)}")
        loss = loss * jnp.asarray(class_weights).astype(dt)
    if ignore_background and probs.shape[-1] > 1:
        loss = loss[..., 1:]
    if reduction == "mean":
        return jnp.mean(loss, axis=-1)
    if reduction == "sum":
        return jnp.sum(loss, axis=-1)
    return loss


def binary_dice_loss(predictions, targets, *, smooth=1.0, apply_sigmoid=True):
    """Dice loss for one foreground class: :func:`dice_loss` on ``sigmoid(predictions)``.

    ``l = 1 - (I + s) / (I + (P - I) / 2 + (T - I) / 2 + s)`` with
    ``p = sigmoid(predictions)``, ``I = sum p t``, ``P = sum p``, ``T = sum
    t`` over the spatial axes and ``s = smooth``.

    Conventions (as optax): inputs ``[batch, ...]`` (or ``[batch, ..., 1]``)
    get a class axis of size 1, and the sums run over every axis but the
    first and the class axis, so ``[batch]`` inputs give one loss per element.

    Args:
        predictions: floating logits ``[batch, ...]`` or ``[batch, ..., 1]``
            (probabilities with ``apply_sigmoid=False``).
        targets: binary targets of the same shape.
        smooth: ``>= 0``, added to numerator and denominator.
        apply_sigmoid: turn logits into probabilities first; with ``False``
            the predictions are used as probabilities in ``[0, 1]`` (optax
            instead asks them to sum to 1 over the size-1 class axis, which
            only all-ones predictions pass).

    Returns:
        ``[batch]`` losses (the batch axes).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[3.0, -3.0, 3.0]])
        >>> fo.losses.binary_dice_loss(logits, jnp.array([[1.0, 0.0, 1.0]])).round(4)
        Array([0.0239], dtype=float32)

    References:
        Milletari, Navab & Ahmadi, "V-Net", 3DV 2016.
    """
    check_number("smooth", smooth, low=0.0)
    p, t, out = _with_class_axis(predictions, targets, binary=True)
    probs = jax.nn.sigmoid(p) if apply_sigmoid else p
    return _dice(probs, t, None, smooth, 0.5, 0.5, "mean", False, None).astype(out)


def multiclass_generalized_dice_loss(predictions, targets, *, smooth=1.0, apply_softmax=True, ignore_background=False):
    """Generalized Dice loss: per-class Dice losses weighted by inverse squared class frequency, averaged.

    ``f_c = sum t_c`` over every axis but the classes (the whole batch),
    ``w_c = 1 / (f_c**2 + 1e-7)`` rescaled to ``w * C / sum(w)``, and the
    loss is the mean over batch and classes of ``w_c * l_c`` with ``l_c``
    the per-class :func:`dice_loss` (``alpha = beta = 0.5``). Rare classes
    weigh more.

    Conventions (as optax): a scalar (reduced over the batch too), the
    weights computed from this batch's targets; with ``ignore_background``
    class 0 is dropped after the weights are normalized over all classes.

    Args:
        predictions: floating logits ``[batch, ..., classes]``.
        targets: one-hot targets of the same shape.
        smooth: ``>= 0``, added to numerator and denominator.
        apply_softmax: turn logits into probabilities first.
        ignore_background: drop class 0.

    Returns:
        A scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.array([[[2.0, -2.0], [-1.0, 1.0], [1.0, 0.0]]])
        >>> targets = jnp.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
        >>> fo.losses.multiclass_generalized_dice_loss(logits, targets).round(4)
        Array(0.0919, dtype=float32)

    References:
        Sudre et al., "Generalised Dice overlap as a deep learning loss
        function for highly unbalanced segmentations", DLMIA 2017.
    """
    if jnp.shape(predictions) != jnp.shape(targets):
        raise ValueError(f"predictions {jnp.shape(predictions)} and targets {jnp.shape(targets)} must have one shape")
    p, out = upcast_floating("predictions", predictions)
    t = jnp.asarray(targets).astype(p.dtype)
    freq = jnp.sum(t, axis=tuple(range(t.ndim - 1)))
    w = 1.0 / (freq**2 + 1e-7)
    w = w * (w.shape[0] / jnp.sum(w))
    per_class = dice_loss(
        p,
        t,
        class_weights=w,
        smooth=smooth,
        apply_softmax=apply_softmax,
        reduction="none",
        ignore_background=ignore_background,
    )
    return jnp.mean(per_class).astype(out)
