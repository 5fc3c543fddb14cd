"""batch_norm against a float64 numpy reference (values, running stats, gradients) and torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.test_losses import fd_grad

RNG = np.random.default_rng(4)


def ref_train(x, scale, offset, mean, var, momentum, eps, axis):
    """Float64 batch norm in training; running variance unbiased (torch's convention)."""
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    n = x.size // x.shape[axis]
    mu = x.mean(axes)
    var_b = ((x - mu.reshape(shape)) ** 2).mean(axes)
    y = (x - mu.reshape(shape)) / np.sqrt(var_b.reshape(shape) + eps) * scale.reshape(shape) + offset.reshape(shape)
    new_mean = momentum * mean + (1 - momentum) * mu
    new_var = momentum * var + (1 - momentum) * var_b * n / (n - 1)
    return y, new_mean, new_var


def case(shape, axis):
    f = shape[axis]
    x = RNG.normal(size=shape) * 2 + 1
    scale = RNG.uniform(0.5, 1.5, size=f)
    offset = RNG.normal(size=f)
    mean = RNG.normal(size=f)
    var = RNG.uniform(0.5, 2.0, size=f)
    return x, scale, offset, mean, var


def j(*xs):
    return [jnp.asarray(x, jnp.float32) for x in xs]


@pytest.mark.parametrize("shape,axis", [((8, 3), -1), ((4, 3, 5), 1)])
def test_training_and_eval_against_numpy(shape, axis):
    x, scale, offset, mean, var = case(shape, axis)
    params = {"scale": jnp.asarray(scale, jnp.float32), "offset": jnp.asarray(offset, jnp.float32)}
    stats = fo.BatchNormStats(*j(mean, var))
    y, new = fo.batch_norm(params, stats, jnp.asarray(x, jnp.float32), training=True, momentum=0.8, eps=1e-3, axis=axis)
    ry, rm, rv = ref_train(x, scale, offset, mean, var, 0.8, 1e-3, axis)
    np.testing.assert_allclose(np.asarray(y), ry, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(new.mean), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(new.var), rv, rtol=1e-5)
    # evaluation: the running statistics, unchanged
    ye, same = fo.batch_norm(params, new, jnp.asarray(x, jnp.float32), training=False, eps=1e-3, axis=axis)
    bshape = [1] * x.ndim
    bshape[axis] = x.shape[axis]
    ref_e = (x - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-3) * scale.reshape(bshape) + offset.reshape(
        bshape
    )
    np.testing.assert_allclose(np.asarray(ye), ref_e, rtol=1e-5, atol=1e-5)
    assert same is new


def test_gradients_through_batch_statistics():
    x, scale, offset, mean, var = case((6, 3), -1)
    w = RNG.normal(size=x.shape)
    stats = fo.BatchNormStats(*j(mean, var))

    def ours(x, scale, offset):
        y, _ = fo.batch_norm({"scale": scale, "offset": offset}, stats, x, training=True, eps=1e-2)
        return jnp.sum(y * w)

    gx, gs, go = jax.grad(ours, argnums=(0, 1, 2))(*j(x, scale, offset))
    ref = lambda x_, s_, o_: np.sum(ref_train(x_, s_, o_, mean, var, 0.9, 1e-2, -1)[0] * w)
    np.testing.assert_allclose(np.asarray(gx), fd_grad(lambda v: ref(v, scale, offset), x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gs), fd_grad(lambda v: ref(x, v, offset), scale), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(go), fd_grad(lambda v: ref(x, scale, v), offset), rtol=1e-4, atol=1e-5)
    # the batch statistics matter: the gradient is not the per-element one of a fixed normalization
    xhat_only = np.asarray(scale) / np.sqrt(x.var(0) + 1e-2) * w
    assert np.max(np.abs(np.asarray(gx) - xhat_only)) > 1e-2
    # the per-feature gradient sums to 0 (shifting a feature's batch does not change y)
    np.testing.assert_allclose(np.asarray(gx).sum(0), 0.0, atol=1e-5)


def test_against_torch():
    torch = pytest.importorskip("torch")
    x, scale, offset, mean, var = case((5, 4, 3), 1)
    params = {"scale": jnp.asarray(scale, jnp.float32), "offset": jnp.asarray(offset, jnp.float32)}
    stats = fo.BatchNormStats(*j(mean, var))
    rm, rv = torch.tensor(mean), torch.tensor(var)
    ty = torch.nn.functional.batch_norm(
        torch.tensor(x), rm, rv, torch.tensor(scale), torch.tensor(offset), training=True, momentum=0.1, eps=1e-5
    )
    y, new = fo.batch_norm(params, stats, jnp.asarray(x, jnp.float32), training=True, momentum=0.9, axis=1)
    np.testing.assert_allclose(np.asarray(y), ty.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(new.mean), rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(new.var), rv.numpy(), rtol=1e-5)


def test_init_dtypes_jit_and_validation():
    params, stats = fo.batch_norm_init(3)
    assert params["scale"].dtype == jnp.float32 and stats.var.tolist() == [1.0, 1.0, 1.0]
    x = jnp.asarray(RNG.normal(size=(16, 3)), jnp.bfloat16)
    step = jax.jit(lambda p, s, x, m: fo.batch_norm(p, s, x, training=True, momentum=m))
    y, new = step(params, stats, x, jnp.float32(0.5))
    assert y.dtype == jnp.bfloat16 and new.mean.dtype == jnp.float32
    _, new2 = step(params, stats, x, jnp.float32(0.5))
    assert step._cache_size() == 1
    xf = np.asarray(x, np.float64)
    np.testing.assert_allclose(np.asarray(new.mean), 0.5 * xf.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(y, np.float64), (xf - xf.mean(0)) / np.sqrt(xf.var(0) + 1e-5), atol=4e-2)
    with pytest.raises(ValueError, match="at least 2"):
        fo.batch_norm(params, stats, jnp.ones((1, 3)), training=True)
    with pytest.raises(TypeError, match="training"):
        fo.batch_norm(params, stats, x, training=1)
    with pytest.raises(ValueError, match="momentum"):
        fo.batch_norm(params, stats, x, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="shape"):
        fo.batch_norm(params, stats, jnp.ones((4, 5)), training=True)
    with pytest.raises(ValueError, match="num_features"):
        fo.batch_norm_init(0)


def test_axis_name_uses_the_whole_batch_statistics():
    """Shards under a named vmap (as pmap/shard_map devices) equal one call on the whole batch."""
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(size=(4, 3, 5)), jnp.float32)  # 4 shards of 3 examples, 5 features
    params, stats = fo.batch_norm_init(5)
    params = {"scale": jnp.linspace(0.5, 1.5, 5), "offset": jnp.linspace(-1.0, 1.0, 5)}

    def sharded(p, xs):
        y, s = jax.vmap(lambda xi: fo.batch_norm(p, stats, xi, training=True, axis_name="batch"), axis_name="batch")(xs)
        return y, s

    y_sh, s_sh = sharded(params, x)
    y_all, s_all = fo.batch_norm(params, stats, x.reshape(12, 5), training=True)
    np.testing.assert_allclose(np.asarray(y_sh).reshape(12, 5), np.asarray(y_all), rtol=1e-5, atol=1e-6)
    for i in range(4):  # every shard holds the same, global running statistics
        np.testing.assert_allclose(np.asarray(s_sh.mean[i]), np.asarray(s_all.mean), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.asarray(s_sh.var[i]), np.asarray(s_all.var), rtol=1e-5)
    # gradients through the global statistics
    g_sh = jax.grad(lambda p: jnp.sum(sharded(p, x)[0] ** 3))(params)
    g_all = jax.grad(lambda p: jnp.sum(fo.batch_norm(p, stats, x.reshape(12, 5), training=True)[0] ** 3))(params)
    np.testing.assert_allclose(np.asarray(g_sh["scale"]), np.asarray(g_all["scale"]), rtol=1e-4, atol=1e-5)
    gx_sh = jax.grad(lambda xs: jnp.sum(sharded(params, xs)[0] ** 3))(x)
    gx_all = jax.grad(lambda xs: jnp.sum(fo.batch_norm(params, stats, xs, training=True)[0] ** 3))(x.reshape(12, 5))
    np.testing.assert_allclose(np.asarray(gx_sh).reshape(12, 5), np.asarray(gx_all), rtol=1e-4, atol=1e-5)
