"""fo.assignment against scipy.optimize.linear_sum_assignment (and optax's order); fo.perturbations against optax
and the closed-form smoothed function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(4)
SHAPES = [(5, 5), (3, 6), (6, 2)]


@pytest.mark.parametrize("name", ["hungarian_algorithm", "base_hungarian_algorithm"])
def test_optimal_cost_against_scipy(name):
    optimize = pytest.importorskip("scipy.optimize")
    solve = jax.jit(getattr(fo.assignment, name))
    for shape in SHAPES:
        cost = RNG.normal(size=shape).astype(np.float32)
        i, j = solve(cost)
        r, c = optimize.linear_sum_assignment(cost)
        assert len(i) == len(j) == min(shape)
        assert len(set(np.asarray(i).tolist())) == len(i) and len(set(np.asarray(j).tolist())) == len(j)
        np.testing.assert_allclose(cost[i, j].sum(), cost[r, c].sum(), rtol=1e-5, atol=1e-5)
        # continuous random costs: the optimum is unique, so the pairs are scipy's
        assert sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist())) == sorted(zip(r.tolist(), c.tolist()))


def test_pair_order_matches_optax_and_empty_input():
    square, wide, tall = (RNG.normal(size=shape).astype(np.float32) for shape in [(4, 4), (3, 5), (5, 3)])
    assert np.array_equal(fo.assignment.hungarian_algorithm(square)[1], np.arange(4))  # by column
    assert np.all(np.diff(np.asarray(fo.assignment.hungarian_algorithm(wide)[0])) < 0)  # by decreasing row
    assert np.all(np.diff(np.asarray(fo.assignment.hungarian_algorithm(tall)[1])) < 0)  # by decreasing column
    assert np.all(np.diff(np.asarray(fo.assignment.base_hungarian_algorithm(tall)[0])) > 0)  # by row
    optax = pytest.importorskip("optax")
    ours, theirs = fo.assignment.hungarian_algorithm(tall), optax.assignment.hungarian_algorithm(jnp.asarray(tall))
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    i, j = fo.assignment.hungarian_algorithm(jnp.zeros((0, 3)))
    assert i.shape == j.shape == (0,)
    i, j = fo.assignment.base_hungarian_algorithm(np.asarray([[1, 2], [2, 4]], np.int32))  # integer costs
    assert int(np.asarray([[1, 2], [2, 4]])[i, j].sum()) == 4


def test_batched_with_vmap():
    costs = RNG.normal(size=(3, 4, 4)).astype(np.float32)
    i, j = jax.vmap(fo.assignment.hungarian_algorithm)(costs)
    for b in range(3):
        optimize = pytest.importorskip("scipy.optimize")
        r, c = optimize.linear_sum_assignment(costs[b])
        np.testing.assert_allclose(costs[b][i[b], j[b]].sum(), costs[b][r, c].sum(), rtol=1e-5)


def test_perturbed_relu_sum_against_the_closed_form():
    """f(x) = sum(max(x, 0)) smoothed by N(0, s^2): E = s*phi(x/s) + x*Phi(x/s), gradient Phi(x/s)."""
    stats = pytest.importorskip("scipy.stats")
    s = 0.5
    x = jnp.asarray([-0.4, 0.0, 0.3], jnp.float32)
    g = fo.perturbations.make_perturbed_fun(lambda t: jnp.maximum(t, 0.0), 4000, s, fo.perturbations.Normal())
    x64 = np.asarray(x, np.float64)
    want = s * stats.norm.pdf(x64 / s) + x64 * stats.norm.cdf(x64 / s)

    def total(t):
        out = g(jax.random.key(0), t)
        return jnp.sum(out), out

    (_, value), grad = jax.value_and_grad(total, has_aux=True)(x)
    np.testing.assert_allclose(value, want, atol=0.03)
    np.testing.assert_allclose(grad, stats.norm.cdf(x64 / s), atol=0.08)


def test_perturbed_fun_same_as_optax():
    optax = pytest.importorskip("optax")

    def f(t):
        return {"s": jnp.sum(jnp.maximum(t["a"], 0.0)) + jnp.max(t["b"])}

    x = {"a": jnp.asarray([0.05, -0.1, 0.2]), "b": jnp.asarray([0.3, 0.1])}
    for ours, theirs, baseline in [(fo.perturbations.Gumbel(), optax.perturbations.Gumbel(), True)]:
        g = fo.perturbations.make_perturbed_fun(f, 64, 0.2, ours, baseline)
        h = optax.perturbations.make_perturbed_fun(f, 64, 0.2, theirs, baseline)
        key = jax.random.key(2)
        va, ga = jax.value_and_grad(lambda t, g=g, key=key: g(key, t)["s"])(x)
        vb, gb = jax.value_and_grad(lambda t, h=h, key=key: h(key, t)["s"])(x)
        np.testing.assert_allclose(va, vb, rtol=1e-6)
        for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
