"""Two processes, one mesh: ZeRO-1 training over 8 devices of 2 hosts, an orbax checkpoint, same numbers.

Two worker processes on localhost (4 simulated CPU devices each, collectives
through gloo) call ``jax.distributed.initialize`` and then run the same code
as one process would: a mesh over the 8 global devices, ``fo.sharding.prepare``
with ZeRO-1 state, 3 data-parallel steps (each process feeds its half of every
batch), an orbax checkpoint (each process writes its shards), a restore into
the ZeRO-1 shardings, 2 more steps. Both must end with the params of a
single-device run of the same 5 steps (computed here, in the test process), to
1e-6, and restore the checkpoint exactly.

Every wait has a timeout, so a hang (a worker that dies before a collective)
fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, SAVE_AT, BATCH, SIZES = 5, 3, 64, (64, 32, 10)

WORKER = """
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

port, pid, ckpt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid, initialization_timeout=60
)
import orbax.checkpoint as ocp

import functional_opt as fo
from tests.test_multiprocess import data, init_params, loss_fn, make_opt, SAVE_AT, STEPS, BATCH

assert jax.process_count() == 2 and jax.device_count() == 8 and jax.local_device_count() == 4
mesh = Mesh(np.array(jax.devices()), ("data",))
opt = make_opt()
params, state = fo.sharding.prepare(opt, init_params(), mesh, zero=True)
# ZeRO-1: every device holds 1/8 of the kernels' moments
mu = state[0].mu["dense_0"]["kernel"]
assert mu.sharding.spec == jax.sharding.PartitionSpec("data"), mu.sharding
assert {s.data.shape for s in mu.addressable_shards} == {(8, 32)}, [s.data.shape for s in mu.addressable_shards]
step = fo.sharding.make_train_step(loss_fn, opt, mesh, zero=True)
xs, ys = data()
half = slice(pid * BATCH // 2, (pid + 1) * BATCH // 2)  # this process's rows of each batch


def train(params, state, steps):
    for i in steps:
        x, y = fo.sharding.shard_batch((xs[i][half], ys[i][half]), mesh)
        params, state, loss = step(params, state, x, y)
    return params, state


params, state = train(params, state, range(SAVE_AT))
tree = {"params": params, "state": state}
local = lambda t: [np.asarray(x.addressable_shards[0].data) for x in jax.tree.leaves(t)]
before = local(tree)
with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.join(ckpt, "step3"), tree)
    ckptr.wait_until_finished()
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
    restored = ckptr.restore(os.path.join(ckpt, "step3"), abstract)
assert jax.tree.structure(restored) == jax.tree.structure(tree)
for a, b in zip(local(restored), before):
    np.testing.assert_array_equal(a, b)
for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(tree)):
    assert a.sharding.is_equivalent_to(b.sharding, a.ndim), (a.sharding, b.sharding)
del params, state, tree
params, state = train(restored["params"], restored["state"], range(SAVE_AT, STEPS))
final = {"/".join(str(k.key) for k in path): np.asarray(x.addressable_shards[0].data)
         for path, x in jax.tree_util.tree_flatten_with_path(params)[0]}
np.savez(os.path.join(ckpt, f"final_{pid}.npz"), **final)
print("OK", pid)
"""


def init_params():
    """A digits-like MLP (64 inputs, 10 classes), seeded."""
    rng = np.random.default_rng(0)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        w = (rng.normal(size=(n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        params[f"dense_{i}"] = {"kernel": w, "bias": np.zeros((n_out,), np.float32)}
    return params


def data():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(STEPS, BATCH, SIZES[0])).astype(np.float32)
    ys = rng.integers(0, SIZES[-1], size=(STEPS, BATCH)).astype(np.int32)
    return xs, ys


def loss_fn(params, x, y):
    import jax
    import jax.numpy as jnp

    h = jax.nn.relu(x @ params["dense_0"]["kernel"] + params["dense_0"]["bias"])
    logits = h @ params["dense_1"]["kernel"] + params["dense_1"]["bias"]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))


def make_opt():
    import functional_opt as fo

    return fo.adamw(1e-2, weight_decay=1e-2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_zero1_checkpoint(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    import jax
    import jax.numpy as jnp

    import functional_opt as fo

    # the reference: one process, one device, the whole batch
    opt = make_opt()
    params = jax.tree.map(jnp.asarray, init_params())
    state, step = opt.init(params), fo.make_train_step(loss_fn, opt)
    for x, y in zip(*data()):
        params, state, _ = step(params, state, x, y)

    flags = "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    port = free_port()
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(port), str(i), str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=180))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        outs = [p.communicate() for p in procs]
        pytest.fail("a worker hung:\n" + "\n".join(f"--- {o}\n--- {e[-3000:]}" for o, e in outs))
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0 and f"OK {i}" in out, f"worker {i} exited {p.returncode}\n{out}\n{err[-4000:]}"
    for i in range(2):
        final = np.load(tmp_path / f"final_{i}.npz")
        for layer, leaves in params.items():
            for name, ref in leaves.items():
                np.testing.assert_allclose(final[f"{layer}/{name}"], np.asarray(ref), rtol=1e-6, atol=1e-6)
