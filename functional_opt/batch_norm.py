"""Batch normalization as pure functions: parameters, running statistics, apply.

``params, stats = batch_norm_init(num_features)`` then, in the loss,
``y, new_stats = batch_norm(params, stats, x, training=True)``; the new
statistics are threaded through training like an optimizer state (return
them from the loss with ``has_aux=True``), and evaluation uses
``batch_norm(params, stats, x, training=False)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_dtype, check_int, check_number, compute_dtype, one_minus


class BatchNormStats(NamedTuple):
    """Running statistics of :func:`batch_norm`, one entry per feature.

    ``var`` is the running *unbiased* variance (torch's ``running_var``).
    """

    mean: jax.Array
    var: jax.Array


def batch_norm_init(num_features: int, *, dtype: Any = jnp.float32) -> tuple[dict, BatchNormStats]:
    """Initial batch-norm parameters and running statistics.

    Returns ``({"scale": ones, "offset": zeros}, BatchNormStats(mean=zeros,
    var=ones))``, each of shape ``[num_features]``. The params dict is
    trained by the optimizer; the stats are updated by :func:`batch_norm`.

    Args:
        num_features: the size of the feature axis (an int >= 1).
        dtype: floating dtype of params and stats (default float32).

    Examples:
        >>> import functional_opt as fo
        >>> params, stats = fo.batch_norm_init(3)
        >>> params["scale"], stats.var
        (Array([1., 1., 1.], dtype=float32), Array([1., 1., 1.], dtype=float32))

    References:
        Ioffe & Szegedy, ICML 2015 (scale 1, offset 0, as torch's ``BatchNorm``).
    """
    check_int("num_features", num_features, low=1)
    dtype = check_dtype("dtype", dtype)
    params = {"scale": jnp.ones((num_features,), dtype), "offset": jnp.zeros((num_features,), dtype)}
    return params, BatchNormStats(mean=jnp.zeros((num_features,), dtype), var=jnp.ones((num_features,), dtype))


def batch_norm(
    params,
    stats: BatchNormStats,
    x,
    *,
    training: bool,
    momentum=0.9,
    eps=1e-5,
    axis: int = -1,
    axis_name: str | None = None,
):
    """Normalize ``x`` per feature; in training also update the running statistics.

    With ``n`` the number of elements reduced per feature (every axis but
    ``axis``), in training::

        mu    = mean(x)                       (batch mean)
        sigma2 = mean((x - mu)**2)            (biased batch variance)
        y     = scale * (x - mu) / sqrt(sigma2 + eps) + offset
        mean' = momentum * mean + (1 - momentum) * mu
        var'  = momentum * var  + (1 - momentum) * sigma2 * n / (n - 1)

    and in evaluation ``y = scale * (x - mean) / sqrt(var + eps) + offset``
    with the stats unchanged. Gradients flow through ``mu`` and ``sigma2``.

    Conventions:

    ==============  =====================  ================================
    library         running-stat momentum  running variance
    ==============  =====================  ================================
    here            0.9 keeps the old      unbiased (``n / (n - 1)``)
    torch           ``momentum=0.1``       unbiased (same as here with
                    weights the *new*      ``momentum = 1 - torch's``)
    flax / Keras    0.99 keeps the old     biased
    ==============  =====================  ================================

    Normalization always uses the *biased* batch variance (all three).

    Args:
        params: ``{"scale": [f], "offset": [f]}`` (see :func:`batch_norm_init`).
        stats: :class:`BatchNormStats`.
        x: input with ``x.shape[axis] == f``; at least 2 elements per feature
            in training (the unbiased variance needs ``n >= 2``; checked at
            trace time since shapes are static).
        training: a Python bool.
        momentum: in ``[0, 1]``, the weight of the old running statistics
            (number or array).
        eps: ``>= 0``, added to the variance inside the square root.
        axis: the feature axis.
        axis_name: when the batch is split across devices (``jax.pmap``,
            ``shard_map``) or a named ``jax.vmap``, the name of that axis: the
            batch statistics are then averaged over it (``lax.pmean``), so every
            shard normalizes by the statistics of the whole batch and ``n``
            counts the whole batch (shards of equal size). ``None``: this
            call's batch only.

    Returns:
        ``(y, new_stats)``: ``y`` in ``x``'s dtype, stats in their own dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> params, stats = fo.batch_norm_init(1)
        >>> y, stats = fo.batch_norm(params, stats, jnp.array([[1.0], [3.0]]), training=True, eps=0.0)
        >>> y.ravel(), stats.mean, stats.var.round(4)
        (Array([-1.,  1.], dtype=float32), Array([0.2], dtype=float32), Array([1.1], dtype=float32))

    References:
        Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift", ICML 2015.
    """
    if not isinstance(training, bool):
        raise TypeError(f"training must be a Python bool, got {training!r}")
    check_number("momentum", momentum, low=0.0, high=1.0)
    check_number("eps", eps, low=0.0)
    x = jnp.asarray(x)
    if not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be an int in [-{x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis!r}")
    axis = axis % x.ndim
    f = x.shape[axis]
    if jnp.shape(params["scale"]) != (f,) or jnp.shape(stats.mean) != (f,):
        raise ValueError(
            f"params and stats must have shape ({f},) to match x.shape[{axis}] = {f}, got "
            f"scale {jnp.shape(params['scale'])} and mean {jnp.shape(stats.mean)}"
        )
    dt = compute_dtype(x.dtype, jnp.result_type(params["scale"]), jnp.result_type(stats.mean))
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    bshape = [1] * x.ndim
    bshape[axis] = f
    xc = x.astype(dt)
    if training:
        n = x.size // f
        if axis_name is None and n < 2:
            raise ValueError(
                f"batch_norm in training needs at least 2 elements per feature, got {n} (x shape {x.shape})"
            )

        def batch_mean(v):
            m = jnp.mean(v, axis=reduce_axes)
            return m if axis_name is None else jax.lax.pmean(m, axis_name)

        if axis_name is not None:
            n = n * jax.lax.psum(1, axis_name)  # the whole batch, shards of equal size
        mu = batch_mean(xc)
        centered = xc - mu.reshape(bshape)
        sigma2 = batch_mean(centered * centered)
        w = one_minus(momentum, None).astype(dt)  # weight of the new batch statistics
        mean_new = stats.mean.astype(dt) + w * (jax.lax.stop_gradient(mu) - stats.mean.astype(dt))
        unbiased = jax.lax.stop_gradient(sigma2) * (n / (n - 1))
        var_new = stats.var.astype(dt) + w * (unbiased - stats.var.astype(dt))
        new_stats = BatchNormStats(mean_new.astype(stats.mean.dtype), var_new.astype(stats.var.dtype))
    else:
        centered = xc - stats.mean.astype(dt).reshape(bshape)
        sigma2 = stats.var.astype(dt)
        new_stats = stats
    inv = jax.lax.rsqrt(sigma2 + jnp.asarray(eps, dt)) * params["scale"].astype(dt)
    y = centered * inv.reshape(bshape) + params["offset"].astype(dt).reshape(bshape)
    return y.astype(x.dtype), new_stats
