"""Low-memory optimizer state: bf16 moments for the Adam family and 8-bit block-quantized moments."""

from __future__ import annotations

import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt.wrappers.quantized import dequantize_blockwise, quantize_blockwise

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- bf16 / float16 moments, whole Adam family

ADAM_FAMILY = {
    "adam": lambda **k: fo.adam(0.1, **k),
    "adamw": lambda **k: fo.adamw(0.1, **k),
    "adam_nesterov": lambda **k: fo.adam(0.1, nesterov=True, **k),
    "nadam": lambda **k: fo.nadam(0.1, **k),
    "nadamw": lambda **k: fo.nadamw(0.1, **k),
    "amsgrad": lambda **k: fo.amsgrad(0.1, **k),
    "amsgrad_optax": lambda **k: fo.amsgrad(0.1, max_of_corrected=True, **k),
    "adamax": lambda **k: fo.adamax(0.1, **k),
    "adamaxw": lambda **k: fo.adamaxw(0.1, **k),
    "radam": lambda **k: fo.radam(0.1, **k),
    "adabelief": lambda **k: fo.adabelief(0.1, **k),
    "yogi": lambda **k: fo.yogi(0.1, **k),
    "adopt": lambda **k: fo.adopt(0.1, **k),
}


def _moment_leaves(state):
    """``{path: leaf}`` of the state leaves under fields named mu* / nu*."""
    out = {}
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        names = [getattr(k, "name", "") for k in path]
        if any(n.startswith(("mu", "nu")) for n in names):
            out[jax.tree_util.keystr(path)] = x
    return out


def test_adam_family_bf16_moments():
    """Every Adam-family optimizer: bf16 moments are stored, the update is float32 and close to float32's.

    All optimizers run in one jitted program (one compilation), 5 steps each under ``lax.scan``.
    (nadam's ``momentum_decay`` form, adan and ademamix are not covered: their transforms have no ``nu_dtype``.)
    """
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(8, 16)), jnp.float32), "b": jnp.zeros(16, jnp.float32)}
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=(5, *p.shape)), jnp.float32), params)
    bf16 = {"mu_dtype": jnp.bfloat16, "nu_dtype": jnp.bfloat16}
    opts = {(name, k): make(**kw) for name, make in ADAM_FAMILY.items() for k, kw in (("f32", {}), ("bf16", bf16))}

    def run_all(grads):
        out = {}
        for key, opt in opts.items():

            def body(s, g, opt=opt):
                u, s = opt.update(g, s, params)
                return s, u

            out[key] = jax.lax.scan(body, opt.init(params), grads)
        return out

    # one program; backend optimization level 0 (LLVM time dominates this many small loops)
    results = jax.jit(run_all).lower(grads).compile({"xla_backend_optimization_level": 0})(grads)
    for name in ADAM_FAMILY:
        (s32, u32), (s16, u16) = results[(name, "f32")], results[(name, "bf16")]
        moments = _moment_leaves(s16)
        assert len(moments) >= 4, (name, moments.keys())  # mu and nu of both leaves at least
        assert all(x.dtype == jnp.bfloat16 for x in moments.values()), (name, {k: x.dtype for k, x in moments.items()})
        assert all(x.dtype == jnp.float32 for x in _moment_leaves(s32).values()), name
        for x, y in zip(jax.tree.leaves(u32), jax.tree.leaves(u16)):
            assert y.dtype == jnp.float32, name
            # zero moments are exact in bf16: the first update is float32's (to rounding)
            if name != "yogi":  # (yogi's moments start at 1e-6, not exact in bf16)
                np.testing.assert_allclose(np.asarray(y[0]), np.asarray(x[0]), rtol=1e-6, atol=1e-9, err_msg=name)
            np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0.05, atol=5e-3, err_msg=name)


# ------------------------------------------------------------------------------ numpy reference of the codes


def np_quantize(x, block_size, code):
    """Independent float32 numpy implementation of the three block-wise codes."""
    x = np.asarray(x, np.float32)
    shape = x.shape
    x = np.clip(x, -np.finfo(np.float32).max, np.finfo(np.float32).max)
    if code != "linear":
        x = np.maximum(x, np.float32(0))
    if shape and shape[-1] % block_size == 0:
        b = x.reshape(*shape[:-1], shape[-1] // block_size, block_size)
    else:
        flat = x.ravel()
        nb = -(-flat.size // block_size)
        b = np.concatenate([flat, np.zeros(nb * block_size - flat.size, np.float32)]).reshape(nb, block_size)
    s = np.abs(b).max(-1, keepdims=True)
    inv = (np.float32(1) / np.where(s > 0, s, np.float32(1))).astype(np.float32)
    r = (b * inv).astype(np.float32)
    if code == "linear":
        q = np.floor(r * np.float32(127) + np.float32(0.5)).astype(np.int8)
    else:
        y = np.sqrt(np.sqrt(r)) if code == "dynamic" else r
        q = np.floor(y * np.float32(255) + np.float32(0.5))
        q = np.where(b > 0, np.maximum(q, 1), 0).astype(np.uint8)
    return q.ravel()[: int(np.prod(shape))].reshape(shape), s[..., 0]


def np_dequantize(codes, scales, block_size, code):
    shape = codes.shape
    c = codes.astype(np.float32)
    if shape and shape[-1] % block_size == 0:
        c = c.reshape(*shape[:-1], shape[-1] // block_size, block_size)
    else:
        flat = c.ravel()
        nb = scales.shape[0]
        c = np.concatenate([flat, np.zeros(nb * block_size - flat.size, np.float32)]).reshape(nb, block_size)
    y = c / np.float32(127) if code == "linear" else c / np.float32(255)
    if code == "dynamic":
        y = y**4
    return (y * scales[..., None]).ravel()[: int(np.prod(shape))].reshape(shape)


@functools.partial(jax.jit, static_argnames=("code",))
def _round_trip(x, code):
    q = quantize_blockwise(x, block_size=256, code=code)
    return q, dequantize_blockwise(q, block_size=256, code=code)


@pytest.mark.parametrize("code", ["linear", "dynamic", "unsigned"])
def test_quantize_matches_numpy_and_error_is_bounded(code):
    for shape in [(4, 512), (3, 100), ()]:
        _check_round_trip(code, shape)


def _check_round_trip(code, shape):
    rng = np.random.default_rng(len(code) + len(shape))
    x = rng.normal(size=shape) * np.exp(rng.uniform(-12, 0, size=shape))  # values over ~5 decades
    if code != "linear":
        x = x**2
    x = np.asarray(x, np.float32)
    if x.size > 4:
        x.ravel()[:3] = 0.0  # exact zeros survive
    bs = 256
    q, back = _round_trip(jnp.asarray(x), code)
    codes, scales = np_quantize(x, bs, code)
    assert q.codes.dtype == (np.int8 if code == "linear" else np.uint8) and q.codes.shape == shape
    np.testing.assert_array_equal(np.asarray(q.codes), codes)
    np.testing.assert_array_equal(np.asarray(q.scales), scales)
    back = np.asarray(back)
    np.testing.assert_allclose(back, np_dequantize(codes, scales, bs, code), rtol=1e-6, atol=0)
    # error bounds, per element, from its block's scale
    s = np_dequantize(np.ones(shape, np.uint8), scales, bs, "unsigned") * 255  # each element's block absmax
    if x.size > 4:
        assert np.all(back.ravel()[:3] == 0)
    if code == "linear":
        assert np.all(np.abs(back - x) <= s / 254 * (1 + 1e-5))
    elif code == "unsigned":
        assert np.all(np.abs(back - x) <= s / 510 * (1 + 1e-5) + (x > 0) * s / 255)
        assert np.all((back > 0) == (x > 0))
    else:  # the 4th root is within half a level; positive values stay positive
        big = x > (1.5 / 255) ** 4 * s
        err = np.abs(np.sqrt(np.sqrt(back / np.where(s > 0, s, 1))) - np.sqrt(np.sqrt(x / np.where(s > 0, s, 1))))
        assert np.all(err[big] <= 0.5 / 255 + 1e-6)
        assert np.all((back > 0) == (x > 0))
        rel = np.abs(back - x)[x > 1e-2 * s] / x[x > 1e-2 * s]
        assert rel.size == 0 or rel.max() < 0.026  # 4 * 0.5 / 81: 2.5 % at 1 % of the block's max


def test_dynamic_code_keeps_small_second_moments():
    """A linear uint8 code rounds a 1e-4 x absmax value to 0; the dynamic code keeps it within 10 %."""
    x = jnp.concatenate([jnp.ones(1), jnp.full(255, 1e-4)])
    lin = dequantize_blockwise(quantize_blockwise(x, code="unsigned"), code="unsigned")
    dyn = dequantize_blockwise(quantize_blockwise(x, code="dynamic"), code="dynamic")
    assert float(lin[1]) == pytest.approx(1 / 255)  # bumped to the smallest level: 39x too large
    assert float(dyn[1]) == pytest.approx(1e-4, rel=0.1)


# ----------------------------------------------------------------------------------------- state bytes


def _nbytes(tree):
    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def test_state_bytes_on_2_24_params_at_most_0p3_of_float32_adam():
    shapes = {"w1": (4096, 2048), "w2": (1024, 4096), "w3": (3000, 1398), "b": (304,)}
    params = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
    assert sum(int(np.prod(s)) for s in shapes.values()) == 2**24
    f32 = _nbytes(jax.eval_shape(fo.adam(1e-3).init, params))
    q = jax.eval_shape(fo.adam8bit(1e-3).init, params)
    q8 = _nbytes(q)
    assert q8 <= 0.3 * f32, q8 / f32
    assert q8 / f32 == pytest.approx(0.254, abs=0.002)  # 2 codes + 2 scales / 256 bytes of 8
    mu = q[0].mu
    assert isinstance(mu["w3"], fo.QuantizedArray) and mu["w3"].scales.shape == (-(-3000 * 1398 // 256),)
    assert mu["w1"].scales.shape == (4096, 8) and q[0].nu["w1"].codes.dtype == jnp.uint8
    assert mu["b"].dtype == jnp.float32  # below min_size: kept in float32


# ------------------------------------------------------------------------------- wrapper behaviour


def test_first_step_and_momentum_sgd_lion_match_float32():
    rng = np.random.default_rng(1)
    p = jnp.asarray(rng.normal(size=(16, 256)), jnp.float32)
    gs = [jnp.asarray(rng.normal(size=(16, 256)), jnp.float32) for _ in range(5)]
    pairs = {
        "adamw": (fo.adamw(1e-2, weight_decay=0.1), fo.adamw8bit(1e-2, weight_decay=0.1, min_size=0)),
        "sgd": (fo.sgd(0.1, momentum=0.9), fo.quantized_state(fo.sgd(0.1, momentum=0.9), min_size=0)),
        "lion": (fo.lion(1e-3), fo.lion8bit(1e-3, min_size=0)),
    }
    for name, (ref, q) in pairs.items():
        sr, sq = ref.init(p), q.init(p)
        is_q = lambda x: isinstance(x, fo.QuantizedArray)  # noqa: E731
        assert any(is_q(x) for x in jax.tree.leaves(sq, is_leaf=is_q)), name
        step_r, step_q = jax.jit(ref.update), jax.jit(q.update)
        for i, g in enumerate(gs):
            ur, sr = step_r(g, sr, p)
            uq, sq = step_q(g, sq, p)
            if name == "lion":  # sign updates: almost all equal
                assert np.mean(np.asarray(ur) == np.asarray(uq)) > 0.98, name
            elif i == 0 and name != "sgd":
                np.testing.assert_allclose(uq, ur, rtol=1e-6, err_msg=name)
            else:
                # a small moment has a large relative error (one level is 1/254 of its block's max):
                # compare the whole update by its norm
                rel = float(jnp.linalg.norm(uq - ur) / jnp.linalg.norm(ur))
                assert rel < 0.03, (name, i, rel)


def test_codes_per_field_and_min_size():
    opt = fo.quantized_state(fo.amsgrad(1e-3), min_size=100, second_moment="linear")
    s = opt.init({"w": jnp.zeros((10, 10)), "b": jnp.zeros(99)})
    assert s[0].mu["w"].codes.dtype == jnp.int8
    assert s[0].nu["w"].codes.dtype == jnp.uint8 and s[0].nu_max["w"].codes.dtype == jnp.uint8
    assert s[0].mu["b"].dtype == jnp.float32 and s[0].count.dtype == jnp.int32
    with pytest.raises(ValueError, match="second_moment"):
        fo.quantized_state(fo.adam(1e-3), second_moment="tree")
    with pytest.raises(ValueError, match="block_size"):
        fo.quantized_state(fo.adam(1e-3), block_size=0)


def test_all_zero_and_huge_gradients_are_finite_with_the_right_sign():
    p = jnp.zeros(1024)
    opt = fo.adam8bit(1e-3, min_size=0)
    step = jax.jit(opt.update)
    s = opt.init(p)
    for _ in range(3):
        u, s = step(jnp.zeros(1024), s, p)
        assert np.all(np.asarray(u) == 0)
    sign = jnp.where(jnp.arange(1024) % 3 == 0, -1.0, 1.0)
    for scale in (1e18, 1e30, 1e30, 1.0):
        g = sign * scale
        u, s = step(g, s, p)
        assert np.all(np.isfinite(np.asarray(u))), scale
        assert np.all(np.asarray(u * g) <= 0), scale
        assert all(np.all(np.isfinite(np.asarray(x, np.float32))) for x in jax.tree.leaves(s))
    assert np.all(np.asarray(u * g) < 0)  # moves again after the huge steps
    u, _ = step(sign * 1e18, opt.init(p), p)  # g**2 = 1e36 is finite: a plain Adam step
    np.testing.assert_allclose(u, -1e-3 * sign, rtol=1e-5)


def test_jit_vmap_over_learning_rate():
    p = jnp.linspace(-1, 1, 512)
    g = jnp.cos(p)
    lrs = jnp.array([1e-3, 1e-2, 1e-1])

    def run(lr):
        opt = fo.adam8bit(lr, min_size=0)
        s = opt.init(p)
        u, s = opt.update(g, s, p)
        u, s = opt.update(g, s, p)
        return u, s

    us, ss = jax.jit(jax.vmap(run))(lrs)
    assert ss[0].mu.codes.shape == (3, 512) and ss[0].mu.codes.dtype == jnp.int8
    one = jax.jit(run)
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(us[i], one(lr)[0], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(us[i] / lr, us[0] / lrs[0], rtol=1e-5)


def test_flat_mode_and_checkpoint_restore_exactly(tmp_path):
    rng = np.random.default_rng(2)
    params = {"w": jnp.asarray(rng.normal(size=(40, 50)), jnp.float32), "b": jnp.zeros(50)}
    flat = fo.flat.flatten_params(params)
    opt = fo.adamw8bit(1e-2, min_size=0)
    s = opt.init(flat)
    assert all(isinstance(x, fo.QuantizedArray) for x in s[0].mu.buffers)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    ref = fo.adamw(1e-2)
    sr, step_r = ref.init(flat), jax.jit(ref.update)
    for _ in range(3):
        g = jax.tree.map(lambda x: jnp.sin(3 * x) + 0.1, flat)
        u, s = step(g, s, flat)
        ur, sr = step_r(g, sr, flat)
        assert float(jnp.linalg.norm(u.buffers[0] - ur.buffers[0]) / jnp.linalg.norm(ur.buffers[0])) < 0.03
        flat = fo.apply_updates(flat, u)
    fo.checkpoint.save(tmp_path / "ck", {"params": flat, "opt": s})
    back = fo.checkpoint.restore(tmp_path / "ck", {"params": flat, "opt": opt.init(flat)})
    assert jax.tree.structure(back) == jax.tree.structure({"params": flat, "opt": s})
    for a, b in zip(jax.tree.leaves(back["opt"]), jax.tree.leaves(s)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    u1, _ = step(g, s, flat)
    u2, _ = step(g, back["opt"], back["params"])
    np.testing.assert_array_equal(u1.buffers[0], u2.buffers[0])


# ------------------------------------------------------------------------ digits MLP, 3 seeds, vmapped


def test_digits_accuracy_within_one_point_of_float32_adamw():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        from _digits import cross_entropy, init_mlp, load_digits_data, mlp_logits
    finally:
        sys.path.pop(0)
    data = load_digits_data(seed=0)
    xtr, ytr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    xte, yte = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    steps, batch = 200, 64

    def run(opt, key):
        k_init, k_data = jax.random.split(key)
        params = init_mlp(k_init, (64, 64, 10))

        def body(carry, k):
            p, s = carry
            idx = jax.random.randint(k, (batch,), 0, xtr.shape[0])
            g = jax.grad(lambda q: cross_entropy(mlp_logits(q, xtr[idx]), ytr[idx]))(p)
            u, s = opt.update(g, s, p)
            return (fo.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(body, (params, opt.init(params)), jax.random.split(k_data, steps))
        return jnp.mean(jnp.argmax(mlp_logits(p, xte), -1) == yte)

    keys = jax.random.split(jax.random.key(0), 3)
    # min_size=0: every leaf, biases included, is 8-bit
    opts = {"f32": fo.adamw(3e-3, weight_decay=1e-4), "8bit": fo.adamw8bit(3e-3, weight_decay=1e-4, min_size=0)}
    # one program for both optimizers; backend optimization level 0 (LLVM time dominates this small model's
    # compilation, 3x faster; the accuracies are the same to the last digit)
    both = jax.jit(lambda keys: {k: jax.vmap(lambda key, o=o: run(o, key))(keys) for k, o in opts.items()})
    acc = jax.tree.map(np.asarray, both.lower(keys).compile({"xla_backend_optimization_level": 0})(keys))
    assert acc["f32"].mean() > 0.93, acc
    assert abs(acc["8bit"].mean() - acc["f32"].mean()) <= 0.01, acc


# ------------------------------------------------------------------------ sharding (8 simulated devices)


def test_quantized_state_follows_param_sharding(devices8):
    devices8.run(
        """
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import functional_opt as fo

        mesh = Mesh(np.array(jax.devices()), ("data",))
        sh = NamedSharding(mesh, P("data", None))
        w = jnp.asarray(np.random.default_rng(0).normal(size=(1024, 256)), jnp.float32)
        opt = fo.adam8bit(1e-3)
        ws = jax.device_put(w, sh)
        s = opt.init(ws)
        assert s[0].mu.codes.sharding.is_equivalent_to(sh, 2), s[0].mu.codes.sharding
        step = jax.jit(opt.update)
        u, s2 = step(ws, s, ws)
        for x in (u, s2[0].mu.codes, s2[0].nu.codes):
            assert x.sharding.is_equivalent_to(sh, 2), x.sharding
        assert s2[0].mu.scales.sharding.is_equivalent_to(sh, 2), s2[0].mu.scales.sharding
        u0, s0 = jax.jit(opt.update)(w, opt.init(w), w)
        np.testing.assert_allclose(np.asarray(u), np.asarray(u0), rtol=1e-6, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(s2[0].nu.codes), np.asarray(s0[0].nu.codes))
        print("OK")
        """
    )
