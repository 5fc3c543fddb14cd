"""Checkpoints: exact round trips, clear mismatch and corruption errors, atomic
writes under SIGKILL, and bit-exact resume in a fresh process for every
optimizer in the registry."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import struct
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import checkpoint
from functional_opt.checkpoint import CheckpointError
from tests.registry import REGISTRY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}


def bits(tree):
    """Every leaf as its raw bytes, so equality is bit equality (NaN and -0.0 included)."""
    return [(str(np.asarray(x).dtype), np.shape(x), np.asarray(x).tobytes()) for x in jax.tree.leaves(tree)]


def sample_tree():
    params = {
        "s": jnp.asarray(0.25, jnp.float32),
        "v": jnp.asarray([1.5, -2.0, 3.0], jnp.bfloat16),
        "m": jnp.asarray([[0.1, 0.2], [-0.3, 65000.0]], jnp.float16),
        "frozen": None,
        "z": jnp.zeros((0, 2), jnp.float32),
        "c": jnp.asarray([1 + 2j, -0.5j], jnp.complex64),
    }
    opt = fo.adam(0.1)
    state = opt.init(params)
    grads = jax.tree.map(lambda p: p * 0.5 + 1, params)
    _, state = opt.update(grads, state, params)
    extra = {"step": jnp.int32(7), "flag": jnp.asarray([True, False]), "weak": jnp.asarray(0.5)}
    return (params, state, extra)


def test_round_trip_is_bit_exact_with_types(tmp_path):
    tree = sample_tree()
    f = tmp_path / "ckpt"
    checkpoint.save(f, tree)
    out = checkpoint.restore(f, jax.eval_shape(lambda: tree))
    assert jax.tree.structure(out) == jax.tree.structure(tree)
    assert type(out[1][0]) is fo.ScaleByAdamState
    assert out[0]["frozen"] is None
    assert bits(out) == bits(tree)
    assert out[2]["weak"].weak_type and not out[2]["step"].weak_type
    # a concrete tree works as the target too
    assert bits(checkpoint.restore(f, tree)) == bits(tree)


def test_weak_types_survive_a_round_trip(tmp_path):
    # weakly typed leaves of every kind and rank come back weak (no retrace after a restore) and bit-exact
    tree = {
        "f": jnp.asarray(0.1),
        "i": jnp.asarray(3),
        "c": jnp.asarray(1 - 2j),
        "vec": jnp.full((2, 3), 0.25),
        "strong": jnp.float32(0.1),
    }
    assert all(tree[k].weak_type for k in ("f", "i", "c", "vec"))
    checkpoint.save(tmp_path / "w", tree)
    out = checkpoint.restore(tmp_path / "w", jax.eval_shape(lambda: tree))
    assert {k: v.weak_type for k, v in out.items()} == {k: v.weak_type for k, v in tree.items()}
    assert bits(out) == bits(tree)


def test_typed_prng_keys_round_trip(tmp_path):
    tree = {"key": jax.random.key(3), "keys": jax.random.split(jax.random.key(1), 3), "raw": jax.random.PRNGKey(2)}
    checkpoint.save(tmp_path / "k", tree)
    out = checkpoint.restore(tmp_path / "k", jax.eval_shape(lambda: tree))
    assert jnp.issubdtype(out["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.normal(out["key"], (3,)), jax.random.normal(tree["key"], (3,)))
    np.testing.assert_array_equal(jax.random.key_data(out["keys"]), jax.random.key_data(tree["keys"]))


def _parse_documented_format(path):
    """An independent reader written from the module docstring alone (numpy, json, hashlib)."""
    import ml_dtypes

    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"FOCKPT\x00\x01"
    (hlen,) = struct.unpack("<Q", raw[8:16])
    assert hashlib.sha256(raw[:-32]).digest() == raw[-32:]
    header = json.loads(raw[16 : 16 + hlen])
    start = 16 + hlen
    out = {}
    for leaf in header["leaves"]:
        dt = np.dtype(getattr(ml_dtypes, leaf["dtype"], None) or leaf["dtype"])
        b = raw[start + leaf["offset"] : start + leaf["offset"] + leaf["nbytes"]]
        out[leaf["path"]] = np.frombuffer(b, dt).reshape(leaf["shape"])
    return out


def test_load_arrays_without_library_classes_matches_documented_format(tmp_path):
    tree = sample_tree()
    f = tmp_path / "ckpt"
    checkpoint.save(f, tree)
    plain = checkpoint.load_arrays(f)
    assert all(type(v) is np.ndarray for v in plain.values())
    ref = _parse_documented_format(f)
    assert list(plain) == list(ref)
    assert "[1][0].mu['v']" in plain and "[0]['frozen']" not in plain
    for k in ref:
        assert plain[k].dtype == ref[k].dtype and plain[k].tobytes() == ref[k].tobytes(), k
    assert plain["[0]['v']"].dtype.name == "bfloat16"
    np.testing.assert_array_equal(plain["[2]['step']"], 7)


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda t: ({**t[0], "extra": jnp.ones(2)}, t[1], t[2]), "[0]['extra']"),  # target has a leaf more
        (lambda t: ({k: v for k, v in t[0].items() if k != "s"}, t[1], t[2]), "[0]['v']"),  # a leaf less
        (lambda t: ({**t[0], "v": jnp.ones(4, jnp.bfloat16)}, t[1], t[2]), "[0]['v']"),  # shape
        (lambda t: ({**t[0], "m": t[0]["m"].astype(jnp.float32)}, t[1], t[2]), "[0]['m']"),  # dtype
        (lambda t: (t[0], t[1], {**t[2], "step": jnp.float32(7)}), "[2]['step']"),  # int vs float
        (lambda t: (t[0], fo.sgd(0.1, momentum=0.9).init(t[0]), t[2]), "[1][0]"),  # another optimizer's state
    ],
)
def test_mismatch_names_the_first_differing_key_path(tmp_path, mutate, where):
    tree = sample_tree()
    checkpoint.save(tmp_path / "c", tree)
    with pytest.raises(CheckpointError, match=r"key path " + __import__("re").escape(where)):
        checkpoint.restore(tmp_path / "c", jax.eval_shape(lambda: mutate(tree)))


def test_container_type_mismatch(tmp_path):
    checkpoint.save(tmp_path / "c", [jnp.ones(2)])
    with pytest.raises(CheckpointError, match="container types differ"):
        checkpoint.restore(tmp_path / "c", (jnp.ones(2),))


def test_float64_needs_x64(tmp_path):
    checkpoint.save(tmp_path / "c", {"w": np.ones(2, np.float64)})
    with pytest.raises(CheckpointError, match="x64"):
        checkpoint.restore(tmp_path / "c", {"w": np.ones(2, np.float64)})
    with jax.enable_x64(True):
        out = checkpoint.restore(tmp_path / "c", {"w": np.ones(2, np.float64)})
        assert out["w"].dtype == jnp.float64


def _corruptions(raw):
    hlen = struct.unpack("<Q", raw[8:16])[0]
    flipped = bytearray(raw)
    flipped[16 + hlen + 3] ^= 0x01  # one bit of the first leaf's data
    header_flip = bytearray(raw)
    header_flip[20] ^= 0x20
    return {
        "bit flip in data": (bytes(flipped), "checksum"),
        "bit flip in header": (bytes(header_flip), "checksum"),
        "truncated": (raw[: len(raw) // 2], "truncated|checksum"),
        "checksum cut": (raw[:-5], "checksum|truncated"),
        "empty": (b"", "not a functional_opt checkpoint"),
        "foreign": (b"PK\x03\x04" + os.urandom(200), "not a functional_opt checkpoint"),
        "newer version": (raw[:7] + b"\x09" + raw[8:], "unsupported checkpoint format version"),
    }


@pytest.mark.parametrize("kind", list(_corruptions(b"\x00" * 64)))
def test_corrupt_files_raise_never_a_partial_state(tmp_path, kind):
    tree = sample_tree()
    f = tmp_path / "c"
    checkpoint.save(f, tree)
    bad, msg = _corruptions(f.read_bytes())[kind]
    f.write_bytes(bad)
    with pytest.raises(CheckpointError, match=msg):
        checkpoint.restore(f, jax.eval_shape(lambda: tree))
    with pytest.raises(CheckpointError, match=msg):
        checkpoint.load_arrays(f)


def test_missing_file_and_unsavable_leaves(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.restore(tmp_path / "nope", {"w": jnp.ones(2)})
    with pytest.raises(TypeError, match=r"\['name'\]"):
        checkpoint.save(tmp_path / "c", {"name": "adam", "w": jnp.ones(2)})
    with pytest.raises(TypeError, match=r"\['w'\].*ShapeDtypeStruct"):
        checkpoint.save(tmp_path / "c", {"w": jax.ShapeDtypeStruct((2,), jnp.float32)})
    assert not os.listdir(tmp_path)  # a failed save leaves nothing behind


def test_failure_before_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    f = tmp_path / "c"
    checkpoint.save(f, {"w": jnp.zeros(3)})
    before = f.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(f, {"w": jnp.ones(3)})
    assert f.read_bytes() == before and os.listdir(tmp_path) == ["c"]


# One child imports the library once, then per line "<path> <delay>" forks a writer that saves new versions
# to <path> in a loop, SIGKILLs it after <delay> seconds and reaps it (no jax backend or thread exists before
# the fork: importing functional_opt starts none).
_KILL_CHILD = """
import os
import sys
import time
import numpy as np
from functional_opt import checkpoint


def write_forever(path, parent):
    k = 0
    while os.getppid() == parent:  # (ends if this child dies first)
        k += 1
        checkpoint.save(path, {"a": np.full(1 << 20, k, np.float32), "b": np.full(1 << 19, -k, np.float32),
                               "k": np.asarray(k, np.int32)})


print("ready", flush=True)
for line in sys.stdin:
    path, delay = line.rsplit(" ", 1)
    pid = os.fork()
    if pid == 0:
        write_forever(path, os.getppid())
        os._exit(0)
    time.sleep(float(delay))
    os.kill(pid, 9)  # SIGKILL: no cleanup handlers run
    os.waitpid(pid, 0)
    print("killed", flush=True)
"""


def test_sigkill_mid_save_leaves_a_loadable_checkpoint(tmp_path):
    rng = random.Random(0)
    target = {"a": jnp.zeros(1 << 20), "b": jnp.zeros(1 << 19), "k": jnp.zeros((), jnp.int32)}
    dirs = [tmp_path / f"d{i}" for i in range(5)]
    files = [d / "ckpt" for d in dirs]
    for f in files:
        f.parent.mkdir()
        checkpoint.save(
            f, {"a": np.zeros(1 << 20, np.float32), "b": np.zeros(1 << 19, np.float32), "k": np.asarray(0, np.int32)}
        )
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV, text=True
    )
    versions, mid_save = [], 0
    try:
        assert child.stdout.readline().strip() == "ready"
        for f in files:
            child.stdin.write(f"{f} {rng.uniform(0.05, 0.6)}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "killed"
            mid_save += any(n.endswith(".tmp") for n in os.listdir(f.parent))
            out = checkpoint.restore(f, target)
            k = int(out["k"])
            assert np.all(np.asarray(out["a"]) == k) and np.all(np.asarray(out["b"]) == -k), "mixed versions"
            versions.append(k)
    finally:
        child.stdin.close()
        child.kill()
        child.wait()
        child.stdout.close()
    assert max(versions) > 0, f"no child got a save done: {versions}"
    assert mid_save >= 1, "no kill landed in the middle of a save; the test did not exercise atomicity"


# ---------- exact resume in a fresh process, for every registry optimizer ----------
# The jitted step below is shared with tests/test_numerics.py (one compile per optimizer and layout).

N_STEPS, M_STEPS, LR = 3, 3, 1e-2


def params0(kind="mixed"):
    """Tiny params: float32 scalar, vector and matrix leaves, plus float16 and bfloat16 leaves
    (``kind="mixed"``), or the float32 leaves in float64 (``kind="f64"``, needs x64)."""
    hi = jnp.float32 if kind == "mixed" else jnp.float64
    tree = {
        "s": jnp.asarray(0.5, hi),
        "v": jnp.linspace(-1.0, 1.0, 3).astype(hi),
        "m": (jnp.arange(6.0).reshape(2, 3) / 6.0 - 0.3).astype(hi),
    }
    if kind == "mixed":
        tree["h"] = jnp.asarray([0.75, -0.5, 0.25], jnp.float16)
        tree["b"] = jnp.asarray([[1.0, -0.25], [0.5, 2.0]], jnp.bfloat16)
    return tree


@functools.cache
def registry_step(name, kind="mixed"):
    """``(opt, step)`` with ``step(params, state, t, scales, anchor) -> (params, state, updates)``.

    The gradient of leaf ``i`` is ``scales_i * (i + w_t) * (anchor_i - 0.1)`` in the leaf's dtype:
    training passes ``anchor = params`` (the gradient of a weighted quadratic) and unit scales;
    the numerics tests pass a fixed anchor and 0, 1e-30 or 1e30 scales.
    """
    entry = REGISTRY[name]
    opt = entry.make(LR)

    @jax.jit
    def step(params, state, t, scales, anchor):
        w = 1.0 + 0.25 * jnp.sin(t.astype(jnp.float32))
        leaves, treedef = jax.tree.flatten(anchor)
        sc = jax.tree.leaves(scales)
        g = [(c * (i + w) * (a.astype(jnp.float32) - 0.1)).astype(a.dtype) for i, (c, a) in enumerate(zip(sc, leaves))]
        g = treedef.unflatten(g)
        value = sum(
            jnp.sum(0.5 * (i + w) * jnp.square(p.astype(jnp.float32) - 0.1))
            for i, p in enumerate(jax.tree.leaves(params))
        )
        extra = dict(entry.extra)
        if "value" in extra:
            extra["value"] = value
        u, state = opt.update(g, state, params, **extra)
        return fo.apply_updates(params, u), state, u

    return opt, step


def _train(name, params, state, start, n):
    _, step = registry_step(name)
    ones = jax.tree.map(lambda p: jnp.float32(1), params)
    for t in range(start, start + n):
        params, state, _ = step(params, state, jnp.int32(t), ones, params)
    return params, state


def _resume_child(directory, names):
    """Run in a fresh interpreter: restore each checkpoint, train M more steps, save.

    The child inherits the session's persistent compilation cache (tests/conftest.py), so it
    loads the steps the parent compiled instead of compiling them again."""
    for name in names:
        opt, _ = registry_step(name)
        target = jax.eval_shape(lambda opt=opt: (params0(), opt.init(params0())))
        params, state = checkpoint.restore(os.path.join(directory, name + ".ckpt"), target)
        checkpoint.save(os.path.join(directory, name + ".out"), _train(name, params, state, N_STEPS, M_STEPS))


def test_resume_in_fresh_process_is_bit_identical_for_every_optimizer(tmp_path):
    """One child process resumes every optimizer (one interpreter start-up for the whole registry)."""
    names = sorted(REGISTRY)
    finals = {}
    for name in names:
        opt, _ = registry_step(name)
        params, state = _train(name, params0(), opt.init(params0()), 0, N_STEPS)
        checkpoint.save(tmp_path / (name + ".ckpt"), (params, state))
        finals[name] = _train(name, params, state, N_STEPS, M_STEPS)
    code = f"import sys; from tests.test_checkpoint import _resume_child; _resume_child(sys.argv[1], {names!r})"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    differ = []
    for name in names:
        resumed = checkpoint.restore(tmp_path / (name + ".out"), finals[name])
        if bits(resumed[0]) != bits(finals[name][0]) or bits(resumed[1]) != bits(finals[name][1]):
            differ.append(name)
    assert not differ, f"resumed run differs from the uninterrupted one for {differ}"


def test_orbax_saved_state_restores_and_resumes_exactly(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    opt, _ = registry_step("adam")
    params, state = _train("adam", params0(), opt.init(params0()), 0, N_STEPS)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(tmp_path / "orbax", (params, state))
        ckptr.wait_until_finished()
        target = jax.eval_shape(lambda: (params, state))
        p2, s2 = ckptr.restore(tmp_path / "orbax", target)
    assert type(s2[0]) is fo.ScaleByAdamState
    assert bits(_train("adam", p2, s2, N_STEPS, M_STEPS)) == bits(_train("adam", params, state, N_STEPS, M_STEPS))


def _orbax_states():
    """States a user checkpoints with orbax: masks and partitions over params with a ``None`` leaf, plateau, inject."""
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.full((2,), 0.5)}, "frozen": None}
    no_bias = fo.labels_by_regex([(".*bias", False)], default=True)
    groups = fo.labels_by_regex({".*bias": "bias"}, default="weights")
    opts = {
        "adamw_masked": fo.adamw(1e-2, weight_decay=0.1, mask=no_bias),
        "partition": fo.partition({"bias": fo.sgd(0.1, momentum=0.9), "weights": fo.adam(0.1)}, groups),
        "plateau": fo.chain(fo.adam(0.1), fo.reduce_on_plateau(patience=1)),
        "inject": fo.inject_hyperparams(fo.adamw)(learning_rate=0.1, weight_decay=0.1, mask=no_bias),
    }
    grads = jax.tree.map(lambda p: p * 0.5 + 1, params)
    out = {}
    for name, opt in opts.items():
        state = opt.init(params)
        for loss in (1.0, 2.0):  # the second loss is worse: the plateau scale drops
            _, state = opt.update(grads, state, params, value=jnp.asarray(loss))
        out[name] = (params, state)
    return out


def test_orbax_round_trips_masked_partitioned_and_injected_states(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    trees = _orbax_states()
    with ocp.StandardCheckpointer() as ckptr:
        for name, tree in trees.items():
            ckptr.save(tmp_path / name, tree)
        ckptr.wait_until_finished()
        abstract = {name: jax.eval_shape(lambda t=tree: t) for name, tree in trees.items()}
        restored = {name: ckptr.restore(tmp_path / name, abstract[name]) for name in trees}
    for name, tree in trees.items():
        assert jax.tree.structure(restored[name]) == jax.tree.structure(tree), name  # types and None leaves kept
        assert bits(restored[name]) == bits(tree), name
    assert float(fo.current_hyperparams(restored["plateau"][1])["plateau_scale"]) < 1.0
