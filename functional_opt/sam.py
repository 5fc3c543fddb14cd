"""Sharpness-aware minimization (SAM): step with the gradient at an adversarially perturbed point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, value_at, zero_count
from functional_opt.base import (
    GradientTransformation,
    apply_updates,
    check_transform,
    is_transform,
    with_extra_args_support,
)


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
    """State of :func:`sam`'s one-call form: the wrapped optimizer's state."""

    inner: Any


class SAMState(NamedTuple):
    """State of :func:`sam`'s two-optimizer form (``optax.contrib.SAMState``'s fields).

    Attributes:
        steps_since_sync: int32, the calls since the last outer step
            (always 0 in opaque mode).
        opt_state: the outer optimizer's state.
        adv_state: the adversarial optimizer's state.
        cache: the outer parameters, returned to by the outer step (``None``
            in opaque mode).
    """

    steps_since_sync: jax.Array
    opt_state: Any
    adv_state: Any
    cache: Any


_RHO, _EPS = 0.05, 1e-12  # the one-call form's defaults, by identity: an explicit rho= is told from the default


def sam(
    optimizer: GradientTransformation,
    adv_optimizer: Any = None,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: Any = None,
    *,
    rho=_RHO,
    adaptive: bool = False,
    eps=_EPS,
) -> GradientTransformation:
    """Sharpness-aware minimization: step with the gradient at an adversarially perturbed point.

    Two forms, chosen by the second argument.

    **One call per step** (``adv_optimizer`` is ``None`` or a number, read as
    ``rho``; Foret et al., Algorithm 1), ``g = grad L(w)`` the incoming update::

        e     = sam_perturbation(g, w, rho, adaptive=adaptive, eps=eps)
        g_sam = grad_fn(w + e)
        u, inner_state = optimizer.update(g_sam, inner_state, w)

    ``update`` needs ``params`` and ``grad_fn=``, a function ``params ->
    gradient`` of the current batch's loss (the second backward pass); without
    them it raises ``ValueError``. :func:`sam_train_step` builds ``grad_fn``
    and does both passes for you. ``m``-sharpness (per-device perturbations)
    is obtained by calling this inside ``shard_map``/``pmap`` without averaging
    ``g`` first. State: :class:`SamState` ``(inner,)``.

    **optax's two-optimizer form** (``adv_optimizer`` a transformation, as
    ``optax.contrib.sam``): ``adv_optimizer`` takes ``sync_period - 1``
    ascent steps from the outer parameters ``w`` (its update negated, so a
    descending optimizer ascends), then ``optimizer`` steps ``w`` with the
    gradient at the last perturbed point ``w_adv``::

        w_adv <- w_adv - adv_optimizer.update(g(w_adv))      (sync_period - 1 times)
        w     <- w + optimizer.update(g(w_adv), opt_state, w)

    With ``opaque_mode=False`` (transparent) each ``update`` call is one of
    these steps, with the gradient at the params it is given: the first
    call of a period caches ``w``, the ascent calls return the ascent
    updates, and every ``sync_period``-th call returns ``w - w_adv +
    optimizer's update`` (back to the cached ``w``, then the outer step), so
    the params between calls are the perturbed ones. With
    ``opaque_mode=True`` one call does the whole period, calling
    ``grad_fn(w_adv, i)`` for the ascent step ``i = 0 .. sync_period - 2``
    (``jax.lax.pmean`` over ``batch_axis_name`` when given; it is used only
    in opaque mode), and returns the outer update. ``reset_state`` re-inits
    ``adv_optimizer``'s state (at the current params) after each outer step.
    State: :class:`SAMState` ``(steps_since_sync, opt_state, adv_state,
    cache)``, optax's fields.

    Conventions: ``sam(opt, rho=r, eps=0.0)`` computes the same step as
    ``sam(opt, chain(normalize(), sgd(r)), sync_period=2, opaque_mode=True)``
    (whose ``grad_fn`` takes ``(params, i)``; normalize has no ``eps``, so a
    zero gradient gives NaN there; no adaptive option). The two-optimizer
    form follows ``optax.contrib.sam`` step for step, except that it runs
    only the update it returns (one ``lax.cond``, so the other's NaN cannot
    leak in), returns updates in the gradients' dtypes, keeps a copy of the
    params as ``cache``, passes extra keyword arguments on to both
    optimizers, and with ``sync_period=1`` in transparent mode is the outer
    optimizer alone (optax's keeps returning to its first cache then).
    torch ports (davda54/sam) are ``first_step``/``second_step`` methods
    around the user's two backward passes: the one-call form's numbers.

    Args:
        optimizer: the base (outer) optimizer.
        adv_optimizer: the adversarial optimizer (a transformation), e.g.
            ``chain(normalize(), sgd(rho))``; or ``None`` or a number (then
            ``rho``) for the one-call form.
        sync_period: int ``>= 1``, the calls per outer step (two-optimizer form).
        reset_state: re-init ``adv_optimizer``'s state after each outer step.
        opaque_mode: the whole period in one call, through ``grad_fn(params, i)``.
        batch_axis_name: the axis name(s) over which opaque mode averages the
            gradients of ``grad_fn`` (``pmap``/``shard_map``), or ``None``.
        rho: ``>= 0`` neighbourhood radius, number or array (one-call form).
        adaptive: ASAM's scale-invariant perturbation (one-call form).
        eps: ``>= 0``, added to the gradient norm (one-call form).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> grad = jax.grad(lambda p: jnp.sum(p ** 2))
        >>> p = jnp.array([3.0, 4.0])
        >>> opt = fo.sam(fo.sgd(0.1), rho=0.5)  # one call per step
        >>> u, s = opt.update(grad(p), opt.init(p), p, grad_fn=grad)
        >>> [round(float(x), 4) for x in u]  # -0.1 * 2 * (p + 0.5 * p / |p|)
        [-0.66, -0.88]
        >>> opt = fo.sam(fo.sgd(0.1), fo.chain(fo.normalize(), fo.sgd(0.5)))  # optax's form
        >>> s = opt.init(p)
        >>> u, s = opt.update(grad(p), s, p)  # ascent: + 0.5 * g / |g|
        >>> p_adv = fo.apply_updates(p, u)
        >>> [round(float(x), 4) for x in p_adv]
        [3.3, 4.4]
        >>> u, s = opt.update(grad(p_adv), s, p_adv)  # back to p, then the outer step
        >>> [round(float(x), 4) for x in fo.apply_updates(p_adv, u)]
        [2.34, 3.12]

    References:
        Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
        Generalization", ICLR 2021; Kwon et al., "ASAM", ICML 2021.
    """
    check_transform(optimizer, "optimizer")
    if is_transform(adv_optimizer):
        if rho is not _RHO or adaptive is not False or eps is not _EPS:
            raise TypeError(
                "sam: rho, adaptive and eps belong to the one-call form; with adv_optimizer the "
                "perturbation is adv_optimizer's (e.g. chain(normalize(), sgd(rho)))"
            )
        return _two_optimizer_sam(optimizer, adv_optimizer, sync_period, reset_state, opaque_mode, batch_axis_name)
    if callable(adv_optimizer) and not isinstance(adv_optimizer, (jax.Array, np.ndarray)):
        raise TypeError(
            f"adv_optimizer must be a GradientTransformation (an (init, update) pair) or a number (rho), "
            f"got {adv_optimizer!r}"
        )
    if adv_optimizer is not None:
        if rho is not _RHO:
            raise TypeError("sam: rho given twice (as the second argument and as rho=)")
        rho = adv_optimizer
    given = [
        name
        for name, value, default in (
            ("sync_period", sync_period, 2),
            ("reset_state", reset_state, True),
            ("opaque_mode", opaque_mode, False),
            ("batch_axis_name", batch_axis_name, None),
        )
        if not (type(value) is type(default) and value == default)
    ]
    if given:
        raise TypeError(
            f"sam: {', '.join(given)} apply only to the two-optimizer form; pass adv_optimizer, a "
            "GradientTransformation such as chain(normalize(), sgd(rho))"
        )
    return _one_call_sam(optimizer, rho, adaptive, eps)


def _one_call_sam(optimizer: GradientTransformation, rho, adaptive: bool, eps) -> GradientTransformation:
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


def _two_optimizer_sam(
    optimizer: Any, adv_optimizer: Any, sync_period: int, reset_state: bool, opaque_mode: bool, batch_axis_name: Any
) -> GradientTransformation:
    check_transform(adv_optimizer, "adv_optimizer")
    check_int("sync_period", sync_period, low=1)
    for name, flag in (("reset_state", reset_state), ("opaque_mode", opaque_mode)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
    names = batch_axis_name if isinstance(batch_axis_name, tuple) else (batch_axis_name,)
    if batch_axis_name is not None and not all(isinstance(n, str) for n in names):
        raise TypeError(f"batch_axis_name must be None, an axis name or a tuple of them, got {batch_axis_name!r}")
    period = int(sync_period)
    opt, adv = with_extra_args_support(optimizer), with_extra_args_support(adv_optimizer)

    def init(params):
        cache = None if opaque_mode else jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return SAMState(zero_count(), opt.init(params), adv.init(params), cache)

    def ascent(adv_state, g, w, extra_args):  # the adversary descends: its update, negated
        e, adv_state = adv.update(g, adv_state, w, **extra_args)
        return jax.tree.map(jnp.negative, e), adv_state

    def after_sync(adv_state, params):
        return adv.init(params) if reset_state else adv_state

    def transparent_update(updates, state, params=None, *, grad_fn=None, **extra_args):
        del grad_fn  # this call's gradient is `updates`
        if params is None:
            raise ValueError("sam(optimizer, adv_optimizer) needs params: update(grads, state, params)")
        k = state.steps_since_sync
        cache = jax.tree.map(lambda p, c: jnp.where(k == 0, p, c), params, state.cache)  # w, at a period's start

        def adversarial_step(_):
            e, adv_state = ascent(state.adv_state, updates, params, extra_args)
            return e, state.opt_state, adv_state

        def outer_step(_):
            u, opt_state = opt.update(updates, state.opt_state, cache, **extra_args)
            u = jax.tree.map(lambda w, w_adv, u: w - w_adv + u, cache, params, u)  # back to w, then the step
            return u, opt_state, after_sync(state.adv_state, params)

        def in_grad_dtype(branch):
            def run(_):
                u, opt_state, adv_state = branch(None)
                return jax.tree.map(lambda x, g: x.astype(jnp.result_type(g)), u, updates), opt_state, adv_state

            return run

        u, opt_state, adv_state = jax.lax.cond(
            k == period - 1, in_grad_dtype(outer_step), in_grad_dtype(adversarial_step), None
        )
        steps = ((k + 1) % period).astype(jnp.int32)
        return u, SAMState(steps, opt_state, adv_state, cache)

    def opaque_update(updates, state, params=None, *, grad_fn: Callable | None = None, **extra_args):
        if grad_fn is None or params is None:
            raise ValueError(
                "sam(..., opaque_mode=True) needs params and grad_fn: update(grads, state, params, "
                "grad_fn=jax.grad(lambda p, i: loss(p, batch)))"
            )
        g, w_adv, adv_state = updates, params, state.adv_state
        for i in range(period - 1):
            e, adv_state = ascent(adv_state, g, w_adv, extra_args)
            w_adv = apply_updates(w_adv, e)
            g = grad_fn(w_adv, i)
            if batch_axis_name is not None:
                g = jax.lax.pmean(g, axis_name=batch_axis_name)
        u, opt_state = opt.update(g, state.opt_state, params, **extra_args)
        return u, SAMState(zero_count(), opt_state, after_sync(adv_state, params), None)

    return GradientTransformation(init, opaque_update if opaque_mode else transparent_update)


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
