"""Regression tests for what a new user hit: injected masks, NNX paths, current hyperparameters,
validated set_hyperparam, checkpoint integer casts and messages."""

from __future__ import annotations

import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import checkpoint
from functional_opt.wrappers.hyperparams import current_hyperparams


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.linspace(0.1, 0.4, 4)}


def _grads(p, k):
    return jax.tree.map(lambda x: (0.1 + 0.05 * k) * x + 0.03, p)


def _mask(tree):
    return jax.tree.map(lambda x: jnp.ndim(x) > 1, tree)


def _sched(count):
    return 0.01 / (1.0 + count)


def _sq_loss(p):
    return sum(jnp.sum(jnp.square(x - 0.1)) for x in jax.tree.leaves(p))


# every public factory with a mask or labels argument that takes optimizer hyperparameters:
# keyword arguments giving a function for each such argument, plus update keywords
MASKED = {
    "acprop": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "adadelta": (dict(learning_rate=_sched, weight_decay=0.1, weight_decay_mask=_mask), {}),
    "adafactor": (dict(learning_rate=_sched, weight_decay_rate=0.1, weight_decay_mask=_mask), {}),
    "adamaxw": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "adamw": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "adamw8bit": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask, min_size=0), {}),
    "adan": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "add_decayed_weights": (dict(weight_decay=0.1, mask=_mask), {}),
    "ademamix": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "lamb": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "cocob": (dict(learning_rate=1.0, weight_decay=0.1, mask=_mask), {}),
    "dog": (dict(learning_rate=1.0, weight_decay=0.1, mask=_mask), {}),
    "dowg": (dict(learning_rate=1.0, weight_decay=0.1, mask=_mask), {}),
    "galore": (dict(learning_rate=_sched, rank=1, weight_decay=0.1, mask=_mask), {}),
    "lars": (dict(learning_rate=_sched, weight_decay=0.1, weight_decay_mask=_mask, trust_ratio_mask=_mask), {}),
    "lion": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "lion8bit": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask, min_size=0), {}),
    "muon": (dict(learning_rate=_sched, muon_mask=_mask), {}),
    "nadamw": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "prox_l1": (dict(learning_rate=_sched, l1=0.1, mask=_mask), {}),
    "scale_by_trust_ratio": (dict(mask=_mask), {}),
    "simplified_ademamix": (dict(learning_rate=_sched, weight_decay=0.1, mask=_mask), {}),
    "sophia": (dict(learning_rate=_sched, weight_decay=0.1, weight_decay_mask=_mask), {"obj_fn": _sq_loss}),
}
# wrappers (the mask is their structure) and penalty functions of the params
NOT_HYPERPARAMETER_FACTORIES = {
    "masked",
    "freeze",
    "partition",
    "multi_transform",
    "selective_transform",
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
}


def _masked_factories():
    out = set()
    for name in fo.__all__:
        f = getattr(fo, name)
        if isinstance(f, type) or not callable(f):
            continue
        try:
            params = inspect.signature(f).parameters
        except (TypeError, ValueError):
            continue
        if any("mask" in a for a in params) and name not in NOT_HYPERPARAMETER_FACTORIES:
            out.add(name)
    return out


def test_the_table_covers_every_factory_with_a_mask_argument():
    assert _masked_factories() <= set(MASKED), _masked_factories() - set(MASKED)


@pytest.mark.parametrize("name", sorted(MASKED))
def test_inject_hyperparams_keeps_masks_static_and_matches_the_plain_optimizer(name):
    kwargs, extra = MASKED[name]
    factory = getattr(fo, name)
    plain, injected = factory(**kwargs), fo.inject_hyperparams(factory)(**kwargs)
    p = _params()
    s_plain, s_inj = plain.init(p), injected.init(p)
    for k in range(3):
        g = _grads(p, k)
        u_plain, s_plain = plain.update(g, s_plain, p, **extra)
        u_inj, s_inj = injected.update(g, s_inj, p, **extra)
        # float32 hyperparameter arrays instead of Python floats: rounding only (muon's
        # Newton-Schulz iteration amplifies it to ~1e-4 relative)
        atol = 1e-6 if name == "muon" else 1e-8
        for a, b in zip(jax.tree.leaves(u_plain), jax.tree.leaves(u_inj)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol)
    assert not any("mask" in k for k in s_inj.hyperparams)


def test_inject_hyperparams_adamw_with_a_schedule_weight_decay_and_mask_function():
    sched = fo.linear_schedule(1e-2, 0.0, 10)
    opt = fo.inject_hyperparams(fo.adamw)(learning_rate=sched, weight_decay=0.1, mask=_mask)
    s = opt.init(_params())
    assert set(s.hyperparams) == {"learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"}
    # function-valued arguments with a function default stay static too (adopt's clip_value_fn)
    s = fo.inject_hyperparams(fo.adopt)(learning_rate=1e-3).init(_params())
    assert "clip_value_fn" not in s.hyperparams
    # and a structural int (muon's ns_steps) is not turned into a float array
    s = fo.inject_hyperparams(fo.muon)(learning_rate=1e-3, ns_steps=3).init(_params())
    assert "ns_steps" not in s.hyperparams


# --- flax NNX paths (mimicked with plain dicts: each variable's array under a "value" key) ---


def _nnx_like():
    return {
        "conv1": {"kernel": {"value": jnp.ones((2, 2))}, "bias": {"value": jnp.ones(2)}},
        "norm": {"scale": {"value": jnp.ones(2)}},
    }


def test_labels_by_regex_matches_nnx_paths_as_written_by_a_user():
    decay = fo.labels_by_regex([(r".*bias|norm\..*", False)], default=True)(_nnx_like())
    assert decay == {
        "conv1": {"kernel": {"value": True}, "bias": {"value": False}},
        "norm": {"scale": {"value": False}},
    }
    # a leaf literally called "value" at the top level keeps its name
    assert fo.labels_by_regex([("value", "v")], default="x")({"value": jnp.ones(1)}) == {"value": "v"}


def test_masked_weight_decay_and_partition_over_nnx_like_paths():
    p = _nnx_like()
    opt = fo.adamw(0.1, weight_decay=0.5, mask=fo.labels_by_regex([(r".*bias", False)], default=True))
    u, _ = opt.update(jax.tree.map(jnp.zeros_like, p), opt.init(p), p)
    # zero gradients: only the decayed leaves move
    assert float(jnp.abs(u["conv1"]["bias"]["value"]).max()) == 0.0
    assert float(jnp.abs(u["conv1"]["kernel"]["value"]).min()) > 0.0
    part = fo.partition({"a": fo.sgd(1.0), "b": fo.sgd(0.0)}, fo.labels_by_regex([(r".*bias", "a")], default="b"))
    u, _ = part.update(jax.tree.map(jnp.ones_like, p), part.init(p), p)
    np.testing.assert_allclose(u["conv1"]["bias"]["value"], -1.0)
    np.testing.assert_allclose(u["conv1"]["kernel"]["value"], 0.0)


def test_chain_state_mismatch_names_the_first_differing_key_path():
    p = _nnx_like()
    opt = fo.chain(fo.clip(1.0), fo.adam(0.1))
    plain = {layer: {name: v["value"] for name, v in d.items()} for layer, d in p.items()}
    s = fo.chain(fo.clip(1.0), fo.adam(0.1)).init(plain)
    with pytest.raises(ValueError, match=r"chain member 1 .* at key path \[0\]\.mu\['conv1'\]\['bias'\]") as e:
        opt.update(p, s, p)
    assert "PyTreeDef" not in str(e.value)
    s = fo.chain(fo.clip(1.0), fo.sgd(0.1)).init(p)
    with pytest.raises(ValueError, match=r"expected ScaleByAdamState with keys \['count', 'mu', 'nu'\]"):
        opt.update(p, s, p)


# --- current_hyperparams ---


def test_current_hyperparams_of_a_plain_optimizer_with_a_schedule():
    sched = fo.linear_schedule(1.0, 0.0, 10)
    opt = fo.adamw(sched, weight_decay=0.1)
    p = _params()
    s = opt.init(p)
    np.testing.assert_allclose(current_hyperparams(s, learning_rate=sched)["learning_rate"], 1.0)
    step = jax.jit(lambda g, s: opt.update(g, s, p)[1])
    for k in range(4):
        s = step(_grads(p, k), s)
    # the fourth update (count 3) used sched(3)
    np.testing.assert_allclose(current_hyperparams(s, learning_rate=sched)["learning_rate"], 0.7, rtol=1e-6)
    assert jax.jit(lambda s: current_hyperparams(s, learning_rate=sched))(s)["learning_rate"].shape == ()


def test_current_hyperparams_reads_injected_values_and_the_plateau_scale():
    opt = fo.chain(
        fo.inject_hyperparams(fo.adam)(learning_rate=lambda c: 0.1 / (1 + c), b1=0.8),
        fo.reduce_on_plateau(factor=0.5, patience=1),
    )
    p = _params()
    s = opt.init(p)
    for k in range(4):
        _, s = opt.update(_grads(p, k), s, p, value=jnp.asarray(1.0))  # a constant loss: a plateau
    hp = current_hyperparams(s)
    np.testing.assert_allclose(hp["learning_rate"], 0.1 / 4, rtol=1e-6)  # the fourth update used count 3
    np.testing.assert_allclose(hp["b1"], 0.8, rtol=1e-6)
    assert float(hp["plateau_scale"]) < 1.0
    assert current_hyperparams(fo.sgd(0.1).init(p)) == {}


def test_current_hyperparams_disambiguates_and_refuses_ambiguous_counts():
    inj = fo.inject_hyperparams(fo.sgd)
    opt = fo.partition({"a": inj(0.1), "b": inj(0.2)}, {"w": "a", "b": "b"})
    hp = current_hyperparams(opt.init(_params()))
    assert len(hp) == 2 and all(k.endswith("/learning_rate") for k in hp)
    assert sorted(float(v) for v in hp.values()) == pytest.approx([0.1, 0.2])
    with pytest.raises(ValueError, match="2 ScaleByScheduleState"):
        current_hyperparams(opt.init(_params()), learning_rate=0.1)


# --- set_hyperparam validation and array hyperparameters ---


def test_set_hyperparam_validates_concrete_values_like_the_constructor():
    s = fo.inject_hyperparams(fo.adamw)(1e-3, weight_decay=0.1).init(_params())
    with pytest.raises(ValueError, match="learning_rate"):
        fo.inject_hyperparams(fo.adamw)(-1.0)
    for name, bad in (("learning_rate", -1.0), ("learning_rate", float("nan")), ("b2", 1.0), ("eps", -1e-8)):
        with pytest.raises(ValueError, match=name):
            fo.set_hyperparam(s, name, bad)
    with pytest.raises(ValueError, match="shape"):
        fo.set_hyperparam(s, "learning_rate", jnp.ones(3))
    with pytest.raises(TypeError, match="schedule"):
        fo.set_hyperparam(s, "learning_rate", lambda c: 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        fo.set_hyperparam(s, "learning_rate", jnp.asarray(-2.0))
    # traced values still work, under jit and vmap
    lr = jax.jit(lambda s, v: fo.get_hyperparam(fo.set_hyperparam(s, "learning_rate", v), "learning_rate"))(s, 0.5)
    np.testing.assert_allclose(lr, 0.5)
    lrs = jax.vmap(lambda v: fo.get_hyperparam(fo.set_hyperparam(s, "learning_rate", v), "learning_rate"))(
        jnp.array([0.1, 0.2])
    )
    np.testing.assert_allclose(lrs, [0.1, 0.2], rtol=1e-6)


def test_integer_or_non_scalar_learning_rate_arrays_are_refused_at_trace_time():
    p = _params()
    for lr, err, match in (
        (jnp.asarray(1, jnp.int32), TypeError, "floating-point"),
        (jnp.full(4, 0.1), ValueError, "scalar"),
    ):
        opt = fo.adam(lr)
        with pytest.raises(err, match=match):
            opt.update(_grads(p, 0), opt.init(p), p)
    # vmap over scalar learning rates still works
    opt_u = jax.vmap(lambda lr: fo.sgd(lr).update(_grads(p, 0), fo.sgd(lr).init(p), p)[0]["b"])
    np.testing.assert_allclose(opt_u(jnp.array([0.1, 0.2]))[:, 0], [-0.1 * 0.04, -0.2 * 0.04], rtol=1e-5)


# --- checkpoint ---


def test_checkpoint_restores_a_python_int_into_an_int32_target(tmp_path):
    f = tmp_path / "ckpt"
    checkpoint.save(f, {"step": 7, "w": jnp.ones(2)})
    out = checkpoint.restore(f, {"step": jnp.int32(0), "w": jnp.zeros(2)})
    assert out["step"].dtype == jnp.int32 and int(out["step"]) == 7
    checkpoint.save(f, {"step": 2**40, "w": jnp.ones(2)})
    with pytest.raises(checkpoint.CheckpointError, match=r"\['step'\].*outside the range.*int32"):
        checkpoint.restore(f, {"step": jnp.int32(0), "w": jnp.zeros(2)})
    with pytest.raises(checkpoint.CheckpointError, match="mismatch"):  # int -> float is still refused
        checkpoint.restore(f, {"step": jnp.float32(0), "w": jnp.zeros(2)})


def test_checkpoint_save_into_a_missing_directory_names_the_directory(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=str(missing)) as e:
        checkpoint.save(missing / "ckpt", {"w": jnp.ones(1)})
    assert ".tmp" not in str(e.value)
    assert not os.path.exists(missing)


def test_checkpoint_restore_with_no_target_refuses_clearly(tmp_path):
    f = tmp_path / "ckpt"
    checkpoint.save(f, {"w": jnp.ones(1)})
    with pytest.raises(TypeError, match="load_arrays"):
        checkpoint.restore(f, None)
    checkpoint.save(f, None)
    assert checkpoint.restore(f, None) is None
