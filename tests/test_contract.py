"""Contract tests over every optimizer in ``tests/registry.py``.

For each entry: jit with a stable state (structure, shapes, dtypes) and no
retrace on the second call; vmap over a batch of learning rates in one
compile; ``lax.scan`` equal to a Python loop; ``None`` leaves; bfloat16
params with zero gradients; abstract ``init`` under ``jax.eval_shape``;
unknown extra arguments ignored; a schedule as learning rate; optax interop.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import pytest

import functional_opt as fo
from tests.helpers import descend
from tests.registry import REGISTRY

NAMES = sorted(REGISTRY)
LR = 1e-2


def make_params(dtype=jnp.float32):
    return {
        "s": jnp.asarray(0.5, dtype),
        "v": jnp.linspace(-1.0, 1.0, 4).astype(dtype),
        "m": (jnp.arange(6.0).reshape(2, 3) / 6.0 - 0.3).astype(dtype),
    }


def loss(params):
    leaves = [p for p in jax.tree.leaves(params)]
    return sum(jnp.sum(0.5 * (i + 1.0) * jnp.square(p.astype(jnp.float32) - 0.1)) for i, p in enumerate(leaves))


@pytest.mark.parametrize("name", NAMES)
def test_jit_state_stable_no_retrace(name):
    entry = REGISTRY[name]
    opt = entry.make(LR)
    params = make_params()
    state = opt.init(params)
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        g = jax.grad(loss)(params)
        u, new_state = opt.update(g, state, params, **entry.extra)
        return fo.apply_updates(params, u), new_state, u

    p1, s1, u1 = step(params, state)
    p2, s2, _ = step(p1, s1)
    p3, s3, _ = step(p2, s2)
    assert len(traces) == 1, f"{name}: update retraced on a later call"
    chex.assert_trees_all_equal_structs(state, s1, s3)
    chex.assert_trees_all_equal_shapes_and_dtypes(state, s1)
    chex.assert_trees_all_equal_shapes_and_dtypes(s1, s3)
    chex.assert_trees_all_equal_shapes_and_dtypes(params, p3)
    chex.assert_trees_all_equal_shapes_and_dtypes(params, u1)
    chex.assert_tree_all_finite(p3)
    # state is arrays only
    for leaf in jax.tree.leaves(s3):
        assert isinstance(leaf, jax.Array), f"{name}: non-array state leaf {type(leaf)}"


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_learning_rate(name):
    entry = REGISTRY[name]
    if not entry.vmap_lr:
        pytest.skip("learning rate is not an array hyperparameter for this entry")
    params = make_params()
    lrs = jnp.array([0.0, 1e-2, 3e-2])
    traces = []

    def train(lr):
        traces.append(1)
        return descend(entry.make(lr), loss, params, 2, **entry.extra)[0]

    batched = jax.jit(jax.vmap(train))(lrs)
    assert len(traces) == 1
    for i, lr in enumerate([0.0, 1e-2, 3e-2]):
        single = descend(entry.make(lr), loss, params, 2, **entry.extra)[0]
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], batched), single, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", NAMES)
def test_scan_equals_loop(name):
    entry = REGISTRY[name]
    opt = entry.make(LR)
    params = make_params()

    def body(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        u, s = opt.update(g, s, p, **entry.extra)
        return (fo.apply_updates(p, u), s), None

    (p_scan, _), _ = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), None, length=3))(params)
    p_loop, _ = descend(opt, loss, params, 3, **entry.extra)
    chex.assert_trees_all_close(p_scan, p_loop, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_none_leaves_bf16_eval_shape_extra_args(name):
    entry = REGISTRY[name]
    opt = entry.make(LR)

    # None leaves are empty subtrees: they stay None and carry no state.
    params = {"w": jnp.ones((2, 2)), "frozen": None, "b": jnp.zeros(3)}
    grads = {"w": jnp.full((2, 2), 0.5), "frozen": None, "b": jnp.full(3, -0.5)}
    state = opt.init(params)
    u, state = opt.update(grads, state, params, **entry.extra)
    assert u["frozen"] is None
    new = fo.apply_updates(params, u)
    assert new["frozen"] is None
    chex.assert_tree_all_finite(new)

    # bf16 params with zero gradients stay bf16 and finite.
    if entry.bf16:
        p16 = make_params(jnp.bfloat16)
        s16 = opt.init(p16)
        zeros = jax.tree.map(jnp.zeros_like, p16)
        u16, s16b = jax.jit(lambda g, s, p: opt.update(g, s, p, **entry.extra))(zeros, s16, p16)
        new16 = fo.apply_updates(p16, u16)
        chex.assert_trees_all_equal_shapes_and_dtypes(new16, p16)
        chex.assert_trees_all_equal_shapes_and_dtypes(u16, p16)
        chex.assert_trees_all_equal_shapes_and_dtypes(s16, s16b)
        chex.assert_tree_all_finite(new16)

    # Abstract init on ShapeDtypeStruct leaves matches the concrete init.
    p = make_params()
    abstract = jax.eval_shape(opt.init, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), p))
    concrete = opt.init(p)
    chex.assert_trees_all_equal_structs(abstract, concrete)
    for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
        assert a.shape == c.shape and a.dtype == c.dtype

    # Unknown extra arguments are ignored.
    g = jax.grad(loss)(p)
    u_plain, _ = opt.update(g, concrete, p, **entry.extra)
    u_extra, _ = opt.update(g, concrete, p, unknown_argument=3, another=jnp.ones(2), **entry.extra)
    chex.assert_trees_all_close(u_plain, u_extra)


@pytest.mark.parametrize("name", NAMES)
def test_schedule_learning_rate(name):
    entry = REGISTRY[name]
    sched_opt = entry.make(lambda count: LR * jnp.ones([]))
    const_opt = entry.make(LR)
    params = make_params()
    p_s, _ = descend(sched_opt, loss, params, 2, **entry.extra)
    p_c, _ = descend(const_opt, loss, params, 2, **entry.extra)
    chex.assert_trees_all_close(p_s, p_c, rtol=1e-5, atol=1e-6)


def test_registry_is_not_empty():
    assert len(REGISTRY) >= 9


def test_optax_interop():
    optax = pytest.importorskip("optax")
    params = make_params()
    g = jax.grad(loss)(params)
    # optax.chain accepts ours
    mixed = optax.chain(fo.scale_by_adam(), optax.scale(-0.1))
    ref = optax.chain(optax.scale_by_adam(), optax.scale(-0.1))
    u1, _ = mixed.update(g, mixed.init(params), params)
    u2, _ = ref.update(g, ref.init(params), params)
    chex.assert_trees_all_close(u1, u2, rtol=1e-5)
    # ours accepts optax's
    ours = fo.chain(optax.clip_by_global_norm(1.0), fo.sgd(0.1))
    u3, _ = ours.update(g, ours.init(params), params)
    scale = jnp.minimum(1.0, 1.0 / fo.global_norm(g))
    chex.assert_trees_all_close(u3, jax.tree.map(lambda x: -0.1 * x * scale, g), rtol=1e-6)
    assert isinstance(fo.adam(0.1), optax.GradientTransformation) or tuple(fo.adam(0.1)._fields) == ("init", "update")
