"""DoG and DoWG: learning-rate-free step sizes from the distance travelled over the gradients seen."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, value_at
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat

_INIT_STEP_TYPES = ("distance", "learning_rate", "heuristic")


def _distance_over_gradients(where, updates, params, init_params, rule):
    """DoG's and DoWG's machinery: ``eta, new_state = rule(||x - x0||**2, ||g||**2)``, then ``u = eta * g``."""
    if params is None:
        raise ValueError(f"{where} needs params: call update(updates, state, params)")
    _tree.check_same_shapes(where, "updates", updates, "params", params)
    d2 = _tree.squared_norm(jax.tree.map(lambda a, b: _tree.up(a) - _tree.up(b), params, init_params))
    eta, new_state = rule(d2, _tree.squared_norm(updates))
    return jax.tree.map(lambda g: (eta * _tree.up(g)).astype(g.dtype), updates), new_state


class DoGState(NamedTuple):
    """State of :func:`scale_by_dog` (optax's fields): first-step flag, ``x0``, ``r_t`` and ``sum ||g||**2``."""

    is_init_step: Any
    init_params: Any
    max_dist: Any
    sum_sq_norm_grads: Any


def scale_by_dog(init_step=("heuristic", 1e-6), eps=1e-8) -> GradientTransformation:
    """Scale the updates by DoG's step size (global, one scalar for the whole tree).

    Update rule (Ivgi et al., Algorithm 1), ``x0`` the params at ``init``::

        r_t = max(r_{t-1}, ||x_t - x0||)
        G_t = G_{t-1} + ||g_t||**2
        u_t = r_t / sqrt(G_t + eps) * g_t

    ``r_0`` comes from ``init_step = (kind, value)``: ``("distance", r)``
    sets ``r_0 = r``; ``("heuristic", c)`` sets ``r_0 = c * (1 + ||x0||)``
    (the paper's ``r_eps``); ``("learning_rate", eta)`` sets ``r_0 = 0`` and
    uses the step size ``eta`` on the first step.

    Conventions: as ``optax.contrib``'s ``scale_by_dog`` (arguments, state
    fields); the scalars are kept in float32 (optax: the params' lowest
    dtype). Needs ``params``.

    Args:
        init_step: ``(kind, value)`` with ``kind`` one of ``"distance"``,
            ``"learning_rate"``, ``"heuristic"``.
        eps: ``>= 0``, inside the root.

    State: :class:`DoGState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from functional_opt.transforms.dog import scale_by_dog
        >>> t = scale_by_dog(("distance", 1.0), eps=0.0)
        >>> p = jnp.zeros(2)
        >>> t.update(jnp.array([3.0, 4.0]), t.init(p), p)[0]  # 1 / 5 * g
        Array([0.6, 0.8], dtype=float32)

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free
        Dynamic Step Size Schedule", ICML 2023.
    """
    if not (isinstance(init_step, (tuple, list)) and len(init_step) == 2 and init_step[0] in _INIT_STEP_TYPES):
        raise ValueError(f"init_step must be a pair (kind, value) with kind in {_INIT_STEP_TYPES}, got {init_step!r}")
    kind, value = init_step
    check_number("init_step[1]", value, low=0.0)
    check_number("eps", eps, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_dog", "the parameter", params)
        if kind == "distance":
            r0 = value_at(value, None)
        elif kind == "heuristic":
            r0 = value_at(value, None) * (1 + _tree.global_norm(params))
        else:
            r0 = jnp.zeros([])
        return DoGState(
            is_init_step=jnp.asarray(True),
            init_params=params,
            max_dist=jnp.asarray(r0, jnp.float32),
            sum_sq_norm_grads=jnp.zeros([], jnp.float32),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args

        def rule(d2, g2):
            r, G = jnp.maximum(state.max_dist, jnp.sqrt(d2)), state.sum_sq_norm_grads + g2
            eta = r / jnp.sqrt(G + value_at(eps, None))
            if kind == "learning_rate":
                eta = jnp.where(state.is_init_step, value_at(value, None), eta)
            return eta, DoGState(jnp.asarray(False), state.init_params, r.astype(jnp.float32), G.astype(jnp.float32))

        return _distance_over_gradients("scale_by_dog", updates, params, state.init_params, rule)

    return GradientTransformation(init, update)


class DoWGState(NamedTuple):
    """State of :func:`scale_by_dowg` (optax's fields): ``x0``, ``v_t`` and ``r_t**2``."""

    init_params: Any
    weighted_sq_norm_grads: Any
    estim_sq_dist: Any


def scale_by_dowg(init_estim_sq_dist=None, eps=1e-4) -> GradientTransformation:
    """Scale the updates by DoWG's step size (distance over weighted gradients).

    Update rule (Khaled, Mishchenko & Jin, Algorithm 1), global scalars::

        r_t**2 = max(r_{t-1}**2, ||x_t - x0||**2)
        v_t = v_{t-1} + r_t**2 * ||g_t||**2
        u_t = r_t**2 / (sqrt(v_t) + eps) * g_t

    ``r_0**2 = init_estim_sq_dist`` (default ``eps``).

    Conventions: as ``optax.contrib``'s ``scale_by_dowg``; scalars in
    float32. Needs ``params``.

    Args:
        init_estim_sq_dist: ``r_0**2 > 0`` or ``None`` (then ``eps``).
        eps: ``> 0``.

    State: :class:`DoWGState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from functional_opt.transforms.dog import scale_by_dowg
        >>> t = scale_by_dowg(1.0, eps=0.0)
        >>> p = jnp.zeros(2)
        >>> t.update(jnp.array([3.0, 4.0]), t.init(p), p)[0]  # 1 / 5 * g
        Array([0.6, 0.8], dtype=float32)

    References:
        Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal
        Parameter-Free Gradient Descent Method", NeurIPS 2023.
    """
    check_number("init_estim_sq_dist", init_estim_sq_dist, low=0.0, allow_none=True)
    check_number("eps", eps, low=0.0)

    def init(params):
        _tree.check_inexact("scale_by_dowg", "the parameter", params)
        r0 = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(
            init_params=params,
            weighted_sq_norm_grads=jnp.zeros([], jnp.float32),
            estim_sq_dist=jnp.asarray(r0, jnp.float32),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args

        def rule(d2, g2):
            r2 = jnp.maximum(state.estim_sq_dist, d2)
            v = state.weighted_sq_norm_grads + r2 * g2
            eta = r2 / (jnp.sqrt(v) + value_at(eps, None))
            return eta, DoWGState(state.init_params, v.astype(jnp.float32), r2.astype(jnp.float32))

        return _distance_over_gradients("scale_by_dowg", updates, params, state.init_params, rule)

    return GradientTransformation(init, update)


class ScaleByDistanceOverGradientsState(NamedTuple):
    """State of :func:`scale_by_distance_over_gradients` (optax's fields), one scalar per leaf."""

    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any


def scale_by_distance_over_gradients(
    reps_rel=1e-6, eps=1e-8, param_dtype: Any = jnp.float32, global_scale=1.0
) -> GradientTransformation:
    """Layer-wise DoG (LDoG): DoG's step size computed per leaf.

    Update rule (Ivgi et al., section 5, LDoG), for each leaf ``x``::

        r <- max(r, ||x - x0||)          (r starts at reps_rel * (1 + ||x0||))
        G <- G + ||g||**2
        u = global_scale * r / sqrt(G + eps) * g

    Conventions: as ``optax.scale_by_distance_over_gradients`` (arguments,
    defaults, state fields); ``init_params`` is stored in ``param_dtype``.
    ``grad_sum_of_squares`` is a scalar per leaf (optax keeps shape ``(1,)``,
    which turns a scalar leaf's update into shape ``(1,)``). Needs ``params``.

    Args:
        reps_rel: ``> 0``, the relative initial distance (1e-4 with batch
            norm, 1e-6 otherwise, per the paper).
        eps: ``>= 0``, inside the root.
        param_dtype: dtype of the stored initial params.
        global_scale: multiplies the step (e.g. ``-1`` for descent without a
            later ``scale_by_learning_rate``).

    State: :class:`ScaleByDistanceOverGradientsState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_distance_over_gradients(reps_rel=1.0, eps=0.0)
        >>> p = jnp.zeros(2)
        >>> t.update(jnp.array([3.0, 4.0]), t.init(p), p)[0]  # 1 / 5 * g
        Array([0.6, 0.8], dtype=float32)

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free
        Dynamic Step Size Schedule", ICML 2023.
    """
    check_number("reps_rel", reps_rel, low=0.0)
    check_number("eps", eps, low=0.0)
    check_number("global_scale", global_scale)
    param_dtype = check_dtype("param_dtype", param_dtype)

    def init(params):
        _tree.check_inexact("scale_by_distance_over_gradients", "the parameter", params)
        check_not_flat(params, "scale_by_distance_over_gradients")
        r = value_at(reps_rel, None)
        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree.map(
                lambda x: (r * (1 + jnp.linalg.norm(_tree.up(x).ravel()))).astype(jnp.float32), params
            ),
            grad_sum_of_squares=jax.tree.map(lambda x: jnp.zeros([], jnp.float32), params),
            init_params=jax.tree.map(lambda x: x.astype(param_dtype or x.dtype), params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        check_not_flat(updates, "scale_by_distance_over_gradients")
        eps_, scale_ = value_at(eps, None), value_at(global_scale, None)

        def leaf(g, d, G, x0, x):
            d = jnp.maximum(d, jnp.sqrt(jnp.sum(_tree.abs_sq(x - x0))))
            G = G + jnp.sum(_tree.abs_sq(g))
            return scale_ * d / jnp.sqrt(G + eps_) * g, d, G, x0

        u, (d, G, _) = _tree.map_moments(
            "scale_by_distance_over_gradients",
            leaf,
            updates,
            params=params,
            check_shapes=False,
            max_dist=state.max_dist,
            grad_sum_of_squares=state.grad_sum_of_squares,
            init_params=state.init_params,
        )
        return u, ScaleByDistanceOverGradientsState(max_dist=d, grad_sum_of_squares=G, init_params=state.init_params)

    return GradientTransformation(init, update)
