"""Top-level numerics (safe_norm, safe_increment, power_iteration, matrix_inverse_pth_root, nnls, ...)
against numpy float64 and scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

RNG = np.random.default_rng(3)


def test_safe_norm_and_rms_values_and_zero_gradients():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(fo.safe_norm(x, 1e-6), np.linalg.norm(x.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(
        fo.safe_norm(x, 1.0, axis=1, keepdims=True), np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1.0)
    )
    np.testing.assert_allclose(fo.safe_norm(x, 0.0, ord=1, axis=0), np.abs(x).sum(0), rtol=1e-6)
    assert float(fo.safe_norm(jnp.zeros(3), 0.5)) == 0.5
    np.testing.assert_array_equal(jax.grad(lambda v: fo.safe_norm(v, 1e-3))(jnp.zeros(3)), np.zeros(3))
    np.testing.assert_allclose(jax.grad(lambda v: fo.safe_norm(v, 0.0))(jnp.asarray([3.0, 4.0])), [0.6, 0.8])
    z = (RNG.normal(size=5) + 1j * RNG.normal(size=5)).astype(np.complex64)
    np.testing.assert_allclose(fo.safe_root_mean_squares(z, 0.0), np.sqrt(np.mean(np.abs(z) ** 2)), rtol=1e-6)
    assert float(fo.safe_root_mean_squares(jnp.zeros(3), 0.25)) == 0.25
    np.testing.assert_array_equal(jax.grad(lambda v: fo.safe_root_mean_squares(v, 1e-3))(jnp.zeros(3)), np.zeros(3))


def test_safe_increment_saturates_for_each_dtype():
    for dt in (jnp.int32, jnp.int8, jnp.uint8, jnp.uint32):
        top = int(jnp.iinfo(dt).max)
        out = fo.safe_increment(jnp.asarray(top, dt))
        assert int(out) == top and out.dtype == dt
        assert int(fo.safe_int32_increment(jnp.asarray(top - 1, dt))) == top
    assert fo.safe_increment(jnp.asarray(1.5, jnp.float32)) == 2.5
    with pytest.raises(ValueError, match="dtype"):
        fo.safe_increment(jnp.asarray(True))


def test_incremental_and_periodic_update():
    new, old = {"w": jnp.asarray([1.0, 2.0]), "n": None}, {"w": jnp.asarray([3.0, -2.0]), "n": None}
    out = fo.incremental_update(new, old, 0.25)
    np.testing.assert_allclose(out["w"], 0.25 * np.array([1.0, 2.0]) + 0.75 * np.array([3.0, -2.0]))
    assert out["n"] is None
    periodic = jax.jit(fo.periodic_update)
    for step in range(5):
        want = new if step % 3 == 0 else old
        np.testing.assert_array_equal(periodic(new, old, step, 3)["w"], want["w"])


def test_power_iteration_on_a_matrix_and_a_tree_operator():
    a = RNG.normal(size=(6, 6))
    a = a @ a.T  # symmetric PSD: a unique dominant eigenvalue
    lam, v = fo.power_iteration(jnp.asarray(a, jnp.float32), num_iters=500, error_tolerance=1e-7)
    w, vecs = np.linalg.eigh(a)
    np.testing.assert_allclose(float(lam), w[-1], rtol=1e-4)
    np.testing.assert_allclose(abs(np.asarray(v, np.float64) @ vecs[:, -1]), 1.0, rtol=1e-4)
    diag = {"x": jnp.asarray([1.0, 5.0]), "y": jnp.asarray([2.0])}  # a diagonal operator on a tree
    lam, v = fo.power_iteration(lambda t: jax.tree.map(jnp.multiply, diag, t), v0=jax.tree.map(jnp.ones_like, diag))
    assert abs(float(lam) - 5.0) < 1e-4 and abs(abs(float(v["x"][1])) - 1.0) < 1e-3
    with pytest.raises(ValueError, match="v0"):
        fo.power_iteration(lambda t: t)


def test_matrix_inverse_pth_root_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    a = RNG.normal(size=(5, 5))
    a = a @ a.T + 0.5 * np.eye(5)
    for p in (2, 4):
        root, err = fo.matrix_inverse_pth_root(jnp.asarray(a, jnp.float32), p, ridge_epsilon=0.0)
        want = np.real(linalg.fractional_matrix_power(a, -1.0 / p))
        np.testing.assert_allclose(np.asarray(root, np.float64), want, rtol=2e-3, atol=2e-4)
        assert float(err) < 1e-3
    eps = 1e-2
    root, _ = fo.matrix_inverse_pth_root(jnp.asarray(a, jnp.float32), 2, ridge_epsilon=eps)
    damped = a + eps * np.linalg.eigvalsh(a).max() * np.eye(5)
    np.testing.assert_allclose(root, np.real(linalg.fractional_matrix_power(damped, -0.5)), rtol=2e-3, atol=2e-4)


def test_nnls_against_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    a = RNG.normal(size=(8, 4))
    b = RNG.normal(size=8)
    want, _ = optimize.nnls(a, b)
    got = fo.nnls(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), 2000)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, atol=2e-4)
    b2 = RNG.normal(size=(8, 2))  # several right-hand sides at once
    got2 = fo.nnls(jnp.asarray(a, jnp.float32), jnp.asarray(b2, jnp.float32), 2000)
    for k in range(2):
        np.testing.assert_allclose(np.asarray(got2[:, k], np.float64), optimize.nnls(a, b2[:, k])[0], atol=2e-4)


def test_multi_normal_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    loc, log_scale = np.array([0.5, -1.0]), np.array([0.1, -0.3])
    dist = fo.multi_normal(jnp.asarray(loc, jnp.float32), jnp.asarray(log_scale, jnp.float32))
    x = RNG.normal(size=(3, 2))
    want = stats.norm.logpdf(x, loc, np.exp(log_scale)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(x, jnp.float32)), want, rtol=1e-5)
    samples = np.asarray(dist.sample((4000,), jax.random.key(0)), np.float64)
    assert samples.shape == (4000, 2)
    np.testing.assert_allclose(samples.mean(0), loc, atol=0.06)
    np.testing.assert_allclose(samples.std(0), np.exp(log_scale), rtol=0.06)
    assert [np.asarray(p).tolist() for p in dist.params] == [np.float32(loc).tolist(), np.float32(log_scale).tolist()]
