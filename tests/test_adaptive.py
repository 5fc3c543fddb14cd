"""Adam's relatives (NAdam, RAdam, AMSGrad, AdaMax, AdaBelief, Yogi): documentation,
defaults that follow optax, eager validation and a quadratic that they all
descend; and, for every named optimizer, the docstring's shape and optax's
prefix masks."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

NAMES = ["nadam", "nadamw", "radam", "amsgrad", "adamax", "adamaxw", "adabelief", "yogi"]
TRANSFORMS = [
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_amsgrad",
    "scale_by_adamax",
    "scale_by_belief",
    "scale_by_yogi",
]
# our deliberate differences from optax's defaults (documented in the docstrings)
DEVIATIONS = {}


@pytest.mark.parametrize("name", NAMES + TRANSFORMS)
def test_documented(name):
    doc = inspect.getdoc(getattr(fo, name))
    for section in ("Args:", "Examples:", "References:"):
        assert section in doc, f"{name} lacks {section}"
    assert name in fo.__all__


@pytest.mark.parametrize(
    "name", NAMES + ["scale_by_radam", "scale_by_amsgrad", "scale_by_adamax", "scale_by_belief", "scale_by_yogi"]
)
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


# Every named optimizer whose module is ``functional_opt/optimizers/{sgd, rmsprop, adagrad, rprop,
# adam, adam_variants, lion, layerwise, muon, second_order}.py``.
ALL = [
    "gradient_descent",
    "momentum",
    "sgd",
    "sign_sgd",
    "signum",
    "noisy_sgd",
    "polyak_sgd",
    "rmsprop",
    "adagrad",
    "adadelta",
    "sm3",
    "rprop",
    "adam",
    "adamw",
    "nadam",
    "nadamw",
    "amsgrad",
    "adamax",
    "adamaxw",
    "radam",
    "adabelief",
    "yogi",
    "adan",
    "ademamix",
    "adopt",
    "lion",
    "lars",
    "lamb",
    "novograd",
    "fromage",
    "muon",
    "shampoo",
    "sophia",
]


@pytest.mark.parametrize("name", ALL)
def test_docstring_gives_the_chain_not_citations(name):
    doc = inspect.getdoc(getattr(fo, name))
    assert "chain(" in doc or "partition(" in doc, f"{name}: the docstring does not say what it expands to"
    for section in ("Args:", "Examples:", "References:"):
        assert section in doc, f"{name} lacks {section}"
    for unreadable in ("tutorial", "issue "):
        assert unreadable not in doc.lower(), f"{name} cites {unreadable!r}"


def _sq_loss(p):
    return sum(jnp.sum(x**2) for x in jax.tree.leaves(p))


# name -> (builder(mask), the mask argument); weight decay large enough to show
MASKED = {
    "adamw": lambda m: fo.adamw(0.1, weight_decay=0.5, mask=m),
    "nadamw": lambda m: fo.nadamw(0.1, weight_decay=0.5, mask=m),
    "adamaxw": lambda m: fo.adamaxw(0.1, weight_decay=0.5, mask=m),
    "adadelta": lambda m: fo.adadelta(1.0, weight_decay=0.5, weight_decay_mask=m),
    "lion": lambda m: fo.lion(0.1, weight_decay=0.5, mask=m),
    "lamb": lambda m: fo.lamb(0.1, weight_decay=0.5, mask=m),
    "lars_decay": lambda m: fo.lars(0.1, weight_decay=0.5, weight_decay_mask=m),
    "lars_trust": lambda m: fo.lars(0.1, trust_coefficient=0.5, trust_ratio_mask=m),
    "adan": lambda m: fo.adan(0.1, weight_decay=0.5, mask=m),
    "ademamix": lambda m: fo.ademamix(0.1, weight_decay=0.5, mask=m),
    "sophia": lambda m: fo.sophia(0.1, weight_decay=0.5, weight_decay_mask=m),
    "muon": lambda m: fo.muon(0.1, muon_mask=m),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_prefix_mask_equals_full_mask(name):
    p = {
        "enc": {"w": jnp.array([[2.0, -1.0, 0.5], [1.0, 3.0, -2.0]]), "b": jnp.ones(3)},
        "head": jnp.full((3, 2), -1.0),
    }
    g = {"enc": {"w": jnp.array([[0.5, 0.1, -0.3], [0.2, -0.4, 0.6]]), "b": jnp.full(3, -0.5)}, "head": jnp.eye(3, 2)}
    prefix = {"enc": False, "head": True}
    full = {"enc": {"w": False, "b": False}, "head": True}
    callable_mask = lambda tree: jax.tree.map(lambda x: x.shape == (3, 2), tree)  # noqa: E731

    def step(mask):
        opt = MASKED[name](mask)
        u, _ = opt.update(g, opt.init(p), p, obj_fn=_sq_loss)
        return u

    u = step(prefix)
    chex.assert_trees_all_close(u, step(full))
    chex.assert_trees_all_close(u, step(callable_mask))
    everything = step(True) if name != "muon" else step(None)
    assert not np.allclose(u["enc"]["w"], everything["enc"]["w"]), "the mask had no effect"
    chex.assert_trees_all_close(u["head"], everything["head"])
