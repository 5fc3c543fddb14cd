"""fo.projections: feasibility, idempotence, and the closest point against independent numpy/scipy solutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

pr = fo.projections
RNG = np.random.default_rng(1)
TREE = {"a": jnp.asarray(RNG.normal(size=(2, 3)), jnp.float32), "b": jnp.asarray(RNG.normal(size=4), jnp.float32)}


def flat(tree):
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(tree)])


def simplex_bisection(v, s):
    """Projection onto {p >= 0, sum p = s} by bisection on the threshold (float64, independent of sorting)."""
    lo, hi = v.min() - s, v.max()
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.maximum(v - tau, 0).sum() > s else (lo, tau)
    return np.maximum(v - (lo + hi) / 2, 0)


def test_simplex_and_l1_against_bisection():
    v = flat(TREE)
    for scale in (2.5,):
        p = flat(pr.projection_simplex(TREE, scale))
        np.testing.assert_allclose(p, simplex_bisection(v, scale), atol=1e-5)
        assert p.min() >= 0 and abs(p.sum() - scale) < 1e-5
        sphere = flat(pr.projection_l1_sphere(TREE, scale))
        np.testing.assert_allclose(sphere, np.sign(v) * simplex_bisection(np.abs(v), scale), atol=1e-5)
        ball = flat(pr.projection_l1_ball(TREE, scale))
        np.testing.assert_allclose(ball, sphere if np.abs(v).sum() > scale else v, atol=1e-5)
    inside = jax.tree.map(lambda x: 0.01 * x, TREE)
    np.testing.assert_allclose(flat(pr.projection_l1_ball(inside)), flat(inside), rtol=1e-6)


def test_closest_point_against_scipy_slsqp():
    """The l2-ball, l1-ball and halfspace projections minimise ||x - p||^2 over the set (scipy's constrained solver)."""
    optimize = pytest.importorskip("scipy.optimize")
    x = np.asarray(RNG.normal(size=5)) * 2
    a = np.asarray(RNG.normal(size=5))
    xj, aj = jnp.asarray(x, jnp.float32), jnp.asarray(a, jnp.float32)
    cases = [
        (pr.projection_l2_ball(xj, 1.5), {"type": "ineq", "fun": lambda p: 1.5**2 - p @ p}),
        (pr.projection_halfspace(xj, aj, -0.3), {"type": "ineq", "fun": lambda p: -0.3 - a @ p}),
        (pr.projection_hyperplane(xj, aj, 0.7), {"type": "eq", "fun": lambda p: a @ p - 0.7}),
    ]
    for got, constraint in cases:
        res = optimize.minimize(
            lambda p: ((p - x) ** 2).sum(), np.zeros(5), jac=lambda p: 2 * (p - x), constraints=[constraint], tol=1e-12
        )
        np.testing.assert_allclose(np.asarray(got, np.float64), res.x, atol=1e-4)


def test_box_like_sets():
    v = flat(TREE)
    np.testing.assert_allclose(flat(pr.projection_non_negative(TREE)), np.maximum(v, 0))
    np.testing.assert_allclose(flat(pr.projection_box(TREE, -0.5, 0.25)), np.clip(v, -0.5, 0.25))
    lower = jax.tree.map(lambda x: jnp.full_like(x, -0.1), TREE)
    upper = jax.tree.map(lambda x: jnp.full_like(x, 0.3), TREE)
    np.testing.assert_allclose(flat(pr.projection_box(TREE, lower, upper)), np.clip(v, -0.1, 0.3))
    np.testing.assert_allclose(flat(pr.projection_hypercube(TREE, 0.5)), np.clip(v, 0, 0.5))
    np.testing.assert_allclose(flat(pr.projection_linf_ball(TREE, 0.5)), np.clip(v, -0.5, 0.5))


def test_l2_sphere_vector_and_idempotence():
    v = flat(TREE)
    np.testing.assert_allclose(flat(pr.projection_l2_sphere(TREE, 2.0)), 2 * v / np.linalg.norm(v), rtol=1e-6)
    np.testing.assert_allclose(flat(pr.projection_l2_ball(TREE, 0.5)), 0.5 * v / np.linalg.norm(v), rtol=1e-6)
    a = jax.tree.map(jnp.ones_like, TREE)
    np.testing.assert_allclose(flat(pr.projection_vector(TREE, a)), np.full(v.size, v.mean()), rtol=1e-5, atol=1e-6)
    once = {
        "simplex": pr.projection_simplex(TREE),
        "l1_ball": pr.projection_l1_ball(TREE, 0.7),
        "l2_ball": pr.projection_l2_ball(TREE, 0.7),
        "linf_ball": pr.projection_linf_ball(TREE, 0.7),
        "hyperplane": pr.projection_hyperplane(TREE, a, 1.0),
        "halfspace": pr.projection_halfspace(TREE, a, -1.0),
    }
    twice = {
        "simplex": pr.projection_simplex(once["simplex"]),
        "l1_ball": pr.projection_l1_ball(once["l1_ball"], 0.7),
        "l2_ball": pr.projection_l2_ball(once["l2_ball"], 0.7),
        "linf_ball": pr.projection_linf_ball(once["linf_ball"], 0.7),
        "hyperplane": pr.projection_hyperplane(once["hyperplane"], a, 1.0),
        "halfspace": pr.projection_halfspace(once["halfspace"], a, -1.0),
    }
    for name in once:
        np.testing.assert_allclose(flat(twice[name]), flat(once[name]), atol=2e-6, err_msg=name)
    assert abs(flat(once["hyperplane"]).sum() - 1.0) < 1e-5 and flat(once["halfspace"]).sum() <= -1.0 + 1e-5


def test_simplex_jvp_against_finite_differences_and_optax():
    v = jnp.asarray([0.3, 1.2, -0.4, 0.9], jnp.float32)
    jac = jax.jacobian(pr.projection_simplex)(v)
    eps = 1e-3
    proj = jax.jit(jax.vmap(pr.projection_simplex))
    steps = eps * np.eye(4, dtype=np.float32)
    fd = ((np.asarray(proj(v + steps)) - np.asarray(proj(v - steps))) / (2 * eps)).T
    np.testing.assert_allclose(jac, fd, atol=1e-2)
    optax = pytest.importorskip("optax")
    np.testing.assert_allclose(jac, jax.jacobian(optax.projections.projection_simplex)(v), atol=1e-6)
