"""Per-example regression and similarity losses (no reduction inside).

Every function returns one value per example (or per element); reducing over
the batch (``jnp.mean``, ``jnp.sum``, a weighted sum) is the caller's choice,
so ``mean_squared_error`` is ``jnp.mean(squared_error(p, t))``. Names and
argument orders follow ``optax.losses``.

Dtypes: the math is done in at least float32 (so bfloat16/float16 inputs
neither overflow in intermediate squares nor lose the small terms of a
log-sum-exp) and the result is returned in the inputs' floating dtype.
Gradients flow back through the casts, so they arrive in the input dtype too.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from functional_opt._hparams import check_number, compute_dtype, floating_dtype, upcast_floating


def _check_target_shape(where: str, predictions, targets) -> None:
    """Refuse targets whose shape would silently change the loss's shape (``(N,)`` against ``(N, 1)`` is ``(N, N)``).

    ``targets`` may broadcast *to* the predictions' shape (a scalar, or
    size-1 axes) but never enlarge it. (optax's ``squared_error`` and
    ``l2_loss`` require equal shapes; its ``huber_loss`` and ``log_cosh``
    broadcast freely.)
    """
    p_shape, t_shape = jnp.shape(predictions), jnp.shape(targets)
    if p_shape == t_shape:
        return
    try:
        broadcast = jnp.broadcast_shapes(p_shape, t_shape)
    except ValueError:
        broadcast = None
    if broadcast != p_shape:
        raise ValueError(
            f"{where}: targets of shape {t_shape} do not broadcast to the predictions' shape {p_shape} "
            f"(the loss would have shape {broadcast}); reshape one of them"
        )


def _error(predictions, targets, where: str = ""):
    """``(predictions - targets)`` in the compute dtype, and the output dtype."""
    if targets is None:
        return upcast_floating("predictions", predictions)
    floating_dtype("predictions", predictions)  # the first error, before the shapes
    _check_target_shape(where, predictions, targets)
    p, t, out = upcast_floating("predictions", predictions, "targets", targets)
    return p - t, out


def squared_error(predictions, targets=None):
    """Element-wise squared error ``(predictions - targets)**2``.

    The loss: ``l = (p - t)**2`` with ``p = predictions``,
    ``t = targets`` (``t = 0`` when omitted). No ``1/2`` factor: see
    :func:`l2_loss`.

    Args:
        predictions: floating array.
        targets: floating array that broadcasts to the predictions' shape
            without enlarging it (the same shape, a scalar or size-1 axes), or
            ``None``; optax requires the same shape.

    Returns:
        The squared error, the predictions' shape, in the inputs' floating dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.squared_error(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0]))
        Array([1., 4.], dtype=float32)

    References:
        optax.losses.squared_error.
    """
    e, out = _error(predictions, targets, "squared_error")
    return (e * e).astype(out)


def l2_loss(predictions, targets=None):
    """Half the squared error: ``0.5 * (predictions - targets)**2``.

    Conventions: the ``1/2`` makes the gradient ``p - t`` (optax's
    ``l2_loss``; torch's ``MSELoss`` and Keras' ``mean_squared_error`` have no
    ``1/2``, i.e. they are ``mean(squared_error)``).

    Args:
        predictions: floating array.
        targets: floating array that broadcasts to the predictions' shape
            without enlarging it (the same shape, a scalar or size-1 axes), or
            ``None``; optax requires the same shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.l2_loss(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0]))
        Array([0.5, 2. ], dtype=float32)

    References:
        optax.losses.l2_loss.
    """
    e, out = _error(predictions, targets, "l2_loss")
    return (0.5 * e * e).astype(out)


def huber_loss(predictions, targets=None, *, delta=1.0):
    """Huber loss: quadratic for small errors, linear for large ones.

    With ``e = predictions - targets`` and ``d = delta``::

        l = 0.5 * e**2                  if |e| <= d
        l = d * (|e| - 0.5 * d)         otherwise

    Its gradient is ``clip(e, -d, d)``. Conventions: this is optax's and
    torch's ``HuberLoss(delta)``; torch's ``SmoothL1Loss(beta)`` equals
    ``huber_loss / beta``.

    Args:
        predictions: floating array.
        targets: floating array that broadcasts to the predictions' shape
            without enlarging it (a scalar or size-1 axes), or ``None``.
        delta: ``d > 0`` (number or array).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.huber_loss(jnp.array([0.5, 3.0]), delta=1.0)
        Array([0.125, 2.5  ], dtype=float32)

    References:
        Huber, "Robust Estimation of a Location Parameter", Ann. Math. Stat. 1964.
    """
    check_number("delta", delta, low=0.0, low_inclusive=False)
    e, out = _error(predictions, targets, "huber_loss")
    d = jnp.asarray(delta).astype(e.dtype)
    abs_e = jnp.abs(e)
    return jnp.where(abs_e <= d, 0.5 * e * e, d * (abs_e - 0.5 * d)).astype(out)


def log_cosh(predictions, targets=None):
    """Log-cosh loss ``log(cosh(predictions - targets))``.

    Evaluated as ``log1p(2 * sinh(e / 2)**2)`` for ``|e| < 1`` (accurate near
    0, where it is ``e**2 / 2``) and as ``|e| + log1p(exp(-2|e|)) - log 2``
    otherwise (no overflow for large ``|e|``). Its gradient is ``tanh(e)``.

    Args:
        predictions: floating array.
        targets: floating array that broadcasts to the predictions' shape
            without enlarging it (a scalar or size-1 axes), or ``None``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> [round(v, 3) for v in fo.losses.log_cosh(jnp.array([0.0, 1e3])).tolist()]
        [0.0, 999.307]

    References:
        Chen et al., "Log Hyperbolic Cosine Loss Improves Variational
        Auto-Encoder", 2019; optax.losses.log_cosh.
    """
    e, out = _error(predictions, targets, "log_cosh")
    a = jnp.abs(e)
    small = a < 1
    s = jnp.sinh(jnp.where(small, e, 0.0) / 2)  # both branches stay finite, so do their gradients
    near_zero = jnp.log1p(2 * s * s)
    a_big = jnp.where(small, 1.0, a)
    far = a_big + jnp.log1p(jnp.exp(-2 * a_big)) - math.log(2.0)
    return jnp.where(small, near_zero, far).astype(out)


def cosine_similarity(predictions, targets, *, epsilon=0.0, axis=-1, where=None):
    """Cosine similarity ``<p, t> / (|p| |t|)`` along ``axis``.

    Conventions (as optax): each *squared* norm is clipped below at
    ``epsilon`` before the square root, so ``epsilon > 0`` keeps a zero vector
    finite (its similarity is then 0). With the default ``epsilon = 0`` a
    zero vector gives NaN.

    Args:
        predictions: floating array ``[..., d]``.
        targets: floating array of the same shape.
        epsilon: ``>= 0``, the floor of the squared norms.
        axis: the axis (or axes) holding the vectors.
        where: optional bool mask of the elements to include.

    Returns:
        An array with ``axis`` reduced, in the inputs' floating dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.cosine_similarity(jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])).round(4)
        Array(0.7071, dtype=float32)

    References:
        optax.losses.cosine_similarity.
    """
    check_number("epsilon", epsilon, low=0.0)
    p, t, out = upcast_floating("predictions", predictions, "targets", targets)
    eps = jnp.asarray(epsilon).astype(p.dtype)
    p_norm = jnp.sqrt(jnp.maximum(jnp.sum(p * p, axis=axis, where=where, keepdims=True), eps))
    t_norm = jnp.sqrt(jnp.maximum(jnp.sum(t * t, axis=axis, where=where, keepdims=True), eps))
    return jnp.sum((p / p_norm) * (t / t_norm), axis=axis, where=where).astype(out)


def cosine_distance(predictions, targets, *, epsilon=0.0, axis=-1, where=None):
    """Cosine distance ``1 - cosine_similarity(predictions, targets)``, in ``[0, 2]``.

    See :func:`cosine_similarity` for ``epsilon`` (a floor on the squared
    norms), ``axis`` and ``where``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.losses.cosine_distance(jnp.array([1.0, 0.0]), jnp.array([-1.0, 0.0]))
        Array(2., dtype=float32)

    References:
        optax.losses.cosine_distance.
    """
    sim = cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)
    return (1 - sim.astype(compute_dtype(sim.dtype))).astype(sim.dtype)
