"""masked, partition, labels_by_regex, freeze, set_to_zero."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import Fixtures, run

_FX = Fixtures(1)
params, grads_seq = _FX.params, _FX.grads_seq


def test_masked_all_true_equals_inner_and_all_false_is_identity():
    p = params()
    gs = grads_seq(p)
    ref, _, _ = run(fo.adam(0.1), p, gs)
    got, _, _ = run(fo.masked(fo.adam(0.1), lambda t: jax.tree.map(lambda _: True, t)), p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6)
    _, s, us = run(fo.masked(fo.adam(0.1), False), p, gs)
    chex.assert_trees_all_equal(us[-1], gs[-1])  # unmasked leaves pass through unchanged
    assert jax.tree.leaves(s.inner_state[0].mu) == []  # no moments kept at all


def test_masked_sgd_momentum_against_numpy():
    p = params()
    mask = {"s": False, "v": True, "m": True}
    gs = grads_seq(p)
    _, s, us = run(fo.masked(fo.sgd(0.1, momentum=0.9), mask), p, gs)
    trace = {k: np.zeros(np.shape(p[k])) for k in ("v", "m")}
    for g, u in zip(gs, us):
        for k in trace:
            trace[k] = 0.9 * trace[k] + np.asarray(g[k], np.float64)
            np.testing.assert_allclose(u[k], -0.1 * trace[k], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(u["s"], g["s"])
    # the masked-out leaf has no state: a MaskedNode stands in its place
    assert isinstance(s.inner_state[0].trace["s"], fo.MaskedNode)


def test_masked_prefix_mask_and_none_leaves():
    p = {"enc": {"w": jnp.ones(2), "b": jnp.ones(1)}, "head": {"w": jnp.ones(2)}, "frozen": None}
    opt = fo.masked(fo.set_to_zero(), {"enc": True, "head": False, "frozen": None})
    u, _ = opt.update(p, opt.init(p), p)
    assert u["frozen"] is None
    chex.assert_trees_all_equal(u["enc"], {"w": jnp.zeros(2), "b": jnp.zeros(1)})
    chex.assert_trees_all_equal(u["head"], p["head"])
    with pytest.raises(ValueError, match="mask"):
        fo.masked(fo.identity(), {"nope": True}).init(p)
    with pytest.raises(TypeError, match="bools"):
        fo.masked(fo.identity(), lambda t: jax.tree.map(lambda x: jnp.asarray(True), t)).init(p)


def test_partition_one_label_equals_optimizer_and_groups_against_separate_runs():
    p = params()
    gs = grads_seq(p)
    ref, _, _ = run(fo.adamw(0.05, weight_decay=0.1), p, gs)
    got, _, _ = run(fo.partition({"all": fo.adamw(0.05, weight_decay=0.1)}, "all"), p, gs)
    chex.assert_trees_all_close(got, ref, rtol=1e-6)
    labels = {"s": "sgd", "v": "adam", "m": "adam"}
    opt = fo.partition({"adam": fo.adam(0.05), "sgd": fo.sgd(0.5, momentum=0.5)}, labels)
    got, s, _ = run(opt, p, gs)
    ref_adam, _, _ = run(fo.adam(0.05), {"v": p["v"], "m": p["m"]}, [{"v": g["v"], "m": g["m"]} for g in gs])
    ref_sgd, _, _ = run(fo.sgd(0.5, momentum=0.5), p["s"], [g["s"] for g in gs])
    chex.assert_trees_all_close(got, {**ref_adam, "s": ref_sgd}, rtol=1e-6)
    assert set(s.inner_states) == {"adam", "sgd"}
    with pytest.raises(ValueError, match="no transformation"):
        fo.partition({"adam": fo.adam(0.1)}, {"s": "adam", "v": "adam", "m": "other"}).init(p)


def test_partition_against_optax_multi_transform():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 5)
    labels = {"s": "a", "v": "b", "m": "a"}
    ours, _, _ = run(fo.partition({"a": fo.sgd(0.1, momentum=0.9), "b": fo.sgd(0.3)}, labels), p, gs)
    ref = optax.multi_transform({"a": optax.sgd(0.1, momentum=0.9), "b": optax.sgd(0.3)}, labels)
    theirs, _, _ = run(ref, p, gs)
    chex.assert_trees_all_close(ours, theirs, rtol=1e-6)
    mask = {"s": False, "v": True, "m": True}
    ours, _, _ = run(fo.masked(fo.sgd(0.2, momentum=0.5), mask), p, gs)
    theirs, _, _ = run(optax.masked(optax.sgd(0.2, momentum=0.5), mask), p, gs)
    chex.assert_trees_all_close(ours, theirs, rtol=1e-6)


def test_labels_by_regex():
    p = {
        "dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "layer_norm": {"scale": jnp.ones(2)},
        "blocks": [{"w": jnp.ones(1)}],
        "skip": None,
    }
    labels = fo.labels_by_regex({r".*bias|.*norm.*": "no_decay", r"blocks\.0\..*": "block"}, default="decay")(p)
    assert labels == {
        "dense": {"kernel": "decay", "bias": "no_decay"},
        "layer_norm": {"scale": "no_decay"},
        "blocks": [{"w": "block"}],
        "skip": None,
    }
    # full match: "bias" alone does not match "dense.bias"
    assert fo.labels_by_regex([("bias", 1)], default=0)(p)["dense"]["bias"] == 0
    with pytest.raises(ValueError, match="no rule matches"):
        fo.labels_by_regex([("x", 1)])(p)
    with pytest.raises(ValueError, match="invalid regular expression"):
        fo.labels_by_regex([("(", 1)])
    with pytest.raises(TypeError, match="pair"):
        fo.labels_by_regex(["abc"])


def test_no_decay_on_biases_via_adamw_mask():
    p = {"w": jnp.full(2, 2.0), "bias": jnp.full(2, 2.0)}
    opt = fo.adamw(0.1, weight_decay=0.5, mask=fo.labels_by_regex([(".*bias", False)], default=True))
    zeros = jax.tree.map(jnp.zeros_like, p)
    u, _ = opt.update(zeros, opt.init(p), p)
    np.testing.assert_allclose(u["w"], -0.1 * 0.5 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(u["bias"], 0.0)


def test_freeze_and_set_to_zero():
    p = params()
    gs = grads_seq(p, 4)
    mask = {"s": True, "v": False, "m": True}
    opt = fo.freeze(mask, fo.adam(0.1))
    got, s, us = run(opt, p, gs)
    for u in us:
        np.testing.assert_array_equal(u["s"], 0.0)
        np.testing.assert_array_equal(u["m"], np.zeros((2, 3)))
    ref, _, _ = run(fo.adam(0.1), p["v"], [g["v"] for g in gs])
    chex.assert_trees_all_close(got["v"], ref, rtol=1e-6)
    adam_state = fo.find_states(s, fo.ScaleByAdamState)[0]
    assert [x.shape for x in jax.tree.leaves(adam_state.mu)] == [(3,)]  # memory saved
    # freeze(mask) alone: zeros on frozen leaves, others unchanged
    u, _ = fo.freeze(mask).update(gs[0], fo.freeze(mask).init(p))
    chex.assert_trees_all_equal(u["v"], gs[0]["v"])
    np.testing.assert_array_equal(u["m"], np.zeros((2, 3)))
    u, _ = fo.set_to_zero().update({"a": jnp.ones(2, jnp.bfloat16)}, fo.EmptyState())
    assert u["a"].dtype == jnp.bfloat16 and not u["a"].any()


def test_freeze_against_optax_selective_transform():
    optax = pytest.importorskip("optax")
    p = params()
    gs = grads_seq(p, 4)
    mask = {"s": True, "v": False, "m": False}
    ours, _, _ = run(fo.freeze(mask, fo.adam(0.1)), p, gs)
    theirs, _, _ = run(optax.selective_transform(optax.adam(0.1), freeze_mask=mask), p, gs)
    chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-5)  # float32 Adam: compiled fusions differ by ulps


def test_masks_refuse_flat_buffers():
    flat = fo.flat.flatten_params({"a": jnp.ones(3), "b": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match="flat buffers"):
        fo.masked(fo.adam(0.1), True).init(flat)


# one mask reader: a prefix mask means the same everywhere (optax's semantics)
NESTED = {
    "enc": {"w": jnp.arange(6.0).reshape(2, 3) - 2.0, "b": jnp.full(3, 0.5)},
    "head": {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.asarray(-0.7)},
}
PREFIX = {"enc": False, "head": True}
FULL = {"enc": {"w": False, "b": False}, "head": {"w": True, "b": True}}


def _nested_grads(n=6):
    rng = np.random.default_rng(7)
    return [jax.tree.map(lambda x: jnp.asarray(rng.normal(size=jnp.shape(x)), jnp.float32), NESTED) for _ in range(n)]


def test_adamw_prefix_mask_equals_full_mask_and_masked():
    gs = _nested_grads()
    by_prefix, _, _ = run(fo.adamw(0.1, weight_decay=0.5, mask=PREFIX), NESTED, gs)
    by_full, _, _ = run(fo.adamw(0.1, weight_decay=0.5, mask=FULL), NESTED, gs)
    by_masked, _, _ = run(
        fo.chain(fo.scale_by_adam(), fo.masked(fo.add_decayed_weights(0.5), PREFIX), fo.scale_by_learning_rate(0.1)),
        NESTED,
        gs,
    )
    chex.assert_trees_all_equal(by_prefix, by_full)
    chex.assert_trees_all_close(by_prefix, by_masked, rtol=1e-6, atol=1e-7)
    no_decay, _, _ = run(fo.adamw(0.1, weight_decay=0.0), NESTED, gs)
    chex.assert_trees_all_close(by_prefix["enc"], no_decay["enc"], rtol=1e-6)  # "enc" really is not decayed


def test_add_decayed_weights_prefix_mask_equals_full_mask_and_masked():
    g = _nested_grads(1)[0]
    for mask in (PREFIX, lambda p: PREFIX):
        t = fo.add_decayed_weights(0.5, mask=mask)
        u, _ = t.update(g, t.init(NESTED), NESTED)
        full = fo.add_decayed_weights(0.5, mask=FULL)
        chex.assert_trees_all_equal(u, full.update(g, full.init(NESTED), NESTED)[0])
        m = fo.masked(fo.add_decayed_weights(0.5), PREFIX)
        chex.assert_trees_all_equal(u, m.update(g, m.init(NESTED), NESTED)[0])
    chex.assert_trees_all_equal(u["enc"], g["enc"])
    chex.assert_trees_all_close(u["head"], jax.tree.map(lambda a, p: a + 0.5 * p, g["head"], NESTED["head"]))


def test_prefix_labels_and_masks_in_partition_freeze_and_per_layer():
    gs = _nested_grads(3)
    both = {"enc": "slow", "head": "fast"}
    txs = {"slow": fo.sgd(0.01), "fast": fo.adam(0.1)}
    a, _, _ = run(fo.partition(txs, both), NESTED, gs)
    full_labels = {"enc": {"w": "slow", "b": "slow"}, "head": {"w": "fast", "b": "fast"}}
    b, _, _ = run(fo.partition(txs, full_labels), NESTED, gs)
    chex.assert_trees_all_equal(a, b)
    for inner in (None, fo.sgd(0.1)):
        a, _, ua = run(fo.freeze(PREFIX, inner), NESTED, gs)
        b, _, ub = run(fo.freeze(FULL, inner), NESTED, gs)
        chex.assert_trees_all_equal(ua, ub)
        chex.assert_trees_all_equal(ua[-1]["head"], jax.tree.map(jnp.zeros_like, NESTED["head"]))
    with pytest.raises(TypeError, match="bools"):
        fo.freeze({"enc": 1, "head": 0}, fo.sgd(0.1)).init(NESTED)
    stacked = {"enc": {"w": jnp.ones((4, 2, 2)), "b": jnp.ones((4, 2))}, "head": jnp.ones(3)}
    g = jax.tree.map(lambda x: 0.5 * x, stacked)

    def per_layer_update(spec):
        opt = fo.per_layer(fo.lamb(1e-2), stacked=spec)
        return opt.update(g, opt.init(stacked), stacked)[0]

    chex.assert_trees_all_equal(
        per_layer_update({"enc": True, "head": False}), per_layer_update({"enc": {"w": True, "b": True}, "head": False})
    )


# ---------------------------------------------------------------------------------------------------------------
# optax parity: state layout, callable pytree masks, extra arguments, optax's argument names


def test_prefix_mask_leaves_one_masked_node_at_the_subtree_root_as_optax():
    optax = pytest.importorskip("optax")
    mask = {"enc": False, "head": True}
    ours = fo.masked(fo.sgd(0.1, momentum=0.9), mask).init(NESTED)
    ref = optax.masked(optax.sgd(0.1, momentum=0.9), mask).init(NESTED)
    trace = ours.inner_state[0].trace
    assert isinstance(trace["enc"], fo.MaskedNode)  # one node for the whole subtree, not one per leaf
    assert jax.tree.structure(trace["head"]) == jax.tree.structure(NESTED["head"])
    ref_trace = ref.inner_state[0].trace
    assert isinstance(ref_trace["enc"], optax.MaskedNode)
    assert jax.tree.map(jnp.shape, trace["head"]) == jax.tree.map(jnp.shape, ref_trace["head"])
    # a full mask still gives one node per masked leaf
    full = fo.masked(fo.sgd(0.1, momentum=0.9), FULL).init(NESTED).inner_state[0].trace
    assert full["enc"] == {"w": fo.MaskedNode(), "b": fo.MaskedNode()}


def test_callable_pytree_mask_is_a_tree_not_a_function():
    eqx = pytest.importorskip("equinox")
    optax = pytest.importorskip("optax")

    class Model(eqx.Module):
        enc: jax.Array
        head: jax.Array

        def __call__(self, x):  # a model is callable, yet a mask built from it is a pytree of bools
            raise AssertionError("a pytree mask must not be called")

    p = Model(jnp.ones(2), jnp.full(3, 2.0))
    g = Model(jnp.full(2, 0.5), jnp.full(3, -1.0))
    mask = Model(True, False)
    ours = fo.masked(fo.scale(-0.1), mask)
    ref = optax.masked(optax.scale(-0.1), mask)
    u, _ = ours.update(g, ours.init(p), p)
    u_ref, _ = ref.update(g, ref.init(p), p)
    chex.assert_trees_all_close(u, u_ref)
    np.testing.assert_allclose(u.enc, -0.05)
    np.testing.assert_allclose(u.head, -1.0)
    part = fo.partition({"a": fo.scale(2.0), "b": fo.scale(3.0)}, Model("a", "b"))  # labels: a callable pytree too
    np.testing.assert_allclose(part.update(g, part.init(p), p)[0].head, -3.0)
    u, _ = fo.freeze(mask, fo.scale(2.0)).update(g, fo.freeze(mask, fo.scale(2.0)).init(p), p)
    np.testing.assert_allclose(u.enc, 0.0)


def test_mask_compatible_extra_args_against_optax():
    optax = pytest.importorskip("optax")
    seen = []

    def init(params):
        return fo.EmptyState()

    def update(updates, state, params=None, *, tags, **extra_args):
        seen.append(jax.tree.structure(tags) == jax.tree.structure(updates))
        return jax.tree.map(lambda u, t: u * t, updates, tags), state

    inner = fo.GradientTransformation(init, update)
    tags = jax.tree.map(lambda x: jnp.full_like(x, 3.0), NESTED)
    g = _nested_grads(1)[0]
    for mask in ({"enc": True, "head": False}, {"enc": {"w": True, "b": False}, "head": True}):
        ours = fo.masked(inner, mask, mask_compatible_extra_args=True)
        ref = optax.masked(inner, mask, mask_compatible_extra_args=True)
        u, _ = ours.update(g, ours.init(NESTED), NESTED, tags=tags)
        u_ref, _ = ref.update(g, ref.init(NESTED), NESTED, tags=tags)
        chex.assert_trees_all_close(u, u_ref)
    assert all(seen)
    labels = {"enc": "x", "head": "y"}
    part = fo.partition({"x": inner, "y": fo.identity()}, param_labels=labels, mask_compatible_extra_args=True)
    ref = optax.partition({"x": inner, "y": optax.identity()}, labels, mask_compatible_extra_args=True)
    chex.assert_trees_all_close(
        part.update(g, part.init(NESTED), NESTED, tags=tags)[0], ref.update(g, ref.init(NESTED), NESTED, tags=tags)[0]
    )
    with pytest.raises(ValueError, match="structure"):  # without the flag the tags do not match the masked updates
        plain = fo.masked(inner, {"enc": True, "head": False})
        plain.update(g, plain.init(NESTED), NESTED, tags=tags)


def test_partition_keyword_names_and_multi_transform():
    gs = _nested_grads(3)
    txs = {"slow": fo.sgd(0.01), "fast": fo.adam(0.1)}
    labels = {"enc": "slow", "head": "fast"}
    a, sa, _ = run(fo.partition(txs, param_labels=labels), NESTED, gs)
    b, _, _ = run(fo.partition(txs, labels=labels), NESTED, gs)
    c, sc, _ = run(fo.multi_transform(txs, labels), NESTED, gs)
    chex.assert_trees_all_equal(a, b)
    chex.assert_trees_all_equal(a, c)
    assert isinstance(sc, fo.PartitionState) and isinstance(sa.inner_states["slow"].inner_state[0], tuple)
    with pytest.raises(TypeError, match="param_labels"):
        fo.partition(txs)
    with pytest.raises(TypeError, match="param_labels"):
        fo.partition(txs, labels, labels=labels)
    optax = pytest.importorskip("optax")
    ref = optax.multi_transform({"slow": optax.sgd(0.01), "fast": optax.adam(0.1)}, labels)
    r, _, _ = run(ref, NESTED, gs)
    chex.assert_trees_all_close(a, r, rtol=1e-5, atol=1e-7)


def test_tree_map_params_sees_through_masked_partition_and_freeze():
    """tree_map_params initialises on a leafless placeholder: the masks must let it through (as optax's masked)."""
    optax = pytest.importorskip("optax")
    mappers = [optax.tree_utils.tree_map_params]
    if hasattr(fo, "tree_utils"):
        mappers.append(fo.tree_utils.tree_map_params)
    for opt in (
        fo.masked(fo.adam(0.1), PREFIX),
        fo.partition({"a": fo.adam(0.1), "b": fo.sgd(0.1, momentum=0.9)}, {"enc": "a", "head": "b"}),
        fo.freeze(PREFIX, fo.adam(0.1)),
    ):
        s = opt.init(NESTED)
        for tree_map_params in mappers:
            out = tree_map_params(opt, lambda x: jnp.full(x.shape, 7.0), s, transform_non_params=lambda x: x)
            assert jax.tree.structure(out) == jax.tree.structure(s)
            moments = [x for x in jax.tree.leaves(out) if x.ndim > 0]
            assert moments and all(bool(jnp.all(x == 7.0)) for x in moments)
