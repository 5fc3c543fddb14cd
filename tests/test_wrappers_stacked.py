"""per_layer: per-leaf rules on stacked [L, ...] leaves equal the same rules on L separate leaves."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

L = 3


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "layers": jnp.asarray(rng.normal(size=(L, 3, 4)), jnp.float32),
        "head": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
        "frozen": None,
    }


def _separate(tree):
    return {"layers": [tree["layers"][i] for i in range(L)], "head": tree["head"], "frozen": None}


def _grads(p, t):
    return {"layers": jnp.sin(p["layers"] * (t + 1.0)), "head": jnp.cos(p["head"] + t), "frozen": None}


MASK = {"layers": True, "head": False, "frozen": None}

INNERS = {
    "lamb": lambda: fo.lamb(1e-2, weight_decay=1e-2),
    "lars": lambda: fo.lars(1e-2),
    "adafactor": lambda: fo.adafactor(1e-2, min_dim_size_to_factor=1),
    "muon": lambda: fo.muon(1e-2),
    "clip_by_block_rms_sgd": lambda: fo.chain(fo.clip_by_block_rms(0.5), fo.sgd(1e-1)),
    "adam": lambda: fo.adam(1e-2),
}


@pytest.mark.parametrize("name", sorted(INNERS))
def test_stacked_equals_separate_leaves(name):
    opt = fo.per_layer(INNERS[name](), stacked=MASK)
    ref = INNERS[name]()
    p1, p2 = _params(), _separate(_params())
    s1, s2 = opt.init(p1), ref.init(p2)
    step = jax.jit(opt.update)
    for t in range(6):
        u1, s1 = step(_grads(p1, t), s1, p1)
        p1 = fo.apply_updates(p1, u1)
        g2 = {"layers": [jnp.sin(x * (t + 1.0)) for x in p2["layers"]], "head": jnp.cos(p2["head"] + t), "frozen": None}
        u2, s2 = ref.update(g2, s2, p2)
        p2 = fo.apply_updates(p2, u2)
    assert p1["frozen"] is None
    chex.assert_trees_all_close(_separate(p1), p2, rtol=1e-5, atol=1e-6)


def test_without_per_layer_a_trust_ratio_sees_the_whole_stack():
    # the reason per_layer exists: lamb on the stacked leaf differs from lamb per layer
    p = _params()
    g = _grads(p, 0)
    whole, _ = fo.lamb(1e-2).update(g, fo.lamb(1e-2).init(p), p)
    per = fo.per_layer(fo.lamb(1e-2), MASK)
    layered, _ = per.update(g, per.init(p), p)
    assert float(jnp.max(jnp.abs(whole["layers"] - layered["layers"]))) > 1e-4


def test_state_layout_and_function_mask():
    opt = fo.per_layer(fo.adam(1e-2), stacked=lambda p: jax.tree.map(lambda x: x.ndim == 3, p))
    s = opt.init(_params())
    assert isinstance(s, fo.PerLayerState)
    assert s.stacked[0].count.shape == (L,)  # one count per layer, all equal
    assert s.stacked[0].mu["layers"].shape == (L, 3, 4) and s.stacked[0].mu["head"] is None
    assert s.rest[0].mu["layers"] is None and s.rest[0].mu["head"].shape == (4,)


def test_no_stacked_leaf_is_the_inner_optimizer():
    p = _params()
    opt = fo.per_layer(fo.adam(1e-2), stacked={"layers": False, "head": False, "frozen": None})
    u1, _ = opt.update(_grads(p, 0), opt.init(p), p)
    u2, _ = fo.adam(1e-2).update(_grads(p, 0), fo.adam(1e-2).init(p), p)
    chex.assert_trees_all_close(u1, u2)


def test_bad_input():
    with pytest.raises(TypeError, match="inner"):
        fo.per_layer("adam", stacked={})
    with pytest.raises(TypeError, match="stacked"):
        fo.per_layer(fo.adam(1e-2), stacked=None)
    opt = fo.per_layer(fo.adam(1e-2), stacked={"s": True})
    with pytest.raises(ValueError, match="leading layer axis"):
        opt.init({"s": jnp.ones(())})
    opt = fo.per_layer(fo.adam(1e-2), stacked={"a": True})
    with pytest.raises(ValueError, match="params"):
        opt.update({"a": jnp.ones((2, 2))}, opt.init({"a": jnp.ones((2, 2))}))
    with pytest.raises(ValueError, match="stacked must be a tree"):
        opt.init({"b": jnp.ones((2, 2))})
