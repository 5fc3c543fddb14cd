"""Numerics over the registry: a dtype matrix (float16, bfloat16, float32, float64)
with zero, tiny and huge gradients; NaN gradients; low-precision Adam; NaN-step
recovery with ``apply_if_finite``; hypothesis properties; determinism."""

from __future__ import annotations

import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_opt as fo
from tests.registry import REGISTRY
from tests.test_checkpoint import ENV, ROOT, params0, registry_step

NAMES = sorted(REGISTRY)
STEPS = 3
# Gradient scale per magnitude: (float32 / bfloat16 / float64 leaves, float16 leaves); the
# gradients are the scale times values up to ~7. "huge" is the largest scale whose squared
# gradients (second moments) still fit the dtype: 1e17 in float32 / bfloat16 (max 3.4e38),
# 100 in float16 (max 65504), and 1e30 in float64. Beyond that, see the README (reliability).
MAGNITUDES = {"zero": (0.0, 0.0), "tiny": (1e-30, 1e-30), "huge": (1e17, 100.0)}

# Known failures, reported to their owners (see the README's reliability section).
KNOWN: dict = {}


def _dtypes(tree):
    return [jnp.result_type(x) for x in jax.tree.leaves(tree)]


def _finite(tree):
    return all(
        bool(jnp.all(jnp.isfinite(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x)))
        for x in jax.tree.leaves(tree)
    )


def _run_cells(name, kind, magnitudes):
    """Run STEPS steps per magnitude; return {magnitude: problem or None}."""
    opt, step = registry_step(name, kind)
    p0 = params0(kind)
    s0 = opt.init(p0)
    problems = {}
    for mag, (big, f16) in magnitudes.items():
        scales = {k: jnp.float32(f16 if jnp.result_type(v) == jnp.float16 else big) for k, v in p0.items()}
        p, s = p0, s0
        problem = None
        for t in range(STEPS):
            p, s, u = step(p, s, jnp.int32(t), scales, p0)
            if _dtypes(u) != _dtypes(p0) or _dtypes(p) != _dtypes(p0):
                problem = f"dtypes changed at step {t}: params {_dtypes(p)}, updates {_dtypes(u)}"
            elif _dtypes(s) != _dtypes(s0):
                problem = f"state dtypes changed at step {t}"
            elif not (_finite(u) and _finite(p)):
                problem = f"non-finite updates or params at step {t}"
            if problem:
                break
        problems[mag] = problem
    return problems


def _check(name, problems):
    bad = {m: msg for m, msg in problems.items() if msg and (name, m) not in KNOWN}
    fixed = [m for m, msg in problems.items() if not msg and (name, m) in KNOWN]
    assert not bad, f"{name}: {bad}"
    assert not fixed, f"{name}: {fixed} now pass; remove them from KNOWN"


@pytest.mark.parametrize("name", NAMES)
def test_dtype_matrix_f16_bf16_f32(name):
    """float16, bfloat16 and float32 leaves in one tree; 0, 1e-30 and 1e30 gradients:
    updates and params finite, every dtype (params, updates, state) preserved."""
    _check(name, _run_cells(name, "mixed", MAGNITUDES))


# float64 values are computed for these (one compile each); every other registry entry is
# traced abstractly under x64 (dtypes only): compiling all of them twice would double the
# suite's time, and the float32 run above already checks finiteness in a narrower range.
F64_VALUES = {
    "gradient_descent",
    "momentum",
    "sgd_nesterov",
    "rmsprop_centered_momentum",
    "adam",
    "adamw",
    "lion",
    "lamb",
    "adafactor",
    "shampoo",
    "muon",
}


def test_dtype_matrix_f64_with_x64():
    problems = {}
    f64 = {**MAGNITUDES, "huge": (1e30, 1e30)}
    with jax.enable_x64(True):
        p0 = params0("f64")
        assert jnp.result_type(p0["s"]) == jnp.float64
        ones = {k: jnp.float32(1) for k in p0}
        for name in NAMES:
            opt, step = registry_step(name, "f64")
            if name in F64_VALUES:
                for m, msg in _run_cells(name, "f64", f64).items():
                    if msg and (name, m) not in KNOWN:
                        problems[(name, m)] = msg
                continue
            s0 = jax.eval_shape(opt.init, p0)
            p, s, u = jax.eval_shape(step, p0, s0, jnp.int32(0), ones, p0)
            if _dtypes(p) != _dtypes(p0) or _dtypes(u) != _dtypes(p0) or _dtypes(s) != _dtypes(s0):
                problems[(name, "dtypes")] = f"params {_dtypes(p)}, updates {_dtypes(u)}"
    assert not problems, problems


@pytest.mark.parametrize("name", NAMES)
def test_nan_gradients_propagate_or_skip_never_silently_finite(name):
    """Documented behaviour: a NaN gradient either makes the params NaN (every plain
    optimizer: the failure is visible) or leaves them unchanged (guards such as
    apply_if_finite); it never yields finite, changed params."""
    opt, step = registry_step(name)
    p0 = params0()
    nan = {k: jnp.float32(jnp.nan) for k in p0}
    p, _, _ = step(p0, opt.init(p0), jnp.int32(0), nan, p0)
    for k in p0:
        a, b = np.asarray(p[k], np.float32), np.asarray(p0[k], np.float32)
        assert np.array_equal(a, b) or not np.all(np.isfinite(a)), f"{name}: NaN gradient gave finite {k}={a}"


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(
    "make",
    [lambda: fo.adam(1e-2), lambda: fo.adamw(1e-2, weight_decay=0.0), lambda: fo.rmsprop(1e-2, bias_correction=True)],
)
def test_low_precision_b2_never_rounds_to_one(dtype, make):
    """0.999 is 1.0 in bfloat16; a constant unit gradient must still give steps of ~lr."""
    opt = make()
    p = {"w": jnp.zeros(4, dtype)}
    s = opt.init(p)
    for _ in range(20):
        u, s = opt.update({"w": jnp.ones(4, dtype)}, s, p)
    assert u["w"].dtype == dtype
    np.testing.assert_allclose(np.asarray(u["w"], np.float32), -1e-2, rtol=2e-2)


def test_apply_if_finite_recovers_from_one_percent_nan_steps():
    if not hasattr(fo, "apply_if_finite"):
        pytest.skip("apply_if_finite not available")
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 5)), jnp.float32)
    y = x @ jnp.asarray([1.0, -2.0, 0.5, 3.0, 0.0]) + 0.3 * jnp.asarray(rng.normal(size=64), jnp.float32)
    loss = lambda w: jnp.mean(jnp.square(x @ w - y))
    steps = 400
    bad = np.zeros(steps, bool)
    bad[rng.choice(steps, steps // 100, replace=False)] = True  # 1% of the steps

    def run(opt, poison):
        def body(carry, b):
            w, s = carry
            g = jax.grad(loss)(w)
            g = jnp.where(b & poison, jnp.nan, g)
            u, s = opt.update(g, s, w)
            return (fo.apply_updates(w, u), s), None

        w0 = jnp.zeros(5)
        (w, _), _ = jax.jit(lambda: jax.lax.scan(body, (w0, opt.init(w0)), jnp.asarray(bad)))()
        return float(loss(w))

    guarded = fo.apply_if_finite(fo.adam(3e-2), max_consecutive_errors=5)
    clean, recovered = run(guarded, False), run(guarded, True)
    assert np.isnan(run(fo.adam(3e-2), True)), "without the guard NaN steps must poison the run"
    assert abs(recovered - clean) <= 0.01 * clean, (clean, recovered)


# ---------- hypothesis properties ----------

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]
SHAPES = [(), (1,), (3,), (2, 2), (0,), (2, 0)]


@st.composite
def trees(draw, depth=2):
    """Random nested dict/list/tuple trees of arrays (and a few None leaves)."""

    def leaf():
        if draw(st.integers(0, 9)) == 0:
            return None
        shape = draw(st.sampled_from(SHAPES))
        dtype = draw(st.sampled_from(DTYPES))
        vals = draw(st.lists(st.floats(-4, 4, width=16), min_size=1, max_size=1))[0]
        return (jnp.arange(int(np.prod(shape)), dtype=jnp.float32).reshape(shape) * 0.1 + vals).astype(dtype)

    def node(d):
        if d == 0 or draw(st.booleans()):
            return leaf()
        kind = draw(st.sampled_from(["dict", "list", "tuple"]))
        n = draw(st.integers(1, 3))
        kids = [node(d - 1) for _ in range(n)]
        if kind == "dict":
            return {f"k{i}": c for i, c in enumerate(kids)}
        return kids if kind == "list" else tuple(kids)

    return {"root": node(depth), "w": leaf() if draw(st.booleans()) else jnp.ones(2)}


optimizers = st.one_of(
    st.builds(
        lambda lr, b1, b2, eps: fo.adam(lr, b1=b1, b2=b2, eps=eps),
        st.floats(0, 1),
        st.floats(0, 0.99),
        st.floats(0, 0.999),
        st.floats(1e-8, 1e-3),
    ),
    st.builds(lambda lr, m, n: fo.sgd(lr, momentum=m, nesterov=n), st.floats(0, 1), st.floats(0, 0.99), st.booleans()),
    st.builds(
        lambda lr, d, c: fo.rmsprop(lr, decay=d, centered=c, eps=1e-6),
        st.floats(0, 1),
        st.floats(0, 0.99),
        st.booleans(),
    ),
    st.builds(lambda lr, wd: fo.adamw(lr, weight_decay=wd), st.floats(0, 1), st.floats(0, 0.1)),
)


@settings(max_examples=25, deadline=None)
@given(tree=trees(), opt=optimizers)
def test_structure_dtypes_and_finiteness_are_preserved(tree, opt):
    grads = jax.tree.map(lambda p: (p.astype(jnp.float32) * 0.5 - 0.25).astype(p.dtype), tree)
    state = opt.init(tree)
    for _ in range(2):
        u, state = opt.update(grads, state, tree)
        chex.assert_trees_all_equal_structs(u, tree)
        chex.assert_trees_all_equal_shapes_and_dtypes(u, tree)
        new = fo.apply_updates(tree, u)
        chex.assert_trees_all_equal_shapes_and_dtypes(new, tree)
        assert _finite(u) and _finite(new)
        tree = new


@settings(max_examples=15, deadline=None)
@given(tree=trees(), b1=st.floats(0, 0.99), b2=st.floats(0, 0.999), wd=st.floats(0, 0.1), lr=st.floats(0, 1))
def test_chain_is_associative(tree, b1, b2, wd, lr):
    a, b, c = fo.scale_by_adam(b1=b1, b2=b2), fo.add_decayed_weights(wd), fo.scale_by_learning_rate(lr)
    opts = [fo.chain(fo.chain(a, b), c), fo.chain(a, fo.chain(b, c)), fo.chain(a, b, c)]
    grads = jax.tree.map(lambda p: (p.astype(jnp.float32) - 0.5).astype(p.dtype), tree)
    states = [o.init(tree) for o in opts]
    for _ in range(2):
        outs = [o.update(grads, s, tree) for o, s in zip(opts, states)]
        states = [s for _, s in outs]
        chex.assert_trees_all_equal(outs[0][0], outs[1][0], outs[2][0])


@settings(max_examples=25, deadline=None)
@given(tree=trees(), udtype=st.sampled_from(DTYPES + [None]), scale=st.floats(-1e3, 1e3))
def test_apply_updates_keeps_param_dtypes_and_none(tree, udtype, scale):
    updates = jax.tree.map(lambda p: jnp.full(p.shape, scale, udtype or p.dtype), tree)
    out = fo.apply_updates(tree, updates)
    assert jax.tree.structure(out) == jax.tree.structure(tree)  # None leaves stay None
    chex.assert_trees_all_equal_shapes_and_dtypes(out, tree)


# ---------- determinism ----------

_DEMO = """
import hashlib, numpy as np, jax
import functional_opt as fo
from examples._digits import load_digits_data, train
r = train(fo.adam(1e-3), load_digits_data(seed=0), steps=40, batch_size=64, seed=0)
h = hashlib.sha256()
for leaf in jax.tree.leaves((r.params, r.opt_state)):
    h.update(np.asarray(leaf).tobytes())
h.update(np.asarray(r.losses).tobytes())
print(h.hexdigest())
"""


def test_demo_training_is_bit_identical_across_two_runs():
    pytest.importorskip("sklearn")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DEMO], env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    digests = [out.strip().splitlines()[-1] for out, _ in outs]
    assert digests[0] == digests[1] and len(digests[0]) == 64
