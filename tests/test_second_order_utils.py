"""fo.second_order: hvp, hessian_diag and fisher_diag against jax.hessian / jax.grad on a tiny model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import flatten_util

import functional_opt as fo

so = fo.second_order
RNG = np.random.default_rng(2)
PARAMS = {"w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "b": jnp.asarray(RNG.normal(size=2), jnp.float32)}
X = jnp.asarray(RNG.normal(size=(5, 3)), jnp.float32)
Y = jnp.asarray(RNG.integers(0, 2, size=5))


def loss(params, inputs, targets):
    logits = jnp.tanh(inputs @ params["w"] + params["b"])
    return -jnp.sum(jax.nn.log_softmax(logits)[jnp.arange(targets.shape[0]), targets])


@jax.jit
def full_hessian():
    flat, unravel = flatten_util.ravel_pytree(PARAMS)
    return jax.hessian(lambda f: loss(unravel(f), X, Y))(flat)


hvp = jax.jit(so.hvp, static_argnums=0)
hessian_diag = jax.jit(so.hessian_diag, static_argnums=0)


def test_hvp_and_diag_against_the_full_hessian():
    h = np.asarray(full_hessian(), np.float64)
    v = RNG.normal(size=h.shape[0]).astype(np.float32)
    got = hvp(loss, jnp.asarray(v), PARAMS, X, Y)
    assert jax.tree.structure(got) == jax.tree.structure(PARAMS)
    np.testing.assert_allclose(flatten_util.ravel_pytree(got)[0], h @ v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hessian_diag(loss, PARAMS, X, Y), np.diag(h), rtol=1e-4, atol=1e-5)


def test_fisher_diag_is_the_squared_gradient():
    g = flatten_util.ravel_pytree(jax.grad(loss)(PARAMS, X, Y))[0]
    np.testing.assert_allclose(so.fisher_diag(loss, PARAMS, X, Y), np.asarray(g, np.float64) ** 2, rtol=1e-5)


def test_same_as_optax():
    optax = pytest.importorskip("optax")
    import warnings

    v = jnp.ones(8)
    with warnings.catch_warnings():  # optax deprecates these (0.2.7); ours do not warn
        warnings.simplefilter("ignore")
        want = jax.jit(optax.second_order.hessian_diag, static_argnums=0)(loss, PARAMS, X, Y)
        want_hvp = jax.jit(optax.second_order.hvp, static_argnums=0)(loss, v, PARAMS, X, Y)
    np.testing.assert_allclose(hessian_diag(loss, PARAMS, X, Y), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        flatten_util.ravel_pytree(hvp(loss, v, PARAMS, X, Y))[0], flatten_util.ravel_pytree(want_hvp)[0], rtol=1e-5
    )
