"""Extra arguments (``value=loss``) through combinators, in both directions between optax and functional_opt."""

from __future__ import annotations

import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

P = {"w": jnp.array([1.0, -2.0, 0.5])}
G = {"w": jnp.array([0.3, -0.1, 0.2])}


def _plain(scale):
    """A transform whose update takes no extra arguments (the optax-style plain update)."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: scale * g, updates), state

    return fo.GradientTransformation(fo.init_empty_state, update)


def _needs_value():
    """A transform whose update requires ``value=`` (keyword-only): it returns ``value * g``."""

    def update(updates, state, params=None, *, value, **extra_args):
        del extra_args
        return jax.tree.map(lambda g: value * g, updates), state

    return fo.GradientTransformation(fo.init_empty_state, update)


def test_types_say_whether_extra_args_are_taken():
    assert type(_plain(1.0)) is fo.GradientTransformation
    assert isinstance(_needs_value(), fo.GradientTransformationExtraArgs)
    for t in (fo.adam(0.1), fo.chain(fo.scale(1.0)), fo.masked(fo.scale(1.0), True), fo.identity()):
        assert isinstance(t, fo.GradientTransformationExtraArgs), t
    wrapped = fo.with_extra_args_support(_plain(2.0))
    assert isinstance(wrapped, fo.GradientTransformationExtraArgs)
    assert fo.with_extra_args_support(wrapped) is wrapped
    np.testing.assert_allclose(wrapped.update(G, wrapped.init(P), value=1.0, other=2)[0]["w"], 2 * G["w"])


@pytest.mark.parametrize(
    "combine",
    [
        pytest.param(lambda a, b: fo.chain(a, b), id="chain"),
        pytest.param(lambda a, b: fo.chain(fo.masked(a, {"w": True}), fo.partition({"x": b}, "x")), id="masked"),
        pytest.param(lambda a, b: fo.chain(fo.freeze(False, a), b), id="freeze"),
        pytest.param(lambda a, b: fo.lookahead(fo.chain(a, b), 5, 0.5), id="lookahead"),
        pytest.param(lambda a, b: fo.inject_hyperparams(lambda s: fo.chain(_plain(s), b))(s=3.0), id="inject"),
    ],
)
def test_combinators_forward_extra_args_only_to_members_that_take_them(combine):
    t = combine(_plain(3.0), _needs_value())
    u, _ = t.update(G, t.init(P), P, value=jnp.asarray(0.5), unused=1)
    np.testing.assert_allclose(u["w"], 1.5 * G["w"], rtol=1e-6)


def test_named_extra_args_are_passed_to_a_plain_update_that_names_them():
    seen = {}

    def update(updates, state, params=None, value=None):
        seen["value"] = value
        return updates, state

    t = fo.chain(fo.GradientTransformation(fo.init_empty_state, update))
    t.update(G, t.init(P), P, value=4.0, other=1)
    assert seen == {"value": 4.0}


def test_train_step_passes_value_only_when_taken():
    loss = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731
    for opt in (fo.chain(_plain(-0.1)), fo.polyak_sgd(1.0)):
        step = fo.make_train_step(loss, opt, donate=False)
        params, _, value = step(P, opt.init(P))
        np.testing.assert_allclose(value, float(jnp.sum(P["w"] ** 2)))


# ---------------------------------------------------------------------------------------------------------------
# optax in both directions


def test_ours_chains_optax_plain_transforms_with_extra_args():
    optax = pytest.importorskip("optax")
    ours = fo.chain(optax.scale_by_adam(), fo.scale_by_learning_rate(0.1))
    ref = optax.chain(optax.scale_by_adam(), optax.scale(-0.1))
    u, _ = ours.update(G, ours.init(P), P, value=1.0)
    u_ref, _ = ref.update(G, ref.init(P), P)
    chex.assert_trees_all_close(u, u_ref, rtol=1e-6)
    part = fo.partition({"a": optax.sgd(0.1), "b": fo.polyak_sgd(1.0)}, {"w": "a"})
    u, _ = part.update(G, part.init(P), P, value=1.0)
    chex.assert_trees_all_close(u, jax.tree.map(lambda g: -0.1 * g, G), rtol=1e-6)


def test_optax_recognises_ours_and_passes_extra_args():
    optax = pytest.importorskip("optax")
    assert isinstance(fo.adam(1e-3), optax.GradientTransformationExtraArgs)
    assert not isinstance(_plain(1.0), optax.GradientTransformationExtraArgs)
    assert isinstance(_plain(1.0), optax.GradientTransformation)

    # reduce_on_plateau needs value=: inside optax.chain it must see the losses and cut the scale
    ours = optax.chain(fo.sgd(1.0), fo.reduce_on_plateau(factor=0.5, patience=1))
    ref = optax.chain(optax.sgd(1.0), optax.contrib.reduce_on_plateau(factor=0.5, patience=1))
    s, s_ref = ours.init(P), ref.init(P)
    for v in (1.0, 2.0, 3.0, 4.0):
        u, s = ours.update(G, s, P, value=jnp.asarray(v))
        u_ref, s_ref = ref.update(G, s_ref, P, value=jnp.asarray(v))
    assert float(s[1].scale) < 1.0
    np.testing.assert_allclose(float(s[1].scale), float(s_ref[1].scale))
    chex.assert_trees_all_close(u, u_ref, rtol=1e-6)


def test_optax_multisteps_runs_our_polyak_sgd():
    optax = pytest.importorskip("optax")
    ours = optax.MultiSteps(fo.polyak_sgd(max_learning_rate=1.0), every_k_schedule=2)
    ref = optax.MultiSteps(optax.polyak_sgd(max_learning_rate=1.0), every_k_schedule=2)
    s, s_ref = ours.init(P), ref.init(P)
    for k in range(4):
        g = jax.tree.map(lambda x, k=k: x * (k + 1), G)
        u, s = ours.update(g, s, P, value=jnp.asarray(2.0))
        u_ref, s_ref = ref.update(g, s_ref, P, value=jnp.asarray(2.0))
        chex.assert_trees_all_close(u, u_ref, rtol=1e-6)
    assert float(jnp.abs(u["w"]).sum()) > 0


def test_optax_inject_hyperparams_and_masked_give_value_to_ours():
    optax = pytest.importorskip("optax")
    t = optax.masked(_needs_value(), {"w": True})
    u, _ = t.update(G, t.init(P), P, value=jnp.asarray(2.0))
    np.testing.assert_allclose(u["w"], 2 * G["w"])
    ours = optax.inject_hyperparams(fo.polyak_sgd)(max_learning_rate=0.5)
    ref = optax.inject_hyperparams(optax.polyak_sgd)(max_learning_rate=0.5)
    u, _ = ours.update(G, ours.init(P), P, value=jnp.asarray(0.01))
    u_ref, _ = ref.update(G, ref.init(P), P, value=jnp.asarray(0.01))
    chex.assert_trees_all_close(u, u_ref, rtol=1e-6)
    assert float(jnp.abs(u["w"]).max()) < 0.5 * float(jnp.abs(G["w"]).max())  # the value was used


def test_without_optax_the_types_still_work():
    """In a process where optax cannot be imported, our types are plain NamedTuples and chains still filter."""
    code = (
        "import sys; sys.modules['optax'] = None\n"
        "import jax.numpy as jnp, functional_opt as fo\n"
        "plain = fo.GradientTransformation(fo.init_empty_state, lambda u, s, p=None: (u, s))\n"
        "c = fo.chain(plain, fo.polyak_sgd(1.0))\n"
        "u, _ = c.update(jnp.ones(2), c.init(jnp.ones(2)), jnp.ones(2), value=jnp.asarray(1.0))\n"
        "assert [k.__module__ for k in type(fo.adam(0.1)).__mro__][:3] == ['functional_opt.base'] * 3\n"
        "assert 'optax' not in [k.__module__.split('.')[0] for k in type(fo.adam(0.1)).__mro__]\n"
        "print(float(u[0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 0


def test_every_wrapper_passes_extra_args_only_to_members_that_take_them():
    """value= given to a wrapper around a plain optax transform reaches it only if it accepts it."""
    optax = pytest.importorskip("optax")
    p = {"w": jnp.ones(2)}
    g = {"w": jnp.ones(2)}
    wrapped = {
        "named_chain": fo.named_chain(("a", optax.scale(0.5)), ("b", fo.sgd(0.1))),
        "multi_steps": fo.multi_steps(optax.sgd(0.1), every_k=1),
        "apply_if_finite": fo.apply_if_finite(optax.sgd(0.1), 2),
        "skip_loss_spikes": fo.skip_loss_spikes(optax.sgd(0.1)),
        "per_layer": fo.per_layer(optax.sgd(0.1), stacked={"w": False}),
        "per_leaf": fo.flat.per_leaf(optax.sgd(0.1)),
        "sam": fo.sam(optax.sgd(0.1)),
    }
    expected = {"named_chain": -0.05}
    for name, t in wrapped.items():
        extra = {"grad_fn": lambda w: g} if name == "sam" else {}
        u, _ = t.update(g, t.init(p), p, value=1.0, **extra)
        assert np.allclose(u["w"], expected.get(name, -0.1)), name
