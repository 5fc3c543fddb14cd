"""Clipping: by value, by global norm, by block RMS, unit-wise (AGC), per example.

Every clip here is written so that a zero threshold and a zero norm give a
zero update, never ``0 / 0``: the scale factor is ``1`` when the norm is
already within the threshold, else ``threshold / norm``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import EmptyState, GradientTransformation, init_empty_state
from functional_opt.flat import check_not_flat

# optax's state names of the clipping transforms: each is EmptyState itself, as in optax.
ClipState = EmptyState
ClipByGlobalNormState = EmptyState
AdaptiveGradClipState = EmptyState


def _shrink_factor(norm: jax.Array, max_norm: jax.Array) -> jax.Array:
    """``min(1, max_norm / norm)``, equal to 1 whenever ``norm <= max_norm`` (0/0 included)."""
    safe = jnp.where(norm > 0, norm, jnp.ones_like(norm))
    return jnp.where(norm <= max_norm, jnp.ones_like(norm), max_norm / safe)


def clip(max_delta) -> GradientTransformation:
    """Clip every element of the updates to ``[-max_delta, max_delta]``.

    Update rule: ``u <- min(max(u, -max_delta), max_delta)`` element-wise.

    Args:
        max_delta: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), fo.EmptyState())[0]
        Array([-1. ,  0.5,  1. ], dtype=float32)

    References:
        optax.clip; torch.nn.utils.clip_grad_value_.
    """
    check_number("max_delta", max_delta, low=0.0, allow_inf=True)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        d = value_at(max_delta, None)
        u, _ = _tree.map_moments("clip", lambda g: (jnp.clip(g, -d, d),), updates)
        return u, state

    return GradientTransformation(init_empty_state, update)


def clip_by_global_norm(max_norm) -> GradientTransformation:
    """Rescale the updates so that their global norm is at most ``max_norm``.

    Update rule, with ``n = sqrt(sum over all leaves of sum(u**2))``::

        u <- u                      if n <= max_norm
        u <- u * max_norm / n       otherwise

    Conventions: the comparison is ``n <= max_norm`` (optax's is ``n <
    max_norm``; at ``n == max_norm`` its factor ``max_norm / n`` is 1, so
    both return the updates unchanged). When ``n`` and ``max_norm`` are both 0
    the update is returned unchanged (zero) instead of ``0 / 0``; an
    infinite norm clips finite leaves to 0. The norm is accumulated in at
    least float32 with a balanced reduction over the leaves
    (:func:`functional_opt.global_norm`; logarithmic depth, not a left fold).
    On XLA:CPU the compile time of thousands of per-leaf reductions still
    grows faster than linearly (``benchmarks/bench_clip_compile.py``); for
    such trees use the flat-bucket mode (:mod:`functional_opt.flat`), where
    this runs unchanged on a few buffers. torch's ``clip_grad_norm_`` adds
    ``1e-6`` to the norm; this does not.

    Args:
        max_norm: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.clip_by_global_norm(1.0)
        >>> t.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, t.init(None))[0]
        {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}

    References:
        Pascanu et al., "On the difficulty of training recurrent neural
        networks", ICML 2013; optax.clip_by_global_norm.
    """
    check_number("max_norm", max_norm, low=0.0, allow_inf=True)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        norm = _tree.global_norm(updates)
        factor = _shrink_factor(norm, value_at(max_norm, None, jnp.result_type(norm)))
        u, _ = _tree.map_moments("clip_by_global_norm", lambda g: (factor * g,), updates)
        return u, state

    return GradientTransformation(init_empty_state, update)


def clip_by_block_rms(threshold) -> GradientTransformation:
    """Rescale each leaf so that its root-mean-square is at most ``threshold``.

    Update rule, for each leaf ``u`` separately, ``r = sqrt(mean(|u|**2))``::

        u <- u / max(1, r / threshold)

    (optax's form). A zero ``r`` (with any ``threshold``, 0 included) leaves
    ``u`` unchanged; a zero ``threshold`` zeroes every nonzero leaf.

    Args:
        threshold: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.clip_by_block_rms(1.0)
        >>> t.update(jnp.array([2.0, -2.0]), t.init(None))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        optax.clip_by_block_rms; Shazeer & Stern, "Adafactor", ICML 2018
        (update clipping by RMS).
    """
    check_number("threshold", threshold, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        check_not_flat(updates, "clip_by_block_rms")
        th = value_at(threshold, None)

        def leaf(g):
            r = jnp.sqrt(jnp.mean(_tree.abs_sq(g)))
            # max(1, r / th), with 0 / 0 (r == th == 0) read as 1
            return (g / jnp.where(r > th, r / th, 1.0),)

        u, _ = _tree.map_moments("clip_by_block_rms", leaf, updates)
        return u, state

    return GradientTransformation(init_empty_state, update)


def unitwise_norm(x, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    """The L2 norm of each unit of ``x``, broadcast to ``x``'s shape (as ``optax.unitwise_norm``).

    A unit is a slice of ``x`` along ``axis`` (summed over). With ``axis=None``
    the axes follow the layer conventions: scalars and vectors (also after
    squeezing) are one unit; rank-2 and rank-3 kernels (``(in, out)``,
    ``(in, heads, out)``) reduce axis 0; rank-4/5 conv kernels
    (``(H, W, [D,] in, out)``) reduce all but the last axis; other ranks need
    ``axis``. Complex entries contribute ``|x|**2``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.unitwise_norm(jnp.array([[3.0, 0.0], [4.0, 1.0]]))
        Array([[5., 1.],
               [5., 1.]], dtype=float32)
    """
    x = jnp.asarray(x)
    sq = _tree.abs_sq(x)
    axes: int | tuple[int, ...] | None
    if axis is not None:
        axes = axis
    elif x.ndim <= 1 or jnp.squeeze(x).ndim <= 1:
        axes = None  # scalars and vectors: the whole leaf
    elif x.ndim in (2, 3):
        axes = (0,)  # linear (in, out) and multi-head (in, heads, out) kernels
    elif x.ndim in (4, 5):
        axes = tuple(range(x.ndim - 1))  # conv kernels (H, W, [D,] in, out)
    else:
        raise ValueError(f"unitwise_norm: leaves must have rank <= 5, got shape {x.shape}; pass axis")
    return jnp.broadcast_to(jnp.sqrt(jnp.sum(sq, axis=axes, keepdims=True)), x.shape)


def unitwise_clip(g_norm, max_norm, grad, div_eps=1e-6) -> jax.Array:
    """``grad`` where ``g_norm < max_norm``, else ``grad * max_norm / max(g_norm, div_eps)`` (as optax).

    All three arrays have the same shape (e.g. from :func:`unitwise_norm`).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.unitwise_clip(jnp.array([5.0, 1.0]), jnp.array([1.0, 2.0]), jnp.array([5.0, 1.0]))
        Array([1., 1.], dtype=float32)
    """
    if not (jnp.shape(g_norm) == jnp.shape(max_norm) == jnp.shape(grad)):
        raise ValueError(
            f"unitwise_clip: g_norm, max_norm and grad must have one shape, got "
            f"{jnp.shape(g_norm)}, {jnp.shape(max_norm)}, {jnp.shape(grad)}"
        )
    return jnp.where(g_norm < max_norm, grad, grad * (max_norm / jnp.maximum(g_norm, div_eps)))


def adaptive_grad_clip(clipping, eps=1e-3, axis: int | tuple[int, ...] | None = None) -> GradientTransformation:
    """Adaptive gradient clipping (AGC): clip each unit relative to its weights' norm.

    Update rule, for each unit (an output column of a kernel, or a whole
    vector/scalar leaf), with ``||.||`` the unit's L2 norm::

        max_norm = clipping * max(||p||, eps)
        g <- g                               if ||g|| <= max_norm
        g <- g * max_norm / ||g||            otherwise

    Units are the last axis of rank-2 and rank-3 kernels (norm over axis 0)
    and of rank-4/5 conv kernels (norm over all but the last axis), as in
    optax, unless ``axis`` names the axes to reduce (see :func:`unitwise_norm`).
    Needs ``params``.

    Args:
        clipping: the largest allowed ratio ``||g|| / ||p||``, ``>= 0``.
        eps: ``>= 0``, floor on the weight norm so zero-initialised
            parameters can still move.
        axis: the axis or axes of one unit, for every leaf; ``None`` means the
            rank-based default.

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.adaptive_grad_clip(0.1)
        >>> t.update(jnp.array([30.0, 40.0]), t.init(None), jnp.array([0.0, 10.0]))[0]
        Array([0.6, 0.8], dtype=float32)

    References:
        Brock et al., "High-Performance Large-Scale Image Recognition Without
        Normalization", ICML 2021.
    """
    check_number("clipping", clipping, low=0.0)
    check_number("eps", eps, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del extra_args
        check_not_flat(updates, "adaptive_grad_clip")
        c, e = value_at(clipping, None), value_at(eps, None)

        def leaf(g, p):
            max_norm = c * jnp.maximum(unitwise_norm(p, axis), e)
            return (g * _shrink_factor(unitwise_norm(g, axis), max_norm),)

        u, _ = _tree.map_moments("adaptive_grad_clip", leaf, updates, params=params)
        return u, state

    return GradientTransformation(init_empty_state, update)


def _check_batch_axis(where: str, leaves: list) -> None:
    if any(jnp.ndim(x) == 0 for x in leaves) or len({jnp.shape(x)[0] for x in leaves}) > 1:
        raise ValueError(
            f"{where} expects every leaf to have the same leading batch axis, got shapes "
            f"{[jnp.shape(x) for x in leaves]}"
        )


def _as_inexact(grads):
    """Integer leaves as float32 (the functions accept them, as optax's do; transforms refuse them)."""
    return jax.tree.map(
        lambda x: x if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else jnp.asarray(x, jnp.float32), grads
    )


def _clip_examples(where: str, grads, l2_norm_clip) -> tuple:
    """``(sum_i g_i * min(1, clip / n_i), number clipped)`` over the leading axis of every leaf of ``grads``."""
    check_number("l2_norm_clip", l2_norm_clip, low=0.0)
    leaves = jax.tree.leaves(grads)
    _check_batch_axis(where, leaves)

    def sq_norms(g):  # per example
        return None, jnp.sum(_tree.abs_sq(g).reshape(g.shape[0], -1), axis=1)

    _, (sq,) = _tree.map_moments(where, sq_norms, grads)
    norms = jnp.sqrt(_tree.tree_sum(jax.tree.leaves(sq)))
    clip_at = value_at(l2_norm_clip, None, norms.dtype)
    factors = _shrink_factor(norms, clip_at)
    summed, _ = _tree.map_moments(where, lambda g: (jnp.tensordot(factors, g, axes=1),), grads)
    return summed, jnp.sum(norms > clip_at).astype(jnp.int32)


def per_example_global_norm_clip(grads, l2_norm_clip) -> tuple:
    """Clip each example's gradient to global norm ``l2_norm_clip`` and sum (as ``optax.per_example_global_norm_clip``).

    ``grads`` is a tree (e.g. optax's list) whose leaves all carry the same
    leading batch axis (per-example gradients, e.g. from
    ``jax.vmap(jax.grad(loss), (None, 0))``). With ``n_i`` the global norm of
    example ``i`` over all leaves::

        sum = sum_i g_i * min(1, l2_norm_clip / n_i)
        num_clipped = #{i : n_i > l2_norm_clip}

    A zero-norm example is never clipped (no ``0 / 0``). This is a function,
    not a transformation (optax's form); :func:`clip_by_per_example_global_norm`
    is the transformation that averages.

    Args:
        grads: the per-example gradients.
        l2_norm_clip: ``>= 0`` (number or array).

    Returns:
        ``(sum, num_clipped)``: the clipped sum with the leaves' shapes minus
        the batch axis, and an int32 count.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> grads = [jnp.array([[0.0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]
        >>> fo.per_example_global_norm_clip(grads, 1.25)
        ([Array([1.75, 1.75, 1.75], dtype=float32)], Array(3, dtype=int32))

    References:
        Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    return _clip_examples("per_example_global_norm_clip", _as_inexact(grads), l2_norm_clip)


def per_example_layer_norm_clip(grads, global_l2_norm_clip, uniform: bool = True) -> tuple:
    """Clip each example's gradient leaf by leaf and sum (as ``optax.per_example_layer_norm_clip``).

    Each of the ``K`` leaves (layers) of ``grads`` is clipped on its own, as
    :func:`per_example_global_norm_clip` would clip a one-leaf tree, to::

        C_k = global_l2_norm_clip / sqrt(K)                (uniform=True)
        C_k = global_l2_norm_clip * sqrt(D_k / D)          (uniform=False)

    with ``D_k`` the size of one example of leaf ``k`` and ``D`` the total,
    so the clipped example's global norm is at most ``global_l2_norm_clip``.

    Args:
        grads: the per-example gradients, every leaf with the same leading batch axis.
        global_l2_norm_clip: ``>= 0`` (number or array).
        uniform: split the clip evenly, or in proportion to the leaves' sizes.

    Returns:
        ``(sums, num_clipped)``: two trees with ``grads``' structure, the
        clipped sum of each leaf and its int32 count of clipped examples.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> grads = [jnp.array([[0.0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]
        >>> fo.per_example_layer_norm_clip(grads, 1.25)
        ([Array([1.75, 1.75, 1.75], dtype=float32)], [Array(3, dtype=int32)])

    References:
        McMahan et al., "Learning Differentially Private Recurrent Language
        Models", ICLR 2018.
    """
    where = "per_example_layer_norm_clip"
    check_number("global_l2_norm_clip", global_l2_norm_clip, low=0.0)
    leaves, treedef = jax.tree.flatten(_as_inexact(grads))
    _check_batch_axis(where, leaves)
    total = sum(x[0].size for x in leaves)
    sums, counts = [], []
    for g in leaves:
        share = 1.0 / len(leaves) if uniform else g[0].size / total
        s, n = _clip_examples(where, g, global_l2_norm_clip * share**0.5)
        sums.append(s)
        counts.append(n)
    return treedef.unflatten(sums), treedef.unflatten(counts)


def clip_by_per_example_global_norm(l2_norm_clip) -> GradientTransformation:
    """Clip each example's gradient to global norm ``l2_norm_clip``, then average.

    The incoming updates carry a leading batch axis (per-example gradients,
    e.g. from ``jax.vmap(jax.grad(loss), (None, 0))``). Update rule, with
    ``n_i`` the global norm of example ``i`` over all leaves and ``B`` the
    batch size::

        u <- (1 / B) * sum_i g_i * min(1, l2_norm_clip / n_i)

    The output has the parameters' shapes (the batch axis is reduced).

    Conventions: the mean over the batch, so the result can feed an
    optimizer directly, as the gradient of a mean loss would; optax has no
    such transformation, only the function
    :func:`per_example_global_norm_clip`, which returns the *sum* and the
    number clipped. DP-SGD adds noise to the sum; that is not done here.

    Args:
        l2_norm_clip: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.clip_by_per_example_global_norm(1.0)
        >>> g = jnp.array([[3.0, 4.0], [0.3, 0.4]])  # two examples
        >>> [round(x, 4) for x in t.update(g, t.init(None))[0].tolist()]  # ((.6, .8) + (.3, .4)) / 2
        [0.45, 0.6]

    References:
        Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    check_number("l2_norm_clip", l2_norm_clip, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        check_not_flat(updates, "clip_by_per_example_global_norm")
        leaves = jax.tree.leaves(updates)
        if not leaves:
            return updates, state
        summed, _ = _clip_examples("clip_by_per_example_global_norm", updates, l2_norm_clip)
        batch = jnp.shape(leaves[0])[0]
        return jax.tree.map(lambda x: x / batch, summed), state

    return GradientTransformation(init_empty_state, update)
