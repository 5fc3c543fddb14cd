"""Adagrad, Adadelta, SM3, Rprop, the sign methods, noisy and Polyak SGD,
NovoGrad and Fromage: documentation, defaults that follow optax (and the
documented exceptions), validation, descent on a quadratic."""

import inspect

import jax
import jax.numpy as jnp
import pytest

import functional_opt as fo

NAMES = ["adagrad", "adadelta", "rprop", "sign_sgd", "signum", "noisy_sgd", "polyak_sgd", "novograd", "fromage", "sm3"]
TRANSFORMS = [
    "scale_by_rss",
    "scale_by_adadelta",
    "scale_by_rprop",
    "scale_by_sign",
    "add_noise",
    "scale_by_polyak",
    "scale_by_novograd",
    "scale_by_fromage",
    "scale_by_sm3",
]
# deliberate, documented differences from optax's defaults
DEVIATIONS = {("adadelta", "learning_rate"): 1.0}


@pytest.mark.parametrize("name", NAMES + TRANSFORMS)
def test_documented(name):
    doc = inspect.getdoc(getattr(fo, name))
    for section in ("Examples:", "References:"):
        assert section in doc, f"{name} lacks {section}"
    assert name in fo.__all__


@pytest.mark.parametrize(
    "name",
    NAMES
    + [
        "scale_by_rss",
        "scale_by_adadelta",
        "scale_by_rprop",
        "add_noise",
        "scale_by_polyak",
        "scale_by_novograd",
        "scale_by_sm3",
    ],
)
def test_defaults_follow_optax(name):
    optax = pytest.importorskip("optax")
    ours = inspect.signature(getattr(fo, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    for arg, p in ours.items():
        if arg in theirs and theirs[arg].default is not inspect.Parameter.empty:
            expected = DEVIATIONS.get((name, arg), theirs[arg].default)
            assert p.default == expected, f"{name}({arg}=) default {p.default!r} != {expected!r}"


def test_adadelta_default_rate_is_the_papers():
    assert inspect.signature(fo.adadelta).parameters["learning_rate"].default == 1.0


@pytest.mark.parametrize(
    "name", ["adagrad", "adadelta", "sign_sgd", "signum", "noisy_sgd", "novograd", "fromage", "sm3", "rprop"]
)
def test_validation_names_the_argument(name):
    with pytest.raises(ValueError, match="learning_rate"):
        getattr(fo, name)(-0.1)


@pytest.mark.parametrize("name", NAMES)
def test_descends_a_quadratic(name):
    lr = {"adadelta": 1.0, "polyak_sgd": 1.0, "rprop": 0.01, "noisy_sgd": 0.02}.get(name, 0.05)
    opt = fo.polyak_sgd() if name == "polyak_sgd" else getattr(fo, name)(lr)
    params = {"w": jnp.array([1.0, -2.0, 3.0]), "m": jnp.array([[0.5, -1.0], [2.0, 1.5]])}

    def loss(p):
        return jnp.sum(p["w"] ** 2) + jnp.sum(p["m"] ** 2)

    def body(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = opt.update(g, s, p, value=value)
        return (fo.apply_updates(p, u), s), None

    steps = 300 if name == "adadelta" else 100
    (final, _), _ = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), None, length=steps))(params)
    assert float(loss(final)) < 0.5 * float(loss(params)), name
