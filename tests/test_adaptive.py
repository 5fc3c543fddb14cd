"""The named optimizers of ``optimizers/adaptive.py``: documentation, defaults
that follow optax, eager validation and a quadratic that they all descend."""

import inspect

import jax
import jax.numpy as jnp
import pytest

import functional_opt as fo

NAMES = ["nadam", "nadamw", "radam", "amsgrad", "adamax", "adamaxw", "adabelief", "yogi"]
TRANSFORMS = ["scale_by_nadam", "scale_by_radam", "scale_by_amsgrad", "scale_by_adamax",
              "scale_by_belief", "scale_by_yogi"]
# our deliberate differences from optax's defaults (documented in the docstrings)
DEVIATIONS = {}


@pytest.mark.parametrize("name", NAMES + TRANSFORMS)
def test_documented(name):
    doc = inspect.getdoc(getattr(fo, name))
    for section in ("Args:", "Example:", "References:"):
        assert section in doc, f"{name} lacks {section}"
    assert name in fo.__all__


@pytest.mark.parametrize("name", NAMES + ["scale_by_radam", "scale_by_amsgrad", "scale_by_adamax",
                                          "scale_by_belief", "scale_by_yogi"])
def test_defaults_follow_optax(name):
    optax = pytest.importorskip("optax")
    ours = inspect.signature(getattr(fo, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    for arg, p in ours.items():
        if arg in theirs and theirs[arg].default is not inspect.Parameter.empty:
            expected = DEVIATIONS.get((name, arg), theirs[arg].default)
            assert p.default == expected, f"{name}({arg}=) default {p.default!r} != optax's {expected!r}"


@pytest.mark.parametrize("name", NAMES)
def test_validation_names_the_argument(name):
    with pytest.raises(ValueError, match="learning_rate"):
        getattr(fo, name)(-0.1)


@pytest.mark.parametrize("name", NAMES)
def test_descends_a_quadratic(name):
    opt = getattr(fo, name)(0.05)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}

    def loss(p):
        return jnp.sum(p["w"] ** 2)

    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(loss)(p), s, p)
        return (fo.apply_updates(p, u), s), None

    (final, _), _ = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), None, length=100))(params)
    assert float(loss(final)) < 0.25 * float(loss(params))
