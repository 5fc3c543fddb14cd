"""Line searches along the incoming update direction: backtracking (Armijo) and zoom (strong Wolfe).

A line search is the last step of a direction-finding chain (``sgd``,
L-BFGS, ...): it receives a descent direction ``u`` at the parameters ``w``
and returns ``eta * u`` for a step size ``eta`` it chooses by calling the
objective ``value_fn`` on trial points ``w + eta * u``. Its ``update`` takes
the keyword arguments ``value=f(w)``, ``grad=grad f(w)`` and ``value_fn=f``
(optax's names); any other keyword argument is passed on to ``value_fn``
(e.g. a batch). The state keeps the value (and gradient) at the accepted
point, which :func:`value_and_grad_from_state` hands to the next iteration
so a deterministic objective is evaluated once per accepted point.

Conventions shared by both searches (as optax's):

* the slope of ``eta -> f(w + eta u)`` at 0 is ``Re <grad, u>``, which must
  be negative (``u`` a descent direction);
* for complex parameters ``grad`` is the conjugate of ``jax.grad``'s output
  (the direction in which gradient descent works), and the gradients the
  search computes and stores follow the same convention;
* every scalar of the search (step size, values, slopes) is computed in the
  params' real compute dtype (at least float32; float64 under x64).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, compute_dtype
from functional_opt.base import GradientTransformation

# --------------------------------------------------------------------------- shared helpers


def _scalar_dtype(params: Any) -> Any:
    """The real compute dtype of the search's scalars: at least float32, float64 if any leaf is."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("a line search needs at least one parameter leaf")
    return compute_dtype(*(jnp.finfo(jnp.result_type(x)).dtype for x in leaves))


def _trial_point(params: Any, eta: jax.Array, u: Any) -> Any:
    """``w + eta * u``, each leaf formed in its compute dtype and stored in the param's dtype."""
    return jax.tree.map(lambda w, d: (_tree.up(w) + eta * _tree.up(d)).astype(w.dtype), params, u)


def _like(tree: Any, ref: Any) -> Any:
    """``tree`` with each leaf cast to the dtype of ``ref``'s leaf."""
    return jax.tree.map(lambda x, r: jnp.asarray(x).astype(jnp.result_type(r)), tree, ref)


def _conj(tree: Any) -> Any:
    """Complex leaves conjugated (``jax.grad``'s output -> the descent-convention gradient); real leaves as they are."""
    return jax.tree.map(lambda x: jnp.conj(x) if jnp.iscomplexobj(x) else x, tree)


def _split_fn_kwargs(where: str, value_fn: Callable, extra_args: dict) -> dict:
    """The keyword arguments of ``update`` that ``value_fn`` takes; a ``TypeError`` names the others."""
    if not extra_args:
        return {}
    try:
        sig = inspect.signature(value_fn)
    except (TypeError, ValueError):  # a builtin or C callable: pass everything
        return dict(extra_args)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(extra_args)
    unused = sorted(k for k in extra_args if k not in sig.parameters)
    if unused:
        raise TypeError(
            f"Unexpected keyword arguments passed to `{where}.update`: {unused}. These arguments were not "
            "consumed by `value_fn` (every extra keyword argument of a line search is passed to value_fn); "
            "ensure value_fn accepts them."
        )
    return dict(extra_args)


def _value_and_grad_fn(value_fn: Callable, fn_kwargs: dict, dt: Any, params: Any) -> Callable:
    """``w -> (f(w) in dt, grad f(w) in the params' dtypes, descent convention)``."""

    def fn(w):
        v, g = jax.value_and_grad(lambda p: value_fn(p, **fn_kwargs))(w)
        return jnp.asarray(v).astype(dt), _like(_conj(g), params)

    return fn


def _start_value_and_grad(where, value, grad, value_fn, fn_kwargs, params, dt):
    """``(f(w), grad f(w))`` from the arguments, computing what is missing (``value=None`` / ``grad=None``)."""
    if value_fn is None:
        raise TypeError(
            f"{where}.update needs value_fn= (the objective, called as value_fn(params, **extra_args)); "
            "call update(updates, state, params, value=value, grad=grad, value_fn=f)"
        )
    if params is None:
        raise ValueError(f"{where} needs params: call update(updates, state, params, value=, grad=, value_fn=)")
    if value is None or grad is None:
        v, g = _value_and_grad_fn(value_fn, fn_kwargs, dt, params)(params)
        value = v if value is None else value
        grad = g if grad is None else grad
    _tree.check_same_shapes(where, "params", params, "grad", grad)
    return jnp.asarray(value).astype(dt), _like(grad, params)


def _nan_to_inf(x: jax.Array) -> jax.Array:
    return jnp.where(jnp.isnan(x), jnp.inf, x)


# --------------------------------------------------------------------------- backtracking


class BacktrackingLinesearchInfo(NamedTuple):
    """Diagnostics of the last backtracking search (optax's fields).

    ``num_linesearch_steps``: the number of values computed (int32);
    ``decrease_error``: how far the accepted step is from the sufficient
    decrease condition (0 when satisfied, ``inf`` when every trial value was
    infinite or NaN).
    """

    num_linesearch_steps: Any
    decrease_error: Any


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of :func:`scale_by_backtracking_linesearch`.

    ``learning_rate``: the accepted step size (the next search starts from
    ``increase_factor`` times it); ``value``: the objective at the accepted
    point (``inf`` before the first step); ``grad``: the gradient there when
    ``store_grad=True`` (else ``None``, an empty subtree); ``info``: a
    :class:`BacktrackingLinesearchInfo`.
    """

    learning_rate: Any
    value: Any
    grad: Any
    info: BacktrackingLinesearchInfo


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol=1e-4,
    decrease_factor=0.8,
    increase_factor=1.5,
    max_learning_rate=1.0,
    atol=0.0,
    rtol=0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Backtracking line search: shrink the step until it decreases the objective enough (Armijo).

    With ``w`` the params, ``u`` the incoming (descent) direction,
    ``f = value_fn`` and slope ``s = Re <grad f(w), u>``, the search tries

    .. math::

        \eta_0 = \min(\text{increase\_factor}\cdot\eta_{\text{prev}},\ \text{max\_learning\_rate}),
        \qquad \eta_{i+1} = \text{decrease\_factor}\cdot\eta_i

    until the sufficient decrease condition holds,

    .. math::

        f(w + \eta u) \le (1 + \text{rtol})\, f(w) + \eta\, c\, s + \text{atol},
        \qquad c = \text{slope\_rtol},

    or ``max_backtracking_steps`` decreases were made (at most
    ``max_backtracking_steps + 1`` values), and returns ``eta * u``. The
    whole search is one ``lax.while_loop``, so it jits. When every trial
    value is ``inf``/NaN the step size is 0 (no step).

    ``update(updates, state, params, *, value=None, grad=None, value_fn,
    **extra_args)``: ``value``/``grad`` are ``f(w)`` and its gradient
    (computed when ``None``); every other keyword argument goes to
    ``value_fn(params, **extra_args)`` (an argument that ``value_fn`` does not
    take is a ``TypeError``, as in optax).

    Conventions: optax's names, defaults and state; two differences, both
    where optax gets stuck: after a failed search (step size 0) the next one
    starts again from ``max_learning_rate`` (optax's ``1.5 * 0`` stays 0),
    and ``increase_factor=math.inf`` always starts from
    ``max_learning_rate``. The stored gradient (``store_grad=True``) is
    computed once, at the accepted point, after the loop (optax linearizes
    at every trial). ``verbose`` prints a diagnostic when the search fails.

    Args:
        max_backtracking_steps: int ``>= 0``, the most step-size decreases.
        slope_rtol: ``c`` in ``[0, 1)`` (0: any decrease).
        decrease_factor: in ``(0, 1)``.
        increase_factor: ``>= 1`` (``math.inf`` allowed: start from the maximum).
        max_learning_rate: ``> 0``.
        atol, rtol: ``>= 0`` tolerances of the condition.
        store_grad: keep the gradient at the accepted point in the state (for
            :func:`value_and_grad_from_state`).
        verbose: print a diagnostic (``jax.debug.print``) when the search fails.

    State: :class:`ScaleByBacktrackingLinesearchState`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> f = lambda w: jnp.sum(w ** 2)
        >>> opt = fo.chain(fo.sgd(1.0), fo.scale_by_backtracking_linesearch(max_backtracking_steps=15))
        >>> w = jnp.array([1.0, 2.0, 3.0])
        >>> s = opt.init(w)
        >>> v, g = jax.value_and_grad(f)(w)
        >>> u, s = opt.update(g, s, w, value=v, grad=g, value_fn=f)
        >>> round(float(f(fo.apply_updates(w, u))), 4)  # eta = 1 fails, eta = 0.8 passes: 14 * (1 - 2 * 0.8) ** 2
        5.04

    References:
        Nocedal & Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
        Algorithm 3.1 and (3.6a). Armijo, "Minimization of functions having
        Lipschitz continuous first partial derivatives", Pacific J. Math.
        1966. optax.scale_by_backtracking_linesearch.
    """
    where = "scale_by_backtracking_linesearch"
    check_int("max_backtracking_steps", max_backtracking_steps, low=0)
    check_number("slope_rtol", slope_rtol, low=0.0, high=1.0, high_inclusive=False)
    check_number("decrease_factor", decrease_factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("increase_factor", increase_factor, low=1.0, allow_inf=True)
    check_number("max_learning_rate", max_learning_rate, low=0.0, low_inclusive=False)
    check_number("atol", atol, low=0.0)
    check_number("rtol", rtol, low=0.0)

    def init(params):
        dt = _scalar_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.asarray(1.0, dt),
            value=jnp.asarray(jnp.inf, dt),
            grad=_tree.zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(jnp.zeros([], jnp.int32), jnp.asarray(jnp.inf, dt)),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra_args):
        fn_kwargs = _split_fn_kwargs(where, value_fn, extra_args)
        dt = _scalar_dtype(params if params is not None else updates)
        f0, g0 = _start_value_and_grad(where, value, grad, value_fn, fn_kwargs, params, dt)
        _tree.check_same_shapes(where, "updates", updates, "params", params)
        s = _tree.real_vdot(g0, updates).astype(dt)  # slope of eta -> f(w + eta u) at 0
        c, dec, inc = (jnp.asarray(x).astype(dt) for x in (slope_rtol, decrease_factor, increase_factor))
        eta_max, a_tol, r_tol = (jnp.asarray(x).astype(dt) for x in (max_learning_rate, atol, rtol))

        def f(w):
            return jnp.asarray(value_fn(w, **fn_kwargs)).astype(dt)

        def error(eta, f_eta):  # > 0 where sufficient decrease fails; inf for NaN
            return _nan_to_inf(jnp.maximum(f_eta - (1 + r_tol) * f0 - eta * c * s, 0.0))

        eta_prev = jnp.asarray(state.learning_rate).astype(dt)
        eta_prev = jnp.where(eta_prev > 0, eta_prev, eta_max)
        grown = inc * eta_prev
        eta0 = jnp.where(jnp.isfinite(grown), jnp.minimum(grown, eta_max), eta_max)

        def cond(carry):
            eta, f_eta, err, i = carry
            return (err > a_tol) & (i <= max_backtracking_steps)

        def body(carry):
            eta, _, _, i = carry
            eta = jnp.where(i > 0, dec * eta, eta)
            f_eta = f(_trial_point(params, eta, updates))
            return eta, f_eta, error(eta, f_eta), i + 1

        carry = (eta0, f0, jnp.asarray(jnp.inf, dt), jnp.zeros([], jnp.int32))
        eta, f_eta, err, n = jax.lax.while_loop(cond, body, carry)
        eta = jnp.where(jnp.isinf(err), jnp.zeros([], dt), eta)  # every trial non-finite: no step
        if verbose:
            jax.lax.cond(
                err > a_tol,
                lambda: jax.debug.print(
                    "functional_opt.scale_by_backtracking_linesearch: no step size with sufficient decrease found "
                    "(value {v}, slope {s}, step size {eta}, decrease error {e})",
                    v=f0,
                    s=s,
                    eta=eta,
                    e=err,
                    ordered=True,
                ),
                lambda: None,
            )
        if store_grad:
            f_eta, g_eta = _value_and_grad_fn(value_fn, fn_kwargs, dt, params)(_trial_point(params, eta, updates))
        else:
            g_eta = None
        u, _ = _tree.map_moments(where, lambda d: (eta * d,), updates)
        info = BacktrackingLinesearchInfo(n, err)
        return u, ScaleByBacktrackingLinesearchState(eta, f_eta, g_eta, info)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------------- zoom (strong Wolfe)


class ZoomLinesearchInfo(NamedTuple):
    """Diagnostics of the last zoom search (optax's fields).

    ``num_linesearch_steps``: the number of values and gradients computed
    (int32); ``decrease_error`` and ``curvature_error``: how far the accepted
    step is from the sufficient decrease and the curvature condition (0 when
    satisfied). A positive curvature error alone is benign (e.g. a
    ``max_learning_rate`` too small); a positive decrease error means the
    step may not decrease the objective.
    """

    num_linesearch_steps: Any
    decrease_error: Any
    curvature_error: Any


class ScaleByZoomLinesearchState(NamedTuple):
    """State of :func:`scale_by_zoom_linesearch`.

    ``learning_rate``: the accepted step size; ``value`` and ``grad``: the
    objective and its gradient at the accepted point (``inf`` and zeros
    before the first step), read back by :func:`value_and_grad_from_state`;
    ``info``: a :class:`ZoomLinesearchInfo`.
    """

    learning_rate: Any
    value: Any
    grad: Any
    info: ZoomLinesearchInfo


class _Point(NamedTuple):
    """A trial step size with the value and the slope of ``phi(eta) = f(w + eta u)`` there."""

    eta: Any
    phi: Any
    dphi: Any


class _Zoom(NamedTuple):
    """The carry of the zoom search's ``while_loop``."""

    count: Any  # values computed so far (int32)
    cur: _Point  # the last point tried
    grad: Any  # the gradient at cur
    decrease_error: Any
    curvature_error: Any
    bracketed: Any  # phase 2 (zoom) once an interval holding a good step is known
    done: Any
    failed: Any
    lo: _Point  # interval ends: phi(lo) <= phi(hi), lo satisfies sufficient decrease
    hi: _Point
    ref: _Point  # the previous end point dropped from the interval (cubic interpolation's third point)
    safe: _Point  # best point with sufficient decrease so far (eta = 0: none yet)
    safe_grad: Any


def _cubic_minimizer(a: _Point, b: _Point, c: _Point) -> jax.Array:
    """The local minimizer of the cubic through the points ``a``, ``b``, ``c`` with slope ``a.dphi`` at ``a``.

    ``p(x) = A (x-a)^3 + B (x-a)^2 + a.dphi (x-a) + a.phi``; the minimizer is
    ``a + (-B + sqrt(B^2 - 3 A a.dphi)) / (3 A)``. NaN/inf (no real
    minimizer, coincident points) is rejected by the caller's range check.
    """
    db, dc = b.eta - a.eta, c.eta - a.eta
    rb = b.phi - a.phi - a.dphi * db  # the part of the rise not explained by the slope
    rc = c.phi - a.phi - a.dphi * dc
    denom = (db * dc) ** 2 * (db - dc)
    big_a = (dc**2 * rb - db**2 * rc) / denom
    big_b = (db**3 * rc - dc**3 * rb) / denom
    return a.eta + (-big_b + jnp.sqrt(big_b * big_b - 3 * big_a * a.dphi)) / (3 * big_a)


def _quadratic_minimizer(a: _Point, b: _Point) -> jax.Array:
    """The minimizer of the parabola through the points ``a`` and ``b`` with slope ``a.dphi`` at ``a``."""
    db = b.eta - a.eta
    curv = (b.phi - a.phi - a.dphi * db) / db**2
    return a.eta - a.dphi / (2 * curv)


def _pick(flag: Any, x: Any, y: Any) -> Any:
    """``x`` where ``flag`` else ``y``, leaf by leaf (trees of one structure)."""
    return jax.tree.map(lambda p, q: jnp.where(flag, p, q), x, y)


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate=None,
    tol=0.0,
    increase_factor=2.0,
    slope_rtol=1e-4,
    curv_rtol=0.9,
    approx_dec_rtol=1e-6,
    stepsize_precision=1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    r"""Zoom line search: a step size satisfying the strong Wolfe conditions.

    With ``w`` the params, ``u`` the incoming (descent) direction,
    ``phi(eta) = f(w + eta u)`` (``f = value_fn``), ``c1 = slope_rtol``,
    ``c2 = curv_rtol`` and ``eps = tol``, it looks for ``eta`` with

    .. math::

        \phi(\eta) \le \phi(0) + c_1\,\eta\,\phi'(0) + \epsilon
        \quad\text{(sufficient decrease)}, \qquad
        |\phi'(\eta)| \le c_2\,|\phi'(0)| + \epsilon
        \quad\text{(curvature)},

    where ``phi'(eta) = Re <grad f(w + eta u), u>``, and returns
    ``eta * u``. Near a minimum, where ``phi(eta) - phi(0)`` drowns in
    rounding, the sufficient decrease may instead be met by Hager & Zhang's
    approximate Wolfe condition
    ``phi'(eta) <= (2 c1 - 1) phi'(0)``, accepted only while
    ``phi(eta) <= phi(0) + approx_dec_rtol * |phi(0)|``
    (``approx_dec_rtol=None``: Armijo only).

    The search (Nocedal & Wright, Algorithms 3.5 and 3.6) has two phases:

    1. *bracketing*: try ``eta_0`` (1 with ``initial_guess_strategy="one"``,
       the previous accepted step with ``"keep"``), then
       ``increase_factor`` times the previous trial (capped at
       ``max_learning_rate``), until a trial satisfies both conditions, or an
       interval ``[lo, hi]`` is known to hold such a step (the trial breaks
       sufficient decrease or does not improve on the previous one: it
       becomes ``hi``; its slope is ``>= 0``: the previous one becomes
       ``hi``);
    2. *zoom*: shrink the interval around a trial point, the minimizer of the
       cubic through ``lo``, ``hi`` and the last dropped end point (with
       ``phi'(lo)``) if it lies inside the interval's middle 60 %, else the
       parabola's through ``lo``, ``hi`` if inside the middle 80 %, else the
       midpoint (the safeguards of scipy's ``line_search``, after More &
       Thuente); the trial replaces ``hi`` when it breaks sufficient decrease
       or ``phi(trial) >= phi(lo)``, otherwise ``lo`` (with ``hi <- lo``
       when ``phi'(trial) (hi - lo) >= 0``).

    Each trial costs one ``jax.value_and_grad(value_fn)``, and the search is
    one ``lax.while_loop`` of at most ``max_linesearch_steps`` trials. When it
    stops without both conditions (too many trials, or an interval shorter
    than ``stepsize_precision``), it takes the trial with sufficient decrease
    and the lowest value if there is one, else the last trial (a step of 0 if
    every trial was non-finite), and the ``info`` errors say which condition
    failed. With ``max_learning_rate`` reached during bracketing and
    sufficient decrease, that step is taken (curvature unsatisfied).
    ``curv_rtol=math.inf`` drops the curvature condition (a backtracking
    search with interpolation).

    ``update(updates, state, params, *, value=None, grad=None, value_fn,
    **extra_args)``: ``value``/``grad`` are ``f(w)`` and its gradient
    (computed when ``None``); other keyword arguments go to
    ``value_fn(params, **extra_args)`` (one it does not take is a
    ``TypeError``, as in optax). The state keeps the value and gradient at
    the accepted point for :func:`value_and_grad_from_state`.

    Conventions: optax's names, defaults, state and trial sequence (the
    iterates agree with ``optax.scale_by_zoom_linesearch`` to rounding);
    ``initial_guess_strategy="keep"`` after a failed search (step 0) starts
    from 1 (optax stays at 0), and a trial where the value or the slope is
    not finite (``-inf`` included, e.g. ``log(0)``) fails both conditions
    (optax accepts ``-inf`` as a decrease). scipy's ``line_search`` uses the same
    conditions with ``c2=0.9`` and ``initial guess 1``, and no approximate
    Wolfe condition.

    Args:
        max_linesearch_steps: int ``>= 1``, the most trials per search.
        max_learning_rate: ``None`` (no cap) or ``> 0``.
        tol: ``eps >= 0``, slack on both conditions.
        increase_factor: ``> 1``, bracketing growth.
        slope_rtol: ``c1`` in ``(0, 1)``.
        curv_rtol: ``c2`` in ``(c1, 1)`` (``math.inf``: no curvature condition).
        approx_dec_rtol: ``>= 0`` or ``None`` (see above).
        stepsize_precision: ``>= 0``, the shortest interval worth zooming into.
        initial_guess_strategy: ``"keep"`` or ``"one"``.
        verbose: print a diagnostic (``jax.debug.print``) when the search fails.

    State: :class:`ScaleByZoomLinesearchState`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
        >>> opt = fo.chain(fo.sgd(1.0), fo.scale_by_zoom_linesearch(max_linesearch_steps=15))
        >>> w = jnp.zeros(3)
        >>> s = opt.init(w)
        >>> v, g = jax.value_and_grad(f)(w)
        >>> u, s = opt.update(g, s, w, value=v, grad=g, value_fn=f)
        >>> fo.apply_updates(w, u)  # the exact minimizer along -g (eta = 1/2)
        Array([1., 1., 1.], dtype=float32)

    References:
        Nocedal & Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
        Algorithms 3.5 and 3.6, (3.7) and Section 3.5 (interpolation).
        More & Thuente, "Line search algorithms with guaranteed sufficient
        decrease", ACM TOMS 20(3), 1994 (safeguarded interpolation).
        Hager & Zhang, "Algorithm 851: CG_DESCENT", ACM TOMS 32(1), 2006
        (approximate Wolfe condition). optax.scale_by_zoom_linesearch.
    """
    where = "scale_by_zoom_linesearch"
    check_int("max_linesearch_steps", max_linesearch_steps, low=1)
    if max_learning_rate is not None:
        check_number("max_learning_rate", max_learning_rate, low=0.0, low_inclusive=False)
    check_number("tol", tol, low=0.0)
    check_number("increase_factor", increase_factor, low=1.0, low_inclusive=False)
    check_number("slope_rtol", slope_rtol, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("curv_rtol", curv_rtol, low=0.0, low_inclusive=False, allow_inf=True)
    c1_num, c2_num = (x if isinstance(x, (int, float)) else None for x in (slope_rtol, curv_rtol))
    if c2_num is not None and c2_num != float("inf"):
        if c2_num >= 1:
            raise ValueError(f"curv_rtol must be in (0, 1) (or math.inf), got {curv_rtol!r}")
        if c1_num is not None and c1_num >= c2_num:
            raise ValueError(
                f"slope_rtol must be smaller than curv_rtol (0 < c1 < c2 < 1), got slope_rtol={slope_rtol!r} "
                f">= curv_rtol={curv_rtol!r}"
            )
    if approx_dec_rtol is not None:
        check_number("approx_dec_rtol", approx_dec_rtol, low=0.0)
    check_number("stepsize_precision", stepsize_precision, low=0.0)
    if initial_guess_strategy not in ("keep", "one"):
        raise ValueError(f"initial_guess_strategy must be 'keep' or 'one', got {initial_guess_strategy!r}")

    def init(params):
        dt = _scalar_dtype(params)
        inf = jnp.asarray(jnp.inf, dt)
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.asarray(1.0, dt),
            value=inf,
            grad=_tree.zeros_like(params),
            info=ZoomLinesearchInfo(jnp.zeros([], jnp.int32), inf, inf),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra_args):
        fn_kwargs = _split_fn_kwargs(where, value_fn, extra_args)
        dt = _scalar_dtype(params if params is not None else updates)
        f0, g0 = _start_value_and_grad(where, value, grad, value_fn, fn_kwargs, params, dt)
        _tree.check_same_shapes(where, "updates", updates, "params", params)
        value_and_grad = _value_and_grad_fn(value_fn, fn_kwargs, dt, params)
        c1, c2, eps, grow = (jnp.asarray(x).astype(dt) for x in (slope_rtol, curv_rtol, tol, increase_factor))
        precision = jnp.asarray(stepsize_precision).astype(dt)
        zero = jnp.zeros([], dt)
        start = _Point(zero, f0, _tree.real_vdot(g0, updates).astype(dt))  # phi(0), phi'(0)

        def evaluate(eta):
            phi, g = value_and_grad(_trial_point(params, eta, updates))
            return _Point(eta, phi, _tree.real_vdot(g, updates).astype(dt)), g

        def errors(p):
            armijo = p.phi - start.phi - c1 * p.eta * start.dphi
            if approx_dec_rtol is not None:  # Hager & Zhang's approximate Wolfe, close to the minimum only
                c3 = jnp.asarray(approx_dec_rtol).astype(dt)
                approx = jnp.maximum(p.dphi - (2 * c1 - 1) * start.dphi, p.phi - start.phi - c3 * jnp.abs(start.phi))
                armijo = jnp.minimum(armijo, approx)
            curvature = jnp.abs(p.dphi) - c2 * jnp.abs(start.dphi)
            usable = jnp.isfinite(p.phi) & jnp.isfinite(p.dphi)  # log(0) = -inf is no decrease to accept
            inf = jnp.asarray(jnp.inf, dt)
            dec = jnp.where(usable, _nan_to_inf(jnp.maximum(armijo, 0.0)), inf)
            return dec, jnp.where(usable, _nan_to_inf(jnp.maximum(curvature, 0.0)), inf)

        def bracket_trial(z: _Zoom):  # Algorithm 3.5: the guess, then growing steps
            eta = jnp.where(z.count == 0, eta_guess, grow * z.cur.eta)
            if max_learning_rate is None:
                return eta, jnp.asarray(False)
            eta_cap = jnp.asarray(max_learning_rate).astype(dt)
            return jnp.minimum(eta, eta_cap), eta >= eta_cap

        def zoom_trial(z: _Zoom):  # Algorithm 3.6: safeguarded cubic, else quadratic, else bisection
            lo, hi = z.lo, z.hi
            width = jnp.abs(hi.eta - lo.eta)
            left, right = jnp.minimum(lo.eta, hi.eta), jnp.maximum(lo.eta, hi.eta)
            cubic = _cubic_minimizer(lo, hi, z.ref)
            quad = _quadratic_minimizer(lo, hi)
            use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
            use_quad = ~use_cubic & (quad > left + 0.1 * width) & (quad < right - 0.1 * width)
            return jnp.where(use_cubic, cubic, jnp.where(use_quad, quad, (lo.eta + hi.eta) / 2))

        def bracket(z: _Zoom, new: _Point, g, dec, curv, at_cap) -> _Zoom:
            prev = z.cur
            good = jnp.maximum(dec, curv) <= eps
            safe, safe_grad = _pick(dec <= eps, (new, g), (z.safe, z.safe_grad))
            new_is_hi = (dec > 0) | ((new.phi >= prev.phi) & (z.count > 0))
            new_is_lo = (new.dphi >= 0) & ~new_is_hi
            lo, hi = _pick(new_is_lo, (new, prev), (prev, new))
            bracketed = new_is_hi | new_is_lo | good
            done = good | (at_cap & ~bracketed)
            count = z.count + 1
            failed = (count >= max_linesearch_steps) & ~done
            return _Zoom(count, new, g, dec, curv, bracketed, done, failed, lo, hi, lo, safe, safe_grad)

        def zoom(z: _Zoom, new: _Point, g, dec, curv, at_cap) -> _Zoom:
            del at_cap
            lo, hi = z.lo, z.hi
            done = jnp.maximum(dec, curv) <= eps
            better = (dec <= eps) & (new.phi < z.safe.phi)
            safe, safe_grad = _pick(better, (new, g), (z.safe, z.safe_grad))
            new_is_hi = (dec > 0) | (new.phi >= lo.phi)
            lo_is_hi = (new.dphi * (hi.eta - lo.eta) >= 0) & ~new_is_hi
            new_hi = _pick(new_is_hi, new, _pick(lo_is_hi, lo, hi))
            new_lo = _pick(new_is_hi, lo, new)
            ref = _pick(new_is_hi | lo_is_hi, hi, lo)  # the end point just dropped
            count = z.count + 1
            too_narrow = (jnp.abs(hi.eta - lo.eta) <= precision) & (safe.eta > 0)
            failed = ((count >= max_linesearch_steps) | too_narrow) & ~done
            return _Zoom(count, new, g, dec, curv, z.bracketed, done, failed, new_lo, new_hi, ref, safe, safe_grad)

        def fall_back(z: _Zoom) -> _Zoom:  # stopped without both conditions: the best safe point
            use_safe = (z.safe.eta > 0) | jnp.isinf(z.decrease_error)
            cur, g = _pick(use_safe, (z.safe, z.safe_grad), (z.cur, z.grad))
            return z._replace(cur=cur, grad=g)

        def body(z: _Zoom) -> _Zoom:  # one trial: one value_and_grad (traced once, so it compiles once)
            eta_b, at_cap = bracket_trial(z)
            new, g = evaluate(jnp.where(z.bracketed, zoom_trial(z), eta_b))
            dec, curv = errors(new)
            z = jax.lax.cond(z.bracketed, zoom, bracket, z, new, g, dec, curv, at_cap)
            return jax.lax.cond(z.failed, fall_back, lambda x: x, z)

        def cond(z: _Zoom):
            return ~(z.done | z.failed)

        if initial_guess_strategy == "one":
            eta_guess = jnp.ones([], dt)
        else:
            eta_prev = jnp.asarray(state.learning_rate).astype(dt)
            eta_guess = jnp.where(eta_prev > 0, eta_prev, jnp.ones([], dt))
        inf = jnp.asarray(jnp.inf, dt)
        no = jnp.asarray(False)
        z0 = _Zoom(jnp.zeros([], jnp.int32), start, g0, inf, inf, no, no, no, start, start, start, start, g0)
        z = jax.lax.while_loop(cond, body, z0)
        if verbose:
            _report_zoom_failure(z, start, precision)
        eta = z.cur.eta
        u, _ = _tree.map_moments(where, lambda d: (eta * d,), updates)
        info = ZoomLinesearchInfo(z.count, z.decrease_error, z.curvature_error)
        return u, ScaleByZoomLinesearchState(eta, z.cur.phi, z.grad, info)

    return GradientTransformation(init, update)


def _say(flag: Any, message: str, **values: Any) -> None:
    jax.lax.cond(flag, lambda: jax.debug.print(message, **values, ordered=True), lambda: None)


def _report_zoom_failure(z: _Zoom, start: _Point, precision: jax.Array) -> None:
    """``verbose=True``: say why the search stopped without both conditions (the sentences are optax's)."""
    failed = z.failed & ~z.done
    at_cap = z.done & ((z.decrease_error > 0) | (z.curvature_error > 0))
    _say(
        failed | at_cap,
        "INFO: functional_opt.scale_by_zoom_linesearch:\nValue at current params: {v}\nSlope along update "
        "direction: {s}\nStepsize reached: {eta}\nDecrease Error: {d}\nCurvature Error: {c}",
        v=start.phi,
        s=start.dphi,
        eta=z.cur.eta,
        d=z.decrease_error,
        c=z.curvature_error,
    )
    _say(
        at_cap,
        "No interval satisfying curvature condition. Consider increasing maximal possible stepsize of the linesearch.",
    )
    _say(
        failed & (jnp.abs(z.hi.eta - z.lo.eta) <= precision) & z.bracketed,
        "Length of searched interval has been reduced below threshold.",
    )
    took_safe = (z.safe.eta > 0) & (z.cur.eta == z.safe.eta)
    _say(
        (failed & took_safe) | at_cap,
        "Returning stepsize with sufficient decrease but curvature condition not satisfied.",
    )
    _say(failed & ~took_safe, "Linesearch failed, no stepsize satisfying sufficient decrease found.")
    _say(
        failed & ~took_safe & (start.dphi >= 0),
        "The linesearch failed because the provided direction is not a descent direction. The slope (={s}) at "
        "stepsize=0 should be negative.",
        s=start.dphi,
    )
    _say(failed & ~took_safe & (start.dphi < 0), "Consider augmenting the maximal number of linesearch iterations.")


# --------------------------------------------------------------------------- value and gradient from the state


def _find_fields(tree: Any, name: str) -> list:
    """Every subtree of ``tree`` stored under the attribute or key ``name`` (not searched below a match)."""
    found: list = []

    def walk(x):
        if x is None:
            return
        kids = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda n: n is not x)[0]
        if len(kids) == 1 and not kids[0][0]:  # a leaf
            return
        for path, child in kids:
            key = path[0]
            label = getattr(key, "name", getattr(key, "key", None))
            if label == name:
                found.append(child)
            else:
                walk(child)

    walk(tree)
    return found


def value_and_grad_from_state(value_fn: Callable) -> Callable:
    """``jax.value_and_grad(value_fn)`` that reuses the value and gradient a line search left in the state.

    Returns ``fn(params, *args, state, **kwargs) -> (value, grad)``. A line
    search (:func:`scale_by_zoom_linesearch`, or
    :func:`scale_by_backtracking_linesearch` with ``store_grad=True``)
    evaluates the objective and its gradient at the point it accepts; for a
    deterministic objective these are the next iteration's ``value`` and
    ``grad``, so this function returns them from ``state`` instead of
    computing them again. When the stored value is ``inf`` or NaN (before
    the first step) it computes ``jax.value_and_grad(value_fn)(params,
    *args, **kwargs)`` (inside ``lax.cond``, so it jits and only one branch
    runs). The fields are found by name (``value`` and ``grad``) anywhere in
    the state: none, or a ``grad`` of ``None``, is a ``ValueError``; more
    than one is a ``KeyError`` (as optax).

    Conventions: as optax's. For complex parameters the computed gradient
    is conjugated (the convention of the line searches, see the module
    docstring); real parameters are unaffected.

    Args:
        value_fn: the objective, a scalar function of the params (and of
            ``*args, **kwargs``), differentiable by JAX.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> f = lambda w: jnp.sum(w ** 2)
        >>> opt = fo.lbfgs()
        >>> w = jnp.array([1.0, 2.0, 3.0])
        >>> s = opt.init(w)
        >>> value_and_grad = fo.value_and_grad_from_state(f)
        >>> for _ in range(2):
        ...     v, g = value_and_grad(w, state=s)
        ...     u, s = opt.update(g, s, w, value=v, grad=g, value_fn=f)
        ...     w = fo.apply_updates(w, u)
        >>> float(f(w)) < 1e-10
        True

    References:
        optax.value_and_grad_from_state.
    """
    if not callable(value_fn):
        raise TypeError(f"value_fn must be a callable params -> scalar, got {value_fn!r}")

    def fn(params, *fn_args, state, **fn_kwargs):
        values, grads = _find_fields(state, "value"), _find_fields(state, "grad")
        if len(values) > 1 or len(grads) > 1:
            raise KeyError(
                f"value_and_grad_from_state: the state holds {len(values)} fields named 'value' and "
                f"{len(grads)} named 'grad'; expected one of each (a single line search in the chain)"
            )
        if not values or not grads or grads[0] is None:
            raise ValueError(
                "value_and_grad_from_state: value or gradient not found in the state; use a line search that "
                "stores them (scale_by_zoom_linesearch, or scale_by_backtracking_linesearch(store_grad=True))"
            )
        value, grad = values[0], grads[0]

        def fresh(p, args, kwargs):
            v, g = jax.value_and_grad(value_fn)(p, *args, **kwargs)
            return jnp.asarray(v).astype(jnp.result_type(value)), _like(_conj(g), grad)

        return jax.lax.cond(
            jnp.isfinite(value),
            lambda p, args, kwargs: (value, grad),
            fresh,
            params,
            fn_args,
            fn_kwargs,
        )

    return fn
