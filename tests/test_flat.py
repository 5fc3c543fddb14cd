"""Flat-bucket mode: layout, flat gradients, and flat == tree numbers for the optimizers."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import flat
from tests.helpers import run
from tests.registry import REGISTRY


def _tree(seed=0):
    r = np.random.default_rng(seed)
    return {
        "s": jnp.asarray(r.normal(), jnp.float32),
        "v": jnp.asarray(r.normal(size=5), jnp.float32),
        "m": jnp.asarray(r.normal(size=(3, 4)), jnp.float32),
        "n": None,
    }


def test_layout_pads_groups_and_round_trips():
    t = {"a": jnp.arange(3.0), "h": jnp.ones((2, 2), jnp.bfloat16), "b": jnp.ones((130,)), "n": None}
    f = fo.flat.flatten_params(t, bucket_leaves=None)
    # float32 leaves a (3) and b (130) share one buffer of 256; the bf16 leaf has its own
    assert sorted((b.dtype.name, b.shape[0]) for b in f.buffers) == [("bfloat16", 128), ("float32", 256)]
    back = f.unflatten()
    assert back["n"] is None
    for k in "abh":
        np.testing.assert_array_equal(np.asarray(back[k], np.float32), np.asarray(t[k], np.float32))
        assert back[k].dtype == t[k].dtype
    for b, (_, _, n) in zip(f.buffers, f.layout.buckets):
        used = sum(
            s.size
            for s in f.layout.slots
            if f.layout.buckets[s.bucket][2] == n and f.layout.buckets[s.bucket][0] == b.dtype
        )
        np.testing.assert_array_equal(np.asarray(b[used:], np.float32), 0.0)  # padding is zero


def test_bucket_leaves_splits_groups():
    t = [jnp.ones(3) for _ in range(5)]
    assert len(fo.flat.flatten_params(t, bucket_leaves=2).buffers) == 3
    assert len(fo.flat.flatten_params(t, bucket_leaves=None).buffers) == 1
    assert all(b.shape[0] % 128 == 0 for b in fo.flat.flatten_params(t, align=128).buffers)


@pytest.mark.parametrize("kw", [{"align": 0}, {"bucket_leaves": 0}, {"align": 1.5}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        fo.flat.flatten_params([jnp.ones(2)], **kw)


def test_integer_leaves_refused():
    with pytest.raises(TypeError, match="floating"):
        fo.flat.flatten_params([jnp.ones(2, jnp.int32)])


def test_gradients_arrive_flat_and_equal_tree_gradients():
    t = _tree()

    def loss(p):
        return jnp.sum(jnp.sin(p["m"]) * 2.0) + jnp.sum(p["v"] ** 3) + p["s"] ** 2

    f = fo.flat.flatten_params(t, bucket_leaves=2)
    g_flat = jax.jit(jax.grad(lambda f: loss(f.unflatten())))(f)
    assert isinstance(g_flat, fo.flat.FlatParams)
    # independent reference: the derivatives written out in numpy
    ref = {
        "s": 2 * np.asarray(t["s"]),
        "v": 3 * np.asarray(t["v"]) ** 2,
        "m": 2 * np.cos(np.asarray(t["m"])),
        "n": None,
    }
    chex.assert_trees_all_close(g_flat.unflatten(), ref, rtol=1e-6, atol=1e-6)
    total = sum(int(np.prod(b.shape)) for b in g_flat.buffers)
    nonpad = sum(s.size for s in f.layout.slots)
    assert total > nonpad and float(sum(jnp.sum(b != 0) for b in g_flat.buffers)) <= nonpad


def _clip_chain(lr):
    clip = getattr(fo, "clip_by_global_norm", None)
    if clip is None:
        clip_t = fo.stateless(lambda u, p: jax.tree.map(lambda x: x * jnp.minimum(1.0, 0.5 / fo.global_norm(u)), u))
    else:
        clip_t = clip(0.5)
    return fo.chain(clip_t, fo.adamw(lr, weight_decay=0.1))


OPTIMIZERS = {
    "gradient_descent": lambda: fo.gradient_descent(0.1),
    "momentum": lambda: fo.momentum(0.1, decay=0.9),
    "sgd_nesterov": lambda: fo.sgd(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: fo.rmsprop(0.01),
    "rmsprop_centered": lambda: fo.rmsprop(0.01, centered=True, momentum=0.9, eps_in_sqrt=False),
    "adam": lambda: fo.adam(0.01),
    "adam_nesterov": lambda: fo.adam(0.01, nesterov=True),
    "adamw": lambda: fo.adamw(0.01, weight_decay=0.1),
    "adamw_clip_global_norm": lambda: _clip_chain(0.01),
    "adam_schedule": lambda: fo.adam(lambda c: 0.01 / (1.0 + c)),
}


@functools.cache
def _flat_and_tree_runs():
    """Every OPTIMIZERS entry, 10 steps on the same gradients as a tree and as flat buffers.

    One jitted step advances all of them at once (two compilations, one per layout, instead of twenty);
    returns ``(layout, {name: final tree params}, {name: final flat params})``.
    """
    opts = {name: make() for name, make in OPTIMIZERS.items()}
    tree = _tree(1)
    fl = fo.flat.flatten_params(tree, bucket_leaves=2)
    grads = [_tree(10 + i) for i in range(10)]

    @jax.jit
    def step(params, states, g):
        out = {n: opt.update(g, states[n], params[n]) for n, opt in opts.items()}
        return {n: fo.apply_updates(params[n], u) for n, (u, _) in out.items()}, {n: s for n, (_, s) in out.items()}

    def drive(p0, gs):
        params, states = {n: p0 for n in opts}, {n: opt.init(p0) for n, opt in opts.items()}
        for g in gs:
            params, states = step(params, states, g)
        return params

    flat_grads = [fo.flat.FlatParams(fl.layout.pack(g), fl.layout) for g in grads]
    return fl.layout, drive(tree, grads), drive(fl, flat_grads)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_flat_equals_tree(name):
    layout, tree_runs, flat_runs = _flat_and_tree_runs()
    p_tree, p_flat = tree_runs[name], flat_runs[name]
    chex.assert_trees_all_close(p_flat.unflatten(), p_tree, rtol=1e-6, atol=1e-7)
    nonpad = {s.bucket: 0 for s in layout.slots}
    for s in layout.slots:
        nonpad[s.bucket] += s.size
    for b, buf in enumerate(p_flat.buffers):  # padding never moves
        np.testing.assert_array_equal(np.asarray(buf[nonpad[b] :]), 0.0)


def _leafwise_trust_ratio():
    """u * ||p|| / ||u|| per leaf: a per-leaf rule (as LARS/LAMB use)."""

    def f(u, p):
        return jax.tree.map(lambda x, w: x * jnp.linalg.norm(w) / jnp.linalg.norm(x), u, p)

    return fo.stateless(f)


def test_per_leaf_gets_per_leaf_views():
    opt = fo.chain(fo.flat.per_leaf(_leafwise_trust_ratio()), fo.scale(-0.1))
    tree = _tree(2)
    g = _tree(3)
    fl = fo.flat.flatten_params(tree, bucket_leaves=None)
    u_flat, _ = opt.update(fo.flat.FlatParams(fl.layout.pack(g), fl.layout), opt.init(fl), fl)
    # reference in numpy: -0.1 * g * |p| / |g| leaf by leaf
    ref = {
        k: -0.1 * np.asarray(g[k]) * np.linalg.norm(np.asarray(tree[k])) / np.linalg.norm(np.asarray(g[k]))
        for k in "svm"
    }
    ref["n"] = None
    chex.assert_trees_all_close(u_flat.unflatten(), ref, rtol=1e-5)
    u_tree, _ = opt.update(g, opt.init(tree), tree)  # on a tree, per_leaf is transparent
    chex.assert_trees_all_close(u_tree, ref, rtol=1e-5)


def test_check_not_flat_refuses_with_clear_error():
    fl = fo.flat.flatten_params(_tree())
    with pytest.raises(ValueError, match="lars needs per-leaf views.*per_leaf"):
        flat.check_not_flat(fl, "lars")
    flat.check_not_flat(_tree(), "lars")  # trees pass
    assert flat.is_flat(fl) and not flat.is_flat(_tree())


def test_sharded_leaves_get_their_own_sharded_bucket(devices8):
    """In the 8-device child (tests/conftest.py), on a mesh of 4 of its devices."""
    devices8.run(
        """
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import functional_opt as fo
        mesh = Mesh(np.array(jax.devices()[:4]), ("d",))
        w = jax.device_put(jnp.arange(32.0).reshape(8, 4), NamedSharding(mesh, P("d")))
        b = jnp.arange(3.0)
        f = fo.flat.flatten_params({"w": w, "b": b}, bucket_leaves=None)
        assert len(f.buffers) == 2, f
        big = [x for x in f.buffers if x.shape[0] == 512][0]
        assert len(big.sharding.device_set) == 4 and not big.sharding.is_fully_replicated
        opt = fo.adam(0.1)
        s = opt.init(f)
        u, s = jax.jit(opt.update)(f, s, f)
        p = fo.apply_updates(f, u).unflatten()
        w0 = np.arange(32.0).reshape(8, 4)
        np.testing.assert_allclose(np.asarray(p["w"]), w0 - 0.1 * (w0 > 0), rtol=1e-6)

        # the data-parallel step on flat params (plain and ZeRO-1) equals the tree on one device
        loss = lambda t, x: jnp.mean((x @ t["w"] + t["b"][0]) ** 2)
        x = np.linspace(-1.0, 1.0, 32, dtype=np.float32).reshape(8, 4)
        tree = {"w": jnp.arange(32.0).reshape(4, 8) / 10, "b": jnp.arange(3.0)}
        ref_p, ref_s, ref_step = jax.tree.map(jnp.copy, tree), opt.init(tree), fo.make_train_step(loss, opt)
        for _ in range(3):
            ref_p, ref_s, _ = ref_step(ref_p, ref_s, x)
        for zero in (False, True):
            w = jax.device_put(tree["w"], NamedSharding(mesh, P(None, "d")))
            f = fo.flat.flatten_params({"w": w, "b": tree["b"]})
            f, s = fo.sharding.prepare(opt, f, mesh, axis="d", zero=zero, min_size=1)
            step = fo.sharding.make_train_step(loss, opt, mesh, data_axis="d", zero=zero, min_size=1)
            for _ in range(3):
                f, s, _ = step(f, s, x)
            split = [not b.sharding.is_fully_replicated for b in jax.tree.leaves(s) if b.ndim == 1]
            assert split == ([True] * 4 if zero else [False, True] * 2), (zero, split)  # buckets of 128 (b), 512 (w)
            for k in tree:
                np.testing.assert_allclose(np.asarray(f.unflatten()[k]), np.asarray(ref_p[k]), rtol=1e-6, atol=1e-6)

        # explicit-sharding axes: refused with a clear error
        AxisType = getattr(jax.sharding, "AxisType", None)
        if AxisType is not None:
            emesh = jax.make_mesh((4,), ("d",), axis_types=(AxisType.Explicit,), devices=jax.devices()[:4])
            w = jax.device_put(jnp.ones((8, 4)), NamedSharding(emesh, P("d")))
            try:
                fo.flat.flatten_params({"w": w})
            except ValueError as e:
                assert "explicit-sharding mesh axes ('d',)" in str(e) and "AxisType.Auto" in str(e), e
            else:
                raise AssertionError("explicit sharding was not refused")
            fo.flat.flatten_params({"b": jax.device_put(jnp.ones(3), NamedSharding(emesh, P()))})  # replicated: fine
        print("OK")
        """
    )


def test_stacked_layers_equal_separate_leaves():
    """Elementwise optimizers treat a stacked [L, ...] leaf exactly as L separate leaves."""
    r = np.random.default_rng(5)
    ws = [jnp.asarray(r.normal(size=(3, 2)), jnp.float32) for _ in range(4)]
    gs = [[jnp.asarray(r.normal(size=(3, 2)), jnp.float32) for _ in range(4)] for _ in range(5)]
    opt = fo.adamw(0.01, weight_decay=0.1)
    sep, stk = list(ws), jnp.stack(ws)
    s1, s2 = opt.init(sep), opt.init(stk)

    @jax.jit
    def step(p, s, g):
        u, s = opt.update(g, s, p)
        return fo.apply_updates(p, u), s

    for g in gs:
        sep, s1 = step(sep, s1, g)
        stk, s2 = step(stk, s2, jnp.stack(g))
    np.testing.assert_allclose(np.asarray(stk), np.stack([np.asarray(w) for w in sep]), rtol=1e-6, atol=1e-7)


# --- every optimizer in the registry: flat mode gives the tree's numbers, or refuses clearly ---


LAYOUT_DEPENDENT_RANDOMNESS = {"noisy_sgd"}
# quantization blocks of 256 elements run across leaf boundaries in a flat buffer, so the rounding differs
# from the tree's (tests/test_quantized.py checks flat mode against its own tolerance)
LAYOUT_DEPENDENT_QUANTIZATION = {"adamw8bit"}


def _registry_tree(seed):
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
        "b": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
        "s": jnp.asarray(rng.normal(), jnp.float32),
    }


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_flat_equals_tree_or_refuses(name):
    entry = REGISTRY[name]
    if not entry.plain_update:
        pytest.skip("needs a loss or gradient function of the params in update")
    if name in LAYOUT_DEPENDENT_RANDOMNESS:
        pytest.skip("i.i.d. noise per element: same distribution, but the draw depends on the layout")
    if name in LAYOUT_DEPENDENT_QUANTIZATION:
        pytest.skip("block-wise quantization: the blocks depend on the layout")
    opt = entry.make(1e-2)
    tree = _registry_tree(1)
    fl = fo.flat.flatten_params(tree, bucket_leaves=2)
    grads = [_registry_tree(10 + i) for i in range(3)]

    flat_grads = [fo.flat.FlatParams(fl.layout.pack(g), fl.layout) for g in grads]
    p_tree = run(opt, tree, grads, jit=False, **entry.extra).params
    try:
        p_flat = run(opt, fl, flat_grads, jit=False, **entry.extra).params
    except ValueError as e:
        assert "per-leaf views" in str(e), str(e)
        return
    chex.assert_trees_all_close(p_flat.unflatten(), p_tree, rtol=1e-6, atol=1e-6)
