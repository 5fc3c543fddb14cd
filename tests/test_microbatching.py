"""fo.microbatching (optax.microbatching): microbatch, micro_vmap, micro_grad, reshape_batch_axis, against
numpy/full-batch references and optax."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

mb = fo.microbatching
T = mb.AccumulationType
RNG = np.random.default_rng(2)
X = jnp.asarray(RNG.normal(size=(8, 3)), jnp.float32)
Y = jnp.asarray(RNG.normal(size=8), jnp.float32)
W = jnp.asarray(RNG.normal(size=3), jnp.float32)


def test_reshape_batch_axis_is_column_major_like_optax():
    x = np.arange(24).reshape(2, 12)
    got = mb.reshape_batch_axis(jnp.asarray(x), 3, axis=1)
    n = 12 // 3
    ref = np.stack([[x[:, i + n * j] for j in range(3)] for i in range(n)]).transpose(2, 0, 1)
    np.testing.assert_array_equal(got, ref)
    optax = pytest.importorskip("optax")
    np.testing.assert_array_equal(got, optax.microbatching.reshape_batch_axis(jnp.asarray(x), 3, axis=1))
    with pytest.raises(ValueError, match="microbatch_size"):
        mb.reshape_batch_axis(x, 0)


@pytest.mark.parametrize("size", [1, 4])
def test_microbatch_accumulators_equal_the_full_batch(size):
    def fun(x, y, *, scale):
        r = x @ W - y
        return {"sum": jnp.sum(r), "mean": jnp.mean(r * scale), "rows": r, "run": jnp.mean(r)}

    acc = {"sum": T.SUM, "mean": T.MEAN, "rows": T.CONCAT, "run": T.RUNNING_MEAN}
    f = jax.jit(fo.microbatch(fun, argnums=(0, 1), microbatch_size=size, accumulator=acc, argnames="scale"))
    got = f(X, Y, scale=jnp.full(8, 2.0))
    r = np.asarray(X, np.float64) @ np.asarray(W, np.float64) - np.asarray(Y, np.float64)
    ref = {"sum": r.sum(), "mean": 2 * r.mean(), "rows": r, "run": r.mean()}
    chex.assert_trees_all_close(got, ref, rtol=1e-5, atol=1e-5)
    optax = pytest.importorskip("optax")
    their_acc = {k: getattr(optax.microbatching.AccumulationType, v.name) for k, v in acc.items()}
    theirs = optax.microbatch(fun, argnums=(0, 1), microbatch_size=size, accumulator=their_acc, argnames="scale")
    chex.assert_trees_all_close(got, theirs(X, Y, scale=jnp.full(8, 2.0)), rtol=1e-6, atol=1e-6)


def test_microbatch_real_microbatches_and_errors():
    f = fo.microbatch(lambda x: jnp.mean(x), 0, 2, T.RUNNING_MEAN, num_real_microbatches=jnp.int32(2))
    x = jnp.arange(8.0)  # microbatches (column-major): [0, 4], [1, 5], [2, 6], [3, 7]
    np.testing.assert_allclose(f(x), np.mean([0, 4, 1, 5]))
    assert fo.microbatch(np.sum, 0, None) is np.sum
    with pytest.raises(ValueError, match="must be divisible by microbatch_size"):
        fo.microbatch(jnp.sum, 0, 3)(x)
    with pytest.raises(ValueError, match="one batch size"):
        fo.microbatch(lambda a, b: a.sum() + b.sum(), (0, 1), 2)(x, x[:4])
    with pytest.raises(ValueError, match="floating-point"):
        fo.microbatch(jnp.sum, 0, 2, T.MEAN)(jnp.arange(8))


def test_micro_vmap_is_vmap():
    got = mb.micro_vmap(lambda x, w: jnp.tanh(x @ w), in_axes=(0, None), microbatch_size=2)(X, W)
    chex.assert_trees_all_close(got, jax.vmap(lambda x: jnp.tanh(x @ W))(X), rtol=1e-6)
    mean = mb.micro_vmap(lambda x: x**2, microbatch_size=4, accumulator=T.MEAN)(X)
    chex.assert_trees_all_close(mean, np.mean(np.asarray(X) ** 2, axis=0), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="out_axes"):
        mb.micro_vmap(jnp.sin, out_axes=1)


def test_micro_grad_per_example_transform_matches_numpy_and_optax():
    def loss(w, x, y):
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    def clip(g):  # per-example clipping to norm 1 (DP-SGD)
        return g * jnp.minimum(1.0, 1.0 / jnp.linalg.norm(g))

    kw = dict(batch_argnums=(1, 2), accumulator=T.SUM, transform_fn=clip, metrics_fn=jnp.linalg.norm)
    g, aux = jax.jit(mb.micro_grad(loss, microbatch_size=4, **kw))(W, X, Y)
    x, y, w = (np.asarray(a, np.float64) for a in (X, Y, W))
    per = (x @ w - y)[:, None] * x  # per-example gradients
    norms = np.linalg.norm(per, axis=1)
    np.testing.assert_allclose(g, (per * np.minimum(1, 1 / norms)[:, None]).sum(0), rtol=1e-5)
    np.testing.assert_allclose(aux.metrics, norms, rtol=1e-5)
    np.testing.assert_allclose(aux.values, 0.5 * (x @ w - y) ** 2, rtol=1e-5)
    assert aux.aux is None and type(aux).__name__ == "Aux"
    optax = pytest.importorskip("optax")
    kw["accumulator"] = optax.microbatching.AccumulationType.SUM  # (ours takes optax's enum too)
    og, oaux = optax.microbatching.micro_grad(loss, microbatch_size=4, **kw)(W, X, Y)
    chex.assert_trees_all_close(mb.micro_grad(loss, microbatch_size=4, **kw)(W, X, Y)[0], g, rtol=1e-6)
    chex.assert_trees_all_close((g, aux.values, aux.metrics), (og, oaux.values, oaux.metrics), rtol=1e-6)
    # without a batch dimension, with aux
    g2, aux2 = mb.micro_grad(
        lambda w, x: (jnp.dot(x, w) ** 2, x[0]), has_aux=True, keep_batch_dim=False, accumulator=T.MEAN
    )(W, X)
    np.testing.assert_allclose(g2, (2 * (x @ w)[:, None] * x).mean(0), rtol=1e-5)
    np.testing.assert_allclose(aux2.aux, x[:, 0], rtol=1e-6)


def test_explicit_sharding_is_kept(devices8):
    """On an explicit-sharding mesh (4 of the 8 simulated devices of tests/conftest.py's child process) the batch
    axis stays sharded."""
    devices8.run(
        """
        import jax, jax.numpy as jnp
        from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
        import functional_opt as fo
        T = fo.microbatching.AccumulationType
        mesh = jax.make_mesh((4,), ("x",), axis_types=(AxisType.Explicit,), devices=jax.devices()[:4])
        with jax.set_mesh(mesh):
            x = jax.device_put(jnp.arange(16.0).reshape(8, 2), NamedSharding(mesh, P("x")))
            r = jax.jit(lambda x: fo.microbatching.reshape_batch_axis(x, 4))(x)
            assert str(jax.typeof(r)) == "float32[2,4@x,2]", jax.typeof(r)
            f = jax.jit(fo.microbatch(lambda x: (2 * x, x.sum()), 0, 4, (T.CONCAT, T.SUM)))
            rows, total = f(x)
            assert str(jax.typeof(rows)) == "float32[8@x,2]", jax.typeof(rows)
            assert bool((rows == 2 * x).all()) and float(total) == 120.0
        print("OK")
        """
    )
