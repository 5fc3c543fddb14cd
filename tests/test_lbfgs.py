"""L-BFGS and the line searches: against numpy float64 formulas, scipy.optimize and optax.

* ``scale_by_lbfgs``'s direction equals Nocedal & Wright's Algorithm 7.4 written out in numpy for
  a fixed history (and forgets pairs older than ``memory_size``);
* the backtracking search's step satisfies the Armijo condition, the zoom search's the strong
  Wolfe conditions (checked numerically) and equals scipy's ``line_search``;
* ``lbfgs`` on Rosenbrock (2-D, 10-D) and an L2-regularized logistic regression reaches
  scipy's ``L-BFGS-B`` minimum in a comparable number of iterations, and repeats optax's iterates.
"""

from __future__ import annotations

import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

scipy_optimize = pytest.importorskip("scipy.optimize")


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_rng = np.random.default_rng(0)
_X = _rng.normal(size=(40, 5))
_Y = (_X @ _rng.normal(size=5) + 0.5 * _rng.normal(size=40) > 0).astype(np.float64)


def logistic(params):
    """Mean logistic loss + 0.5e-2 ||w||^2 on 40 synthetic points; params = {"w": (5,), "b": ()}."""
    z = jnp.asarray(_X, params["w"].dtype) @ params["w"] + params["b"]
    y = jnp.asarray(_Y, z.dtype)
    return jnp.mean(jax.nn.softplus(z) - y * z) + 0.5e-2 * jnp.sum(params["w"] ** 2)


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))


def _solve(lib, opt, f, x0, tol, maxiter=200):
    """The documented loop, to ``||grad|| < tol``, in one jitted while_loop: ``(x, iterations)``."""
    value_and_grad = lib.value_and_grad_from_state(f)

    def body(carry):
        x, s, k, _ = carry
        v, g = value_and_grad(x, state=s)
        u, s = opt.update(g, s, x, value=v, grad=g, value_fn=f)
        x = fo.apply_updates(x, u)
        return x, s, k + 1, _norm(jax.grad(f)(x))

    def cond(carry):
        return (carry[3] >= tol) & (carry[2] < maxiter)

    x, _, k, _ = jax.jit(lambda x0: jax.lax.while_loop(cond, body, (x0, opt.init(x0), 0, _norm(jax.grad(f)(x0)))))(x0)
    return x, int(k)


def _scipy(f, x0, tol):
    flat, unravel = jax.flatten_util.ravel_pytree(x0)
    fun = jax.jit(lambda z: jax.value_and_grad(lambda q: f(unravel(q)))(z))

    def value_and_grad(z):
        v, g = fun(jnp.asarray(z))
        return float(v), np.asarray(g, np.float64)

    opts = dict(gtol=tol, ftol=0.0, maxiter=500)
    return scipy_optimize.minimize(value_and_grad, np.asarray(flat), jac=True, method="L-BFGS-B", options=opts)


# --------------------------------------------------------------------------- lbfgs vs scipy and optax

PROBLEMS = {
    "rosenbrock_2d": (rosenbrock, lambda: jnp.array([-1.2, 1.0])),
    "rosenbrock_10d": (rosenbrock, lambda: jnp.zeros(10)),
    "logistic_l2": (logistic, lambda: {"w": jnp.zeros(5), "b": jnp.zeros(())}),
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_lbfgs_matches_scipy_lbfgsb_in_float64(name):
    f, x0 = PROBLEMS[name]
    tol = 1e-6
    with jax.enable_x64():
        x, iters = _solve(fo, fo.lbfgs(), f, jax.tree.map(lambda a: a.astype(jnp.float64), x0()), tol)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(x))
        ref = _scipy(f, jax.tree.map(lambda a: a.astype(jnp.float64), x0()), tol)
        value = float(f(x))
        flat = np.asarray(jax.flatten_util.ravel_pytree(x)[0])
    assert ref.success and iters < 200
    # measured: rosenbrock_2d 35 vs scipy's 37, rosenbrock_10d 63 vs 62, logistic 12 vs 12
    assert iters <= 1.25 * ref.nit + 3, (iters, ref.nit)
    assert abs(value - ref.fun) <= 1e-10 * max(1.0, abs(ref.fun)), (value, ref.fun)
    np.testing.assert_allclose(flat, ref.x, atol=1e-5)


def test_lbfgs_repeats_optax_iterates():
    optax = pytest.importorskip("optax")
    x0 = np.array([-1.2, 1.0])

    def run(lib, opt, n=12):
        value_and_grad = lib.value_and_grad_from_state(rosenbrock)

        def step(carry, _):
            x, s = carry
            v, g = value_and_grad(x, state=s)
            u, s = opt.update(g, s, x, value=v, grad=g, value_fn=rosenbrock)
            x = fo.apply_updates(x, u)
            return (x, s), x

        return np.asarray(jax.jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), length=n)[1])(x0))

    with jax.enable_x64():
        ours, theirs = run(fo, fo.lbfgs()), run(optax, optax.lbfgs())
    assert np.abs(ours[-1] - x0).max() > 0.5  # it moved
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- the two-loop recursion


def _two_loop_numpy(g, pairs, gamma):
    """Nocedal & Wright, Algorithm 7.4, in float64: ``H g`` from pairs ``[(s, y)]`` oldest first."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q = q - a * y
    r = gamma * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        b = (y @ r) / (y @ s)
        r = r + s * (a - b)
    return r


@pytest.mark.parametrize("memory_size", [2, 8])
def test_two_loop_recursion_equals_numpy_algorithm_7_4(memory_size):
    """Six steps on a convex quadratic (a mixed-shape tree): the output uses the last m pairs only."""
    rng = np.random.default_rng(1)
    n = 2 * 3 + 4 + 1
    a = rng.normal(size=(n, n))
    hess = a @ a.T + n * np.eye(n)
    ws = [rng.normal(size=n) for _ in range(7)]
    gs = [hess @ w + 1.0 for w in ws]

    def tree(v):
        return {"m": jnp.asarray(v[:6].reshape(2, 3)), "v": jnp.asarray(v[6:10]), "s": jnp.asarray(v[10])}

    with jax.enable_x64():
        t = fo.scale_by_lbfgs(memory_size=memory_size)
        update = jax.jit(t.update)
        state = t.init(tree(ws[0]))
        for w, g in zip(ws, gs):
            out, state = update(tree(g), state, tree(w))
        got = np.asarray(jax.flatten_util.ravel_pytree(out)[0])
        order = jax.flatten_util.ravel_pytree(tree(np.arange(n, dtype=np.float64)))[0].astype(int)
    assert state.diff_params_memory["m"].shape == (memory_size, 2, 3)
    assert state.weights_memory.shape == (memory_size,)
    pairs = [(ws[j + 1] - ws[j], gs[j + 1] - gs[j]) for j in range(len(ws) - 1)][-memory_size:]
    s, y = pairs[-1]
    want = _two_loop_numpy(gs[-1], pairs, (s @ y) / (y @ y))
    np.testing.assert_allclose(got, want[np.asarray(order)], rtol=1e-10)
    if memory_size < 6:  # forgetting is visible: all six pairs give another direction
        all_pairs = [(ws[j + 1] - ws[j], gs[j + 1] - gs[j]) for j in range(len(ws) - 1)]
        assert not np.allclose(_two_loop_numpy(gs[-1], all_pairs, (s @ y) / (y @ y))[np.asarray(order)], got)


def test_first_step_is_the_gradient_capped_to_unit_norm():
    t = fo.scale_by_lbfgs()
    g = jnp.array([3.0, 4.0])
    np.testing.assert_allclose(t.update(g, t.init(g), g)[0], [0.6, 0.8], rtol=1e-6)
    small = jnp.array([0.03, 0.04])  # ||g|| < 1: gamma_0 = 1
    np.testing.assert_allclose(t.update(small, t.init(g), g)[0], small, rtol=1e-6)
    t1 = fo.scale_by_lbfgs(scale_init_precond=False)
    np.testing.assert_allclose(t1.update(g, t1.init(g), g)[0], g, rtol=1e-6)


# --------------------------------------------------------------------------- the line searches


def _himmelblau(p, shift=0.0):
    x, y = p["x"][0], p["y"]
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2 + shift


STARTS = [(0.5, -1.0), (3.5, 2.5), (-2.0, 1.0), (1.0, 4.0)]


def _tree_np(p):
    return np.array([float(p["x"][0]), float(p["y"])])


def test_backtracking_satisfies_armijo_and_passes_extra_args_to_value_fn():
    c1 = 0.3
    opt = fo.scale_by_backtracking_linesearch(max_backtracking_steps=30, slope_rtol=c1, decrease_factor=0.5)

    @jax.jit
    def search(p, shift):
        v, g = jax.value_and_grad(_himmelblau)(p, shift)
        u = jax.tree.map(lambda x: -x, g)
        step, s = opt.update(u, opt.init(p), p, value=v, grad=g, value_fn=_himmelblau, shift=shift)
        return u, step, s

    for x, y in STARTS:
        p = {"x": jnp.array([x]), "y": jnp.asarray(y)}
        u, step, s = search(p, 2.0)
        eta = float(s.learning_rate)
        w, d = _tree_np(p), _tree_np(u)

        def f(z):
            return (z[0] ** 2 + z[1] - 11) ** 2 + (z[0] + z[1] ** 2 - 7) ** 2 + 2.0

        grad = -d
        assert 0 < eta <= 1.0 and float(s.info.decrease_error) == 0.0
        assert f(w + eta * d) <= f(w) + c1 * eta * grad @ d + 1e-4 * abs(f(w))
        assert f(w + eta / 0.5 * d) > f(w) + c1 * eta / 0.5 * grad @ d or eta == 1.0  # the largest such step
        np.testing.assert_allclose(_tree_np(step), eta * d, rtol=1e-6)
        np.testing.assert_allclose(float(s.value), f(w + eta * d), rtol=1e-5)
    with pytest.raises(TypeError, match="Unexpected keyword arguments.*'unused'"):
        opt.update(u, opt.init(p), p, value=1.0, grad=u, value_fn=_himmelblau, shift=1.0, unused=2)


def test_zoom_satisfies_strong_wolfe_and_equals_scipy_line_search():
    c1, c2 = 1e-4, 0.9
    opt = fo.scale_by_zoom_linesearch(max_linesearch_steps=30, approx_dec_rtol=None, initial_guess_strategy="one")

    def searcher(opt):
        @jax.jit
        def search(p):
            v, g = jax.value_and_grad(_himmelblau)(p)
            u = jax.tree.map(lambda x: -x, g)
            return u, opt.update(u, opt.init(p), p, value=v, grad=g, value_fn=_himmelblau)

        return search

    search = searcher(opt)

    def f(z):
        return (z[0] ** 2 + z[1] - 11) ** 2 + (z[0] + z[1] ** 2 - 7) ** 2

    def df(z):
        a, b = z[0] ** 2 + z[1] - 11, z[0] + z[1] ** 2 - 7
        return np.array([4 * a * z[0] + 2 * b, 2 * a + 4 * b * z[1]])

    try:
        import optax

        theirs = searcher(optax.scale_by_zoom_linesearch(30, approx_dec_rtol=None, initial_guess_strategy="one"))
    except ImportError:
        theirs = None
    agree = []
    for x, y in STARTS:
        with jax.enable_x64():  # float64, to compare step sizes with scipy's and optax's to rounding
            p = {"x": jnp.array([x], jnp.float64), "y": jnp.asarray(y, jnp.float64)}
            u, (step, s) = search(p)
            if theirs is not None:
                _, (_, s2) = theirs(p)
                np.testing.assert_allclose(float(s.learning_rate), float(s2.learning_rate), rtol=1e-9)
        eta = float(s.learning_rate)
        w, d = _tree_np(p), _tree_np(u)
        slope0 = df(w) @ d
        assert slope0 < 0 and eta > 0
        assert float(s.info.decrease_error) == 0.0 and float(s.info.curvature_error) == 0.0
        assert f(w + eta * d) <= f(w) + c1 * eta * slope0  # sufficient decrease
        assert abs(df(w + eta * d) @ d) <= c2 * abs(slope0) * (1 + 1e-9)  # strong curvature
        np.testing.assert_allclose(_tree_np(s.grad), df(w + eta * d), rtol=1e-4, atol=1e-3)
        ref = scipy_optimize.line_search(f, df, w, d, c1=c1, c2=c2, maxiter=30)[0]
        agree.append(ref is not None and abs(eta - ref) <= 1e-9 * ref)
    # the same trial sequence as scipy's scalar_search_wolfe2 (measured: 3 of 4 starts give scipy's step to 1e-15;
    # on (0.5, -1.0) scipy returns another strong Wolfe step, 0.0922 against 0.0861 here and in optax)
    assert sum(agree) >= 3, agree


def test_zoom_takes_the_capped_step_and_no_step_on_nan():
    f = lambda w: jnp.sum(w**2)  # noqa: E731
    w, u = jnp.array([-60.0, 0.0]), jnp.array([1.0, 0.0])  # strong Wolfe (c2=0.5) needs eta >= 30
    capped = fo.scale_by_zoom_linesearch(10, max_learning_rate=10.0, curv_rtol=0.5)
    step, s = capped.update(u, capped.init(w), w, value=f(w), grad=jax.grad(f)(w), value_fn=f)
    assert float(s.learning_rate) == 10.0 and float(s.info.curvature_error) > 0
    log = lambda w: jnp.sum(jnp.log(w))  # noqa: E731  (log(1 - 2 * 0.5) = -inf: not a step to take)
    w1 = jnp.array([1.0])
    zoom = fo.scale_by_zoom_linesearch(30)
    _, s = zoom.update(jnp.array([-2.0]), zoom.init(w1), w1, value=log(w1), grad=jax.grad(log)(w1), value_fn=log)
    assert 0.0 < float(s.learning_rate) < 0.5 and np.isfinite(float(s.value))  # stays inside the domain


# --------------------------------------------------------------------------- usage: jit, trees, schedules, state reuse


def test_jitted_lbfgs_on_a_mixed_tree_with_schedule_and_backtracking_reuses_the_state():
    """Registry-style smoke test: jit, a tree of mixed shapes, a schedule, value_fn, stable state."""
    params = {"w": jnp.zeros(5), "b": jnp.zeros(())}
    opt = fo.lbfgs(
        learning_rate=fo.linear_schedule(1.0, 0.5, 10),
        memory_size=4,
        linesearch=fo.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True),
    )
    calls = []

    def f(p):
        calls.append(1)  # counts traces: the loop below must compile once
        return logistic(p)

    value_and_grad = fo.value_and_grad_from_state(f)

    @jax.jit
    def step(p, s):
        v, g = value_and_grad(p, state=s)
        u, s = opt.update(g, s, p, value=v, grad=g, value_fn=f)
        return fo.apply_updates(p, u), s, v

    s = opt.init(params)
    layout = jax.tree.map(lambda x: (x.shape, x.dtype), s)
    values = []
    for _ in range(8):
        params, s, v = step(params, s)
        values.append(float(v))
        assert jax.tree.map(lambda x: (x.shape, x.dtype), s) == layout
    n_traces = len(calls)
    step(params, s)
    assert len(calls) == n_traces  # no retrace
    assert all(b <= a for a, b in zip(values, values[1:]))  # Armijo: monotone
    assert values[-1] < 0.5 * values[0]
    assert s[0].count == 8 and s[1].count == 8


def test_value_and_grad_from_state_finds_and_reuses_the_line_search_value():
    f = lambda w: jnp.sum(w**2)  # noqa: E731
    w = jnp.array([1.0, 2.0])
    with pytest.raises(ValueError, match="value or gradient not found"):
        fo.value_and_grad_from_state(f)(w, state=fo.adam(1e-3).init(w))
    with pytest.raises(ValueError, match="value or gradient not found"):  # backtracking without store_grad
        fo.value_and_grad_from_state(f)(w, state=fo.scale_by_backtracking_linesearch(5).init(w))
    two = fo.chain(fo.scale_by_zoom_linesearch(5), fo.scale_by_zoom_linesearch(5))
    with pytest.raises(KeyError):
        fo.value_and_grad_from_state(f)(w, state=two.init(w))
    opt = fo.lbfgs()
    s = opt.init(w)
    v, g = fo.value_and_grad_from_state(f)(w, state=s)  # inf in the state: computed
    assert float(v) == 5.0
    u, s = opt.update(g, s, w, value=v, grad=g, value_fn=f)
    w = fo.apply_updates(w, u)
    v2, g2 = fo.value_and_grad_from_state(lambda w: jnp.asarray(-1.0))(w, state=s)  # reused, not called
    np.testing.assert_allclose(float(v2), float(f(w)), rtol=1e-6)
    np.testing.assert_allclose(g2, jax.grad(f)(w), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: fo.scale_by_lbfgs(memory_size=0), "memory_size"),
        (lambda: fo.lbfgs(memory_size=0), "memory_size"),
        (lambda: fo.lbfgs(learning_rate=-1.0), "learning_rate"),
        (lambda: fo.scale_by_zoom_linesearch(10, slope_rtol=0.0), "slope_rtol"),
        (lambda: fo.scale_by_zoom_linesearch(10, slope_rtol=1.5), "slope_rtol"),
        (lambda: fo.scale_by_zoom_linesearch(10, curv_rtol=1.0), "curv_rtol"),
        (lambda: fo.scale_by_zoom_linesearch(10, curv_rtol=-0.5), "curv_rtol"),
        (lambda: fo.scale_by_zoom_linesearch(10, slope_rtol=0.5, curv_rtol=0.4), "slope_rtol"),
        (lambda: fo.scale_by_zoom_linesearch(10, increase_factor=1.0), "increase_factor"),
        (lambda: fo.scale_by_zoom_linesearch(10, max_learning_rate=0.0), "max_learning_rate"),
        (lambda: fo.scale_by_zoom_linesearch(0), "max_linesearch_steps"),
        (lambda: fo.scale_by_zoom_linesearch(10, initial_guess_strategy="two"), "initial_guess_strategy"),
        (lambda: fo.scale_by_zoom_linesearch(10, stepsize_precision=-1.0), "stepsize_precision"),
        (lambda: fo.scale_by_backtracking_linesearch(10, decrease_factor=-0.5), "decrease_factor"),
        (lambda: fo.scale_by_backtracking_linesearch(10, decrease_factor=1.0), "decrease_factor"),
        (lambda: fo.scale_by_backtracking_linesearch(10, increase_factor=0.5), "increase_factor"),
        (lambda: fo.scale_by_backtracking_linesearch(10, slope_rtol=1.0), "slope_rtol"),
        (lambda: fo.scale_by_backtracking_linesearch(10, slope_rtol=-0.1), "slope_rtol"),
        (lambda: fo.scale_by_backtracking_linesearch(10, max_learning_rate=-1.0), "max_learning_rate"),
        (lambda: fo.scale_by_backtracking_linesearch(-1), "max_backtracking_steps"),
        (lambda: fo.scale_by_backtracking_linesearch(10, atol=-1.0), "atol"),
    ],
)
def test_bad_arguments_raise_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_curvature_condition_can_be_switched_off_and_increase_can_be_infinite():
    fo.scale_by_zoom_linesearch(10, curv_rtol=math.inf)
    fo.scale_by_backtracking_linesearch(10, increase_factor=math.inf)
    with pytest.raises(TypeError, match="value_fn"):
        t = fo.scale_by_zoom_linesearch(10)
        t.update(jnp.ones(2), t.init(jnp.ones(2)), jnp.ones(2), value=1.0, grad=jnp.ones(2))
