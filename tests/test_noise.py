"""Annealed gradient noise: variance schedule, determinism, optax's stream."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U


def test_noise_variance_follows_schedule():
    eta, gamma, n = 0.3, 0.55, 20000
    t = fo.add_noise(eta, gamma, key=3)
    s = t.init(jnp.zeros(n))
    step = jax.jit(t.update)
    for count in range(1, 4):
        u, s = step(jnp.zeros(n), s)
        var = float(jnp.var(u))
        expected = eta / count**gamma  # the paper's eta / (1 + t)**gamma, t from 0
        assert abs(var - expected) < 0.05 * expected
        assert abs(float(jnp.mean(u))) < 4 * np.sqrt(expected / n)


def test_independent_leaves_and_steps():
    t = fo.add_noise(1.0, 0.0, key=0)
    g = {"a": jnp.zeros(4), "b": jnp.zeros(4)}
    u1, s = t.update(g, t.init(g))
    u2, _ = t.update(g, s)
    assert not np.allclose(u1["a"], u1["b"]) and not np.allclose(u1["a"], u2["a"])


def test_key_forms_and_zero_eta():
    g = jnp.ones(3)
    a = fo.add_noise(1.0, 0.5, key=7)
    b = fo.add_noise(1.0, 0.5, key=jax.random.PRNGKey(7))
    c = fo.add_noise(1.0, 0.5, key=jax.random.key(7))
    outs = [t.update(g, t.init(g))[0] for t in (a, b, c)]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    assert fo.add_noise(0.0, 0.5).init(g).rng_key.dtype == jnp.uint32
    z = fo.add_noise(0.0, 0.5)
    np.testing.assert_array_equal(z.update(g, z.init(g))[0], g)


def test_golden_noisy_sgd():
    """numpy float64 trajectory p <- p - lr (g + sigma_t z_t); z_t drawn from the documented key stream."""
    lr, eta, gamma, seed = 0.05, 0.1, 0.55, 42
    key = jax.random.PRNGKey(seed)
    draws = []
    for _ in range(12):
        key, sample = jax.random.split(key)
        leaf_keys = jax.random.split(sample, 3)  # leaves in tree order: "m", "s", "v"
        draws.append(
            {
                k: np.asarray(jax.random.normal(lk, np.shape(U.params0()[k])), np.float64)
                for k, lk in zip(sorted(U.KEYS), leaf_keys)
            }
        )

    def step(p, g, t):
        sigma = np.sqrt(eta / t**gamma)
        return {k: p[k] - lr * (g[k] + sigma * draws[t - 1][k]) for k in U.KEYS}

    U.assert_close(U.run_noisy(fo.noisy_sgd(lr, eta=eta, gamma=gamma, key=seed), 12), U.run_reference(step, 12))


def test_noisy_sgd_matches_optax():
    optax = pytest.importorskip("optax")
    ours = U.run_noisy(fo.noisy_sgd(0.05, eta=0.1, key=42), 50)
    theirs = U.run_noisy(optax.noisy_sgd(0.05, eta=0.1, key=42), 50)
    U.assert_close(ours, theirs)


def test_validation():
    with pytest.raises(ValueError, match="eta"):
        fo.add_noise(-1.0, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        fo.noisy_sgd(0.1, gamma=-0.5)


def test_seed_is_optax_deprecated_alias_of_key():
    g = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    with pytest.warns(DeprecationWarning, match="seed"):
        t_seed = fo.noisy_sgd(0.1, seed=7)
    t_key = fo.noisy_sgd(0.1, key=7)
    u1, _ = t_seed.update(g, t_seed.init(g))
    u2, _ = t_key.update(g, t_key.init(g))
    chex.assert_trees_all_equal(u1, u2)
    # key=None is seed 0
    t0, tn = fo.add_noise(key=0), fo.add_noise()
    chex.assert_trees_all_equal(t0.update(g, t0.init(g))[0], tn.update(g, tn.init(g))[0])
    with pytest.raises(ValueError, match="seed"), pytest.warns(DeprecationWarning):
        fo.add_noise(key=1, seed=2)
    optax = pytest.importorskip("optax")
    with pytest.warns(DeprecationWarning):
        ref = optax.noisy_sgd(0.1, seed=7)
    chex.assert_trees_all_close(u1, ref.update(g, ref.init(g))[0], rtol=1e-6)
