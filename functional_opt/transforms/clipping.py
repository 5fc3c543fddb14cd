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
from functional_opt.base import EmptyState, GradientTransformation
from functional_opt.flat import check_not_flat


def _init_empty(params):
    del params
    return EmptyState()


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

    Example:
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

    return GradientTransformation(_init_empty, update)


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

    Example:
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

    return GradientTransformation(_init_empty, update)


def clip_by_block_rms(threshold) -> GradientTransformation:
    """Rescale each leaf so that its root-mean-square is at most ``threshold``.

    Update rule, for each leaf ``u`` separately, ``r = sqrt(mean(|u|**2))``::

        u <- u / max(1, r / threshold)

    (optax's form). A zero ``r`` (with any ``threshold``, 0 included) leaves
    ``u`` unchanged; a zero ``threshold`` zeroes every nonzero leaf.

    Args:
        threshold: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Example:
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

    return GradientTransformation(_init_empty, update)


def _unitwise_norm(x: jax.Array) -> jax.Array:
    """L2 norm of each output unit, broadcast to ``x``'s shape (optax's default axes)."""
    sq = _tree.abs_sq(x)
    axes: tuple[int, ...] | None
    if x.ndim <= 1 or jnp.squeeze(x).ndim <= 1:
        axes = None  # scalars and vectors: the whole leaf
    elif x.ndim in (2, 3):
        axes = (0,)  # linear (in, out) and multi-head (in, heads, out) kernels
    elif x.ndim in (4, 5):
        axes = tuple(range(x.ndim - 1))  # conv kernels (H, W, [D,] in, out)
    else:
        raise ValueError(f"adaptive_grad_clip: leaves must have rank <= 5, got shape {x.shape}")
    return jnp.broadcast_to(jnp.sqrt(jnp.sum(sq, axis=axes, keepdims=True)), x.shape)


def adaptive_grad_clip(clipping, eps=1e-3) -> GradientTransformation:
    """Adaptive gradient clipping (AGC): clip each unit relative to its weights' norm.

    Update rule, for each unit (an output column of a kernel, or a whole
    vector/scalar leaf), with ``||.||`` the unit's L2 norm::

        max_norm = clipping * max(||p||, eps)
        g <- g                               if ||g|| <= max_norm
        g <- g * max_norm / ||g||            otherwise

    Units are the last axis of rank-2 and rank-3 kernels (norm over axis 0)
    and of rank-4/5 conv kernels (norm over all but the last axis), as in
    optax. Needs ``params``.

    Args:
        clipping: the largest allowed ratio ``||g|| / ||p||``, ``>= 0``.
        eps: ``>= 0``, floor on the weight norm so zero-initialised
            parameters can still move.

    State: :class:`~functional_opt.EmptyState`.

    Example:
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
            max_norm = c * jnp.maximum(_unitwise_norm(p), e)
            return (g * _shrink_factor(_unitwise_norm(g), max_norm),)

        u, _ = _tree.map_moments("adaptive_grad_clip", leaf, updates, params=params)
        return u, state

    return GradientTransformation(_init_empty, update)


def per_example_global_norm_clip(l2_norm_clip) -> GradientTransformation:
    """Clip each example's gradient to global norm ``l2_norm_clip``, then average.

    The incoming updates carry a leading batch axis (per-example gradients,
    e.g. from ``jax.vmap(jax.grad(loss), (None, 0))``). Update rule, with
    ``n_i`` the global norm of example ``i`` over all leaves and ``B`` the
    batch size::

        u <- (1 / B) * sum_i g_i * min(1, l2_norm_clip / n_i)

    The output has the parameters' shapes (the batch axis is reduced).

    Conventions: the mean over the batch, so the result can feed an
    optimizer directly, as the gradient of a mean loss would; optax's
    ``per_example_global_norm_clip`` returns the *sum* (multiply by ``B``).
    DP-SGD adds noise to the sum; that is not done here.

    Args:
        l2_norm_clip: ``>= 0`` (number or array).

    State: :class:`~functional_opt.EmptyState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.per_example_global_norm_clip(1.0)
        >>> g = jnp.array([[3.0, 4.0], [0.3, 0.4]])  # two examples
        >>> [round(x, 4) for x in t.update(g, t.init(None))[0].tolist()]  # ((.6, .8) + (.3, .4)) / 2
        [0.45, 0.6]

    References:
        Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    check_number("l2_norm_clip", l2_norm_clip, low=0.0)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        check_not_flat(updates, "per_example_global_norm_clip")
        leaves = jax.tree.leaves(updates)
        if not leaves:
            return updates, state
        if any(jnp.ndim(x) == 0 for x in leaves) or len({jnp.shape(x)[0] for x in leaves}) != 1:
            raise ValueError(
                "per_example_global_norm_clip expects every leaf to have the same leading batch "
                f"axis, got shapes {[jnp.shape(x) for x in leaves]}"
            )
        where = "per_example_global_norm_clip"

        def sq_norms(g):  # per example
            return None, jnp.sum(_tree.abs_sq(g).reshape(g.shape[0], -1), axis=1)

        _, (sq,) = _tree.map_moments(where, sq_norms, updates)
        norms = jnp.sqrt(_tree.tree_sum(jax.tree.leaves(sq)))
        factors = _shrink_factor(norms, value_at(l2_norm_clip, None, norms.dtype)) / norms.shape[0]
        u, _ = _tree.map_moments(where, lambda g: (jnp.tensordot(factors, g, axes=1),), updates)
        return u, state

    return GradientTransformation(_init_empty, update)
