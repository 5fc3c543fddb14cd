"""make_train_step: numbers against a numpy reference, donation, flat mode, value=loss."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 1.5], [1.0, 0.0, 1.0]])
B = np.array([1.0, -2.0, 0.5, 0.25])


def loss(p, a, b):
    r = a @ p["w"] + p["c"] - b
    return 0.5 * jnp.sum(r**2)


def reference_sgd(steps, lr, momentum):
    """Gradient descent with heavy-ball momentum on the same loss, in numpy float64."""
    w, c = np.zeros(3), np.array(0.5)
    vw, vc = np.zeros(3), np.array(0.0)
    for _ in range(steps):
        r = A @ w + c - B
        gw, gc = A.T @ r, r.sum()
        vw, vc = momentum * vw + gw, momentum * vc + gc
        w, c = w - lr * vw, c - lr * vc
    return {"w": w, "c": c}


def _params():
    return {"w": jnp.zeros(3), "c": jnp.asarray(0.5)}


def test_matches_numpy_reference_and_donates():
    opt = fo.sgd(0.05, momentum=0.9)
    step = fo.make_train_step(loss, opt)
    p, s = _params(), opt.init(_params())
    a, b = jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32)
    for _ in range(12):
        old = p["w"]
        p, s, value = step(p, s, a, b)
    assert old.is_deleted()  # donated
    chex.assert_trees_all_close(p, reference_sgd(12, 0.05, 0.9), rtol=1e-5, atol=1e-6)
    assert value.shape == ()


def test_no_donation_keeps_inputs():
    opt = fo.sgd(0.05)
    step = fo.make_train_step(loss, opt, donate=False)
    p = _params()
    p2, _, _ = step(p, opt.init(p), jnp.asarray(A), jnp.asarray(B))
    assert not p["w"].is_deleted()
    chex.assert_trees_all_close(p2, reference_sgd(1, 0.05, 0.0), rtol=1e-5, atol=1e-6)


def test_has_aux_and_flat_params_give_tree_numbers():
    def loss_aux(p, a, b):
        value = loss(p, a, b)
        return value, {"twice": 2 * value}

    opt = fo.adam(0.05)
    a, b = jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32)
    step = fo.make_train_step(loss_aux, opt, has_aux=True)
    p, s = _params(), opt.init(_params())
    fl = fo.flat.flatten_params(_params())
    fs = opt.init(fl)
    for _ in range(8):
        p, s, v, aux = step(p, s, a, b)
        fl, fs, fv, faux = step(fl, fs, a, b)
    np.testing.assert_allclose(aux["twice"], 2 * v, rtol=1e-6)
    assert isinstance(fl, fo.flat.FlatParams)
    chex.assert_trees_all_close(fl.unflatten(), p, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fv, v, rtol=1e-6)


def test_value_is_passed_to_updates_that_accept_it():
    seen = []

    def update(updates, state, params=None, value=None, **extra):
        seen.append(value)
        return jax.tree.map(lambda g: -0.0 * g * value, updates), state

    opt = fo.GradientTransformation(lambda p: fo.EmptyState(), update)
    step = fo.make_train_step(loss, opt, donate=False)
    _, _, value = step(_params(), fo.EmptyState(), jnp.asarray(A), jnp.asarray(B))
    assert len(seen) == 1 and seen[0] is not None


def test_plain_optax_optimizer_without_extra_args():
    optax = pytest.importorskip("optax")
    opt = optax.sgd(0.05, momentum=0.9)
    step = fo.make_train_step(loss, opt)
    p, s = _params(), opt.init(_params())
    for _ in range(5):
        p, s, _ = step(p, s, jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32))
    chex.assert_trees_all_close(p, reference_sgd(5, 0.05, 0.9), rtol=1e-5, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(TypeError, match="loss_fn"):
        fo.make_train_step(3, fo.sgd(0.1))
    with pytest.raises(TypeError, match="optimizer"):
        fo.make_train_step(loss, object())
