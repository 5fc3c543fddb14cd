"""Classification losses against float64 numpy references, finite differences and optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.test_losses import fd_grad

RNG = np.random.default_rng(1)
Z = RNG.normal(size=(4, 6)) * 3
Y_INT = np.array([0, 5, 2, 3])
Y_PROB = RNG.dirichlet(np.ones(6), size=4)
EXTREME = np.array([[1e4, -1e4, 0.0, 5.0, -1e4, 1e4], [-1e4, -1e4, -1e4, -1e4, -1e4, 1e4]])


def ref_log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def ref_softplus(x):
    return np.logaddexp(0.0, x)


def ref_bce(z, y):
    return y * ref_softplus(-z) + (1 - y) * ref_softplus(z)


def ref_focal(z, y, alpha, gamma):
    # 1 - p_t, with p = 1 / (1 + exp(-z)) evaluated without cancellation in float64
    with np.errstate(over="ignore"):  # exp(1e4) = inf gives the exact limit 0
        one_minus_pt = y / (1 + np.exp(z)) + (1 - y) / (1 + np.exp(-z))
    w = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return w * one_minus_pt**gamma * ref_bce(z, y)


def f32(x):
    return jnp.asarray(x, jnp.float32)


def test_softmax_cross_entropy_values_grads_extremes():
    out = fo.softmax_cross_entropy(f32(Z), f32(Y_PROB))
    np.testing.assert_allclose(np.asarray(out), -(Y_PROB * ref_log_softmax(Z)).sum(-1), rtol=1e-5)
    w = RNG.normal(size=4)
    g = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy(z, f32(Y_PROB)) * w))(f32(Z))
    fd = fd_grad(lambda z: np.sum(-(Y_PROB * ref_log_softmax(z)).sum(-1) * w), Z)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-4, atol=1e-5)
    y = np.eye(6)[[3, 0]]
    ext = fo.softmax_cross_entropy(f32(EXTREME), f32(y))
    np.testing.assert_allclose(np.asarray(ext), -(y * ref_log_softmax(EXTREME)).sum(-1), rtol=1e-6)
    ge = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy(z, f32(y))))(f32(EXTREME))
    soft = np.exp(ref_log_softmax(EXTREME))
    np.testing.assert_allclose(np.asarray(ge), soft - y, atol=1e-6)


def test_softmax_cross_entropy_where():
    cls = np.array([True, True, False, True, True, False])
    out = fo.softmax_cross_entropy(f32(Z), f32(Y_PROB), where=jnp.asarray(np.broadcast_to(cls, Z.shape)))
    ref = -(Y_PROB[:, cls] * ref_log_softmax(Z[:, cls])).sum(-1)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5)
    ex = np.array([True, False, True, False])
    out = fo.softmax_cross_entropy(f32(Z), f32(Y_PROB), where=jnp.asarray(ex))
    np.testing.assert_allclose(np.asarray(out), np.where(ex, -(Y_PROB * ref_log_softmax(Z)).sum(-1), 0.0), rtol=1e-5)
    g = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy(z, f32(Y_PROB), where=jnp.asarray(ex))))(f32(Z))
    assert bool(jnp.all(jnp.isfinite(g))) and bool(jnp.all(g[~ex] == 0))


def ref_int_ce(z, y):
    return -np.take_along_axis(ref_log_softmax(z), y[:, None], -1)[:, 0]


def test_integer_labels_values_grads_extremes():
    out = fo.softmax_cross_entropy_with_integer_labels(f32(Z), jnp.asarray(Y_INT))
    np.testing.assert_allclose(np.asarray(out), ref_int_ce(Z, Y_INT), rtol=1e-5)
    w = RNG.normal(size=4)
    g = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(Y_INT)) * w))(f32(Z))
    np.testing.assert_allclose(
        np.asarray(g), fd_grad(lambda z: np.sum(ref_int_ce(z, Y_INT) * w), Z), rtol=1e-4, atol=1e-5
    )
    y = np.array([1, 0])  # 2e4 + log 2 and 2e4 nats: finite and exact
    ext = fo.softmax_cross_entropy_with_integer_labels(f32(EXTREME), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(ext), ref_int_ce(EXTREME, y), rtol=1e-6)
    ge = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(y))))(f32(EXTREME))
    np.testing.assert_allclose(np.asarray(ge), np.exp(ref_log_softmax(EXTREME)) - np.eye(6)[y], atol=1e-6)
    # class axis first
    out0 = fo.softmax_cross_entropy_with_integer_labels(f32(Z.T), jnp.asarray(Y_INT), axis=0)
    np.testing.assert_allclose(np.asarray(out0), ref_int_ce(Z, Y_INT), rtol=1e-5)


def test_integer_labels_ignore_where_and_out_of_range():
    y = np.array([0, -100, 2, 3])
    out = fo.softmax_cross_entropy_with_integer_labels(f32(Z), jnp.asarray(y), ignore_index=-100)
    ref = ref_int_ce(Z, np.where(y < 0, 0, y))
    np.testing.assert_allclose(np.asarray(out), np.where(y < 0, 0.0, ref), rtol=1e-5)
    g = jax.grad(lambda z: jnp.sum(fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(y), ignore_index=-100)))(
        f32(Z)
    )
    assert bool(jnp.all(g[1] == 0)) and bool(jnp.all(jnp.isfinite(g)))
    cls = np.array([True, True, True, True, False, True])
    out = fo.softmax_cross_entropy_with_integer_labels(
        f32(Z), jnp.asarray(Y_INT), where=jnp.asarray(np.broadcast_to(cls, Z.shape))
    )
    lse = np.log(np.exp(Z[:, cls]).sum(-1))
    np.testing.assert_allclose(np.asarray(out), lse - Z[np.arange(4), Y_INT], rtol=1e-5)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 6\)"):
        fo.softmax_cross_entropy_with_integer_labels(f32(Z), np.array([0, 6, 1, 1]))
    with pytest.raises(ValueError, match="labels must be in"):
        fo.softmax_cross_entropy_with_integer_labels(f32(Z), jnp.array([0, -1, 1, 1]))
    with pytest.raises(TypeError, match="integer"):
        fo.softmax_cross_entropy_with_integer_labels(f32(Z), jnp.zeros(4))
    traced = jax.jit(fo.softmax_cross_entropy_with_integer_labels)(f32(Z), jnp.array([0, 6, -1, 1]))
    assert np.isnan(np.asarray(traced)).tolist() == [False, True, True, False]


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_logits(dtype):
    z = jnp.asarray(EXTREME, dtype)
    y = np.array([1, 0])
    out = fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(y))
    assert out.dtype == dtype
    np.testing.assert_allclose(np.asarray(out, np.float64), ref_int_ce(np.asarray(z, np.float64), y), rtol=1e-2)
    g = jax.grad(
        lambda z: jnp.sum(fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(y)).astype(jnp.float32))
    )(z)
    assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g)))
    zb = jnp.asarray(Z, dtype)
    for ours, ref in [
        (
            fo.softmax_cross_entropy(zb, jnp.asarray(Y_PROB, dtype)),
            -(np.asarray(jnp.asarray(Y_PROB, dtype), np.float64) * ref_log_softmax(np.asarray(zb, np.float64))).sum(-1),
        ),
        (fo.sigmoid_binary_cross_entropy(z, jnp.ones_like(z)), ref_bce(np.asarray(z, np.float64), 1.0)),
        (fo.sigmoid_focal_loss(z, jnp.zeros_like(z), gamma=0.5), ref_focal(np.asarray(z, np.float64), 0.0, None, 0.5)),
    ]:
        assert ours.dtype == dtype
        np.testing.assert_allclose(np.asarray(ours, np.float64), ref, rtol=1e-2, atol=1e-2)


def test_sigmoid_bce_and_focal():
    y = (RNG.uniform(size=Z.shape) < 0.5).astype(np.float64)
    y_soft = RNG.uniform(size=Z.shape)
    for labels in (y, y_soft):
        np.testing.assert_allclose(
            np.asarray(fo.sigmoid_binary_cross_entropy(f32(Z), f32(labels))), ref_bce(Z, labels), rtol=1e-5, atol=1e-6
        )
        for alpha, gamma in [(None, 2.0), (0.25, 2.0), (0.7, 0.5), (None, 0.0)]:
            out = fo.sigmoid_focal_loss(f32(Z), f32(labels), alpha=alpha, gamma=gamma)
            np.testing.assert_allclose(np.asarray(out), ref_focal(Z, labels, alpha, gamma), rtol=1e-5, atol=1e-7)
    w = RNG.normal(size=Z.shape)
    g = jax.grad(lambda z: jnp.sum(fo.sigmoid_binary_cross_entropy(z, f32(y)) * w))(f32(Z))
    np.testing.assert_allclose(np.asarray(g), fd_grad(lambda z: np.sum(ref_bce(z, y) * w), Z), rtol=1e-4, atol=1e-5)
    g = jax.grad(lambda z: jnp.sum(fo.sigmoid_focal_loss(z, f32(y_soft), alpha=0.25) * w))(f32(Z))
    np.testing.assert_allclose(
        np.asarray(g), fd_grad(lambda z: np.sum(ref_focal(z, y_soft, 0.25, 2.0) * w), Z), rtol=1e-4, atol=1e-5
    )
    # extremes: exact values, finite gradients (gamma < 1 included)
    e = EXTREME.ravel()
    lab = (np.arange(e.size) % 2).astype(np.float64)
    np.testing.assert_allclose(
        np.asarray(fo.sigmoid_binary_cross_entropy(f32(e), f32(lab))), ref_bce(e, lab), rtol=1e-6
    )
    for gamma in (0.5, 2.0):
        out = fo.sigmoid_focal_loss(f32(e), f32(lab), gamma=gamma)
        np.testing.assert_allclose(np.asarray(out), ref_focal(e, lab, None, gamma), rtol=1e-6)
        g = jax.grad(lambda z, gamma=gamma: jnp.sum(fo.sigmoid_focal_loss(z, f32(lab), gamma=gamma)))(f32(e))
        assert bool(jnp.all(jnp.isfinite(g)))
    gb = jax.grad(lambda z: jnp.sum(fo.sigmoid_binary_cross_entropy(z, f32(lab))))(f32(e))
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(np.asarray(gb), 1 / (1 + np.exp(-e)) - lab, atol=1e-7)


def test_hinge_kl_smooth_labels():
    t = np.sign(RNG.normal(size=Z.shape))
    np.testing.assert_allclose(np.asarray(fo.hinge_loss(f32(Z), f32(t))), np.maximum(0, 1 - t * Z), rtol=1e-6)
    q = RNG.dirichlet(np.ones(6), size=4)
    p = Y_PROB.copy()
    p[0, :2] = 0.0
    p /= p.sum(-1, keepdims=True)
    ref = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - np.log(q)), 0.0).sum(-1)
    out = fo.kl_divergence(f32(np.log(q)), f32(p))
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)
    g = jax.grad(lambda lq, t: jnp.sum(fo.kl_divergence(lq, t)), argnums=(0, 1))(f32(np.log(q)), f32(p))
    np.testing.assert_allclose(np.asarray(g[0]), -p, atol=1e-7)
    assert bool(jnp.all(jnp.isfinite(g[1])))
    s = fo.smooth_labels(f32(np.eye(5)[[1, 3]]), 0.1)
    np.testing.assert_allclose(np.asarray(s), 0.9 * np.eye(5)[[1, 3]] + 0.02, rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        fo.smooth_labels(jnp.ones(3), 1.5)
    with pytest.raises(ValueError, match="gamma"):
        fo.sigmoid_focal_loss(jnp.ones(3), jnp.ones(3), gamma=-1.0)


def test_against_optax():
    optax = pytest.importorskip("optax")
    ol = optax.losses
    z = f32(Z)
    y = (RNG.uniform(size=Z.shape) < 0.5).astype(np.float32)
    t = np.sign(RNG.normal(size=Z.shape)).astype(np.float32)
    lq = jax.nn.log_softmax(f32(RNG.normal(size=Z.shape)))
    pairs = [
        (fo.softmax_cross_entropy(z, f32(Y_PROB)), ol.softmax_cross_entropy(z, f32(Y_PROB))),
        (
            fo.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(Y_INT)),
            ol.softmax_cross_entropy_with_integer_labels(z, jnp.asarray(Y_INT)),
        ),
        (fo.sigmoid_binary_cross_entropy(z, y), ol.sigmoid_binary_cross_entropy(z, y)),
        (fo.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2.0), ol.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2.0)),
        (fo.hinge_loss(z, t), ol.hinge_loss(z, t)),
        (fo.kl_divergence(lq, f32(Y_PROB)), ol.kl_divergence(lq, f32(Y_PROB))),
        (fo.smooth_labels(f32(Y_PROB), 0.1), ol.smooth_labels(f32(Y_PROB), 0.1)),
    ]
    for ours, theirs in pairs:
        chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_against_torch():
    torch = pytest.importorskip("torch")
    z = torch.tensor(Z)
    ours = fo.softmax_cross_entropy_with_integer_labels(
        f32(Z), jnp.asarray(np.array([0, -100, 2, 3])), ignore_index=-100
    )
    theirs = torch.nn.functional.cross_entropy(z, torch.tensor([0, -100, 2, 3]), reduction="none", ignore_index=-100)
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-5)
    y = (RNG.uniform(size=Z.shape) < 0.5).astype(np.float64)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(y), reduction="none")
    np.testing.assert_allclose(
        np.asarray(fo.sigmoid_binary_cross_entropy(f32(Z), f32(y))), theirs.numpy(), rtol=1e-5, atol=1e-6
    )


def test_integer_labels_tuple_axis_matches_flattened_and_optax():
    rng = np.random.default_rng(21)
    logits = jnp.asarray(rng.normal(size=(2, 3, 5, 4)), jnp.float32)  # batch (2, 5), classes (3, 4)
    ix, jx = rng.integers(0, 3, size=(2, 5)), rng.integers(0, 4, size=(2, 5))
    labels = jnp.asarray(np.ravel_multi_index((ix, jx), (3, 4)))
    got = fo.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(1, 3))
    z = np.asarray(logits, np.float64).transpose(0, 2, 1, 3).reshape(2, 5, 12)
    want = np.log(np.sum(np.exp(z), axis=-1)) - np.take_along_axis(z, np.asarray(labels)[..., None], -1)[..., 0]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # the axes' order decides the flattening: (3, 1) flattens classes as (4, 3)
    labels_t = jnp.asarray(np.ravel_multi_index((jx, ix), (4, 3)))
    np.testing.assert_allclose(
        fo.softmax_cross_entropy_with_integer_labels(logits, labels_t, axis=(3, 1)), want, rtol=1e-5
    )
    with pytest.raises(ValueError, match="repeat"):
        fo.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(1, -3))
    optax = pytest.importorskip("optax")
    ref = optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(1, 3))
    np.testing.assert_allclose(got, ref, rtol=1e-5)
