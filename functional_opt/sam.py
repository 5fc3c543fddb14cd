"""Sharpness-aware minimization (SAM): step with the gradient at an adversarially perturbed point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation, apply_updates, check_transform, with_extra_args_support


def sam_perturbation(grads: Any, params: Any, rho=0.05, *, adaptive: bool = False, eps=1e-12) -> Any:
    """SAM's ascent step ``e``: the perturbed point is ``params + e``.

    Rule (Foret et al., eq. 2; ASAM's elementwise scaling with ``adaptive``)::

        e = rho * g / (||g|| + eps)                          (adaptive=False)
        e = rho * |p|**2 * g / (||p * g|| + eps)             (adaptive=True)

    ``||.||`` is the global Euclidean norm over all leaves; ``eps`` guards a
    zero gradient (as the authors' reference code, 1e-12).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.sam_perturbation(jnp.array([3.0, 4.0]), jnp.zeros(2), rho=0.5)
        Array([0.3, 0.4], dtype=float32)
    """
    rho_, eps_ = value_at(rho, None), value_at(eps, None)
    where = "sam_perturbation"
    if not adaptive:
        scale = rho_ / (_tree.global_norm(grads) + eps_)
        return _tree.map_moments(where, lambda g: (scale * g,), grads)[0]
    if params is None:
        raise ValueError("sam_perturbation(adaptive=True) needs params")
    sq_leaf = lambda g, p: (None, jnp.sum(_tree.abs_sq(jnp.abs(p) * g)))
    _, (sq,) = _tree.map_moments(where, sq_leaf, grads, params=params)
    scale = rho_ / (jnp.sqrt(_tree.tree_sum(jax.tree.leaves(sq))) + eps_)  # rho / (||p * g|| + eps)
    return _tree.map_moments(where, lambda g, p: (scale * _tree.abs_sq(p) * g,), grads, params=params)[0]


class SamState(NamedTuple):
    """State of :func:`sam`: the wrapped optimizer's state."""

    inner: Any


def sam(optimizer: GradientTransformation, rho=0.05, *, adaptive: bool = False, eps=1e-12) -> GradientTransformation:
    """Wrap an optimizer so it steps with the gradient at SAM's perturbed point.

    Update rule (Foret et al., Algorithm 1), ``g = grad L(w)`` the incoming update::

        e     = sam_perturbation(g, w, rho, adaptive=adaptive)
        g_sam = grad_fn(w + e)
        u, inner_state = optimizer.update(g_sam, inner_state, w)

    ``update`` needs ``params`` and ``grad_fn=``, a function ``params ->
    gradient`` of the current batch's loss (the second backward pass); without
    them it raises ``ValueError``. :func:`sam_train_step` builds ``grad_fn``
    and does both passes for you. ``m``-sharpness (per-device perturbations)
    is obtained by calling this inside ``shard_map``/``pmap`` without averaging
    ``g`` first.

    Conventions: ``optax.contrib.sam(opt, chain(normalize(), sgd(rho)),
    sync_period=2, opaque_mode=True)`` computes the same step (its
    ``grad_fn`` takes ``(params, i)``; it has no ``eps`` and no adaptive
    option). torch ports (davda54/sam) are ``first_step``/``second_step``
    methods around the user's two backward passes: the same numbers.

    Args:
        optimizer: the base optimizer, applied to ``g_sam``.
        rho: ``>= 0`` neighbourhood radius (number or array).
        adaptive: ASAM's scale-invariant perturbation.
        eps: ``>= 0``, added to the gradient norm.

    State: :class:`SamState` ``(inner,)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda p: jnp.sum(p ** 2)
        >>> opt = fo.sam(fo.sgd(0.1), rho=0.5)
        >>> p = jnp.array([3.0, 4.0])
        >>> u, s = opt.update(jax.grad(loss)(p), opt.init(p), p, grad_fn=jax.grad(loss))
        >>> [round(float(x), 4) for x in u]  # -0.1 * 2 * (p + 0.5 * p / |p|)
        [-0.66, -0.88]

    References:
        Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
        Generalization", ICLR 2021; Kwon et al., "ASAM", ICML 2021.
    """
    check_transform(optimizer, "optimizer")
    optimizer = with_extra_args_support(optimizer)  # extra args reach only an optimizer that takes them
    check_number("rho", rho, low=0.0)
    check_number("eps", eps, low=0.0)

    def init(params):
        return SamState(inner=optimizer.init(params))

    def update(updates, state, params=None, *, grad_fn: Callable | None = None, **extra_args):
        if grad_fn is None or params is None:
            raise ValueError(
                "sam needs params and grad_fn: update(grads, state, params, "
                "grad_fn=jax.grad(lambda p: loss(p, batch))); see fo.sam_train_step"
            )
        e = sam_perturbation(updates, params, rho, adaptive=adaptive, eps=eps)
        g_sam = grad_fn(apply_updates(params, e))
        u, inner = optimizer.update(g_sam, state.inner, params, **extra_args)
        return u, SamState(inner=inner)

    return GradientTransformation(init, update)


def sam_train_step(loss_fn: Callable, optimizer: GradientTransformation) -> Callable:
    """A SAM training step: two forward/backward passes, then the update.

    Returns ``step(params, state, *args) -> (params, state, loss)`` where
    ``loss_fn(params, *args)`` is the scalar loss (``args`` is the batch) and
    ``optimizer`` is a :func:`sam`-wrapped optimizer (or any optimizer that
    accepts ``grad_fn``). The returned loss is the one at the unperturbed
    point. Wrap ``step`` in ``jax.jit`` yourself (donating params and state if
    you like).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = lambda p, x: jnp.sum((p - x) ** 2)
        >>> step = jax.jit(fo.sam_train_step(loss, fo.sam(fo.sgd(0.1), rho=0.01)))
        >>> p = jnp.zeros(2)
        >>> s = fo.sam(fo.sgd(0.1), rho=0.01).init(p)
        >>> for _ in range(50):
        ...     p, s, l = step(p, s, jnp.ones(2))
        >>> bool(l < 1e-3)
        True
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (params, *args) -> scalar, got {loss_fn!r}")
    check_transform(optimizer, "optimizer")

    def step(params, state, *args):
        loss, grads = jax.value_and_grad(loss_fn)(params, *args)
        grad_fn = jax.grad(lambda p: loss_fn(p, *args))
        updates, state = optimizer.update(grads, state, params, grad_fn=grad_fn)
        return apply_updates(params, updates), state, loss

    return step
