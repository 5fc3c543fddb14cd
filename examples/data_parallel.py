"""Data-parallel training of the digits MLP over 8 devices, with ZeRO-1 optimizer state.

The same MLP (64-256-256-10, ReLU, AdamW) and the same minibatches are
trained five ways:

1. on one device (``fo.make_train_step``), the reference;
2. data-parallel over a 1-D mesh of 8 devices, params and state replicated;
3. the same with ZeRO-1 state (each device keeps 1/8 of AdamW's moments);
4. over a 2-D ``(data, model)`` mesh of 4 x 2 devices, the hidden layers split
   over ``model`` (tensor parallelism) and the batch over ``data``;
5. the same with ZeRO-1 state over ``data``.

It prints each run's per-device optimizer-state bytes (measured from the
arrays' ``addressable_shards``) and checks that every loss curve equals the
single-device one (to float32 round-off: only the order of the additions
differs). On a machine without 8 accelerators, the 8 devices are simulated
CPU devices (``--xla_force_host_platform_device_count=8``, set below before
jax is imported); on 8 GPUs or TPUs the script runs unchanged.

Run from the repository root::

    python -m examples.data_parallel [--steps 300] [--quick]
"""

from __future__ import annotations

import os

if "jax" not in __import__("sys").modules and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):  # simulated CPU devices must be requested before jax starts
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import argparse  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P

import functional_opt as fo  # noqa: E402
from examples import _digits  # noqa: E402

SIZES = (64, 256, 256, 10)
BATCH = 128  # divisible by the 8 (and 4) devices of the data axis
TOLERANCE = 1e-4  # max |loss difference| from the single-device run (float32 round-off over the run)


def loss_fn(params, x, y):
    return _digits.cross_entropy(_digits.mlp_logits(params, x), y)


def run_single(opt, params, data, steps):
    """The reference: one device, the whole batch."""
    state = opt.init(params)
    step = fo.make_train_step(loss_fn, opt)
    params = jax.tree.map(jnp.array, params)  # the step donates its inputs
    losses = []
    for x, y in _digits.minibatches(data, steps, BATCH):  # the same for every run
        params, state, loss = step(params, state, x, y)
        losses.append(float(loss))
    return params, state, np.array(losses)


def run_parallel(opt, params, data, steps, mesh, zero):
    """Data-parallel over ``mesh``'s ``data`` axis (params keep any ``model`` split they have)."""
    params, state = fo.sharding.prepare(opt, params, mesh, zero=zero)
    step = fo.sharding.make_train_step(loss_fn, opt, mesh, zero=zero)
    losses = []
    for x, y in _digits.minibatches(data, steps, BATCH):  # the same for every run
        params, state, loss = step(params, state, x, y)
        losses.append(float(loss))
    return params, state, np.array(losses)


def model_parallel(params, mesh):
    """Split the hidden layers over ``model`` (Megatron-style: columns, then rows); the head replicated."""
    specs = {
        "dense_0": {"kernel": P(None, "model"), "bias": P("model")},
        "dense_1": {"kernel": P("model", None), "bias": P()},
        "dense_2": {"kernel": P(), "bias": P()},
    }
    return jax.tree.map(lambda x, s: jax.device_put(x, NamedSharding(mesh, s)), params, specs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="a few steps (smoke test)")
    args = parser.parse_args(argv)
    steps = 8 if args.quick else args.steps
    if jax.device_count() < 8:
        print(f"needs 8 devices, found {jax.device_count()} (set XLA_FLAGS before jax is imported)")
        return 1

    data = _digits.load_digits_data()
    params = _digits.init_mlp(jax.random.PRNGKey(0), SIZES)
    opt = fo.adamw(1e-3, weight_decay=1e-4)
    devices = np.array(jax.devices()[:8])
    mesh1 = Mesh(devices, ("data",))
    mesh2 = Mesh(devices.reshape(4, 2), ("data", "model"))
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(f"digits MLP {SIZES}, {n_params:,} params, AdamW, batch {BATCH}, {steps} steps, {jax.device_count()} devices")

    ref_params, ref_state, ref_losses = run_single(opt, params, data, steps)
    runs = {
        "1 device": None,
        "data x8, replicated": (mesh1, False, params),
        "data x8, ZeRO-1": (mesh1, True, params),
        "data x4 . model x2": (mesh2, False, model_parallel(params, mesh2)),
        "data x4 . model x2, ZeRO-1": (mesh2, True, model_parallel(params, mesh2)),
    }
    ok = True
    print(f"\n{'run':<28} {'state bytes/device':>19} {'of 1 device':>12} {'max |loss diff|':>16} {'test acc':>9}")
    ref_bytes = max(fo.sharding.per_device_bytes(ref_state).values())
    for name, spec in runs.items():
        if spec is None:
            p, s, losses = ref_params, ref_state, ref_losses
        else:
            p, s, losses = run_parallel(opt, spec[2], data, steps, *spec[:2])
        per_device = fo.sharding.per_device_bytes(s)
        diff = float(np.max(np.abs(losses - ref_losses)))
        acc = _digits.accuracy(jax.device_get(p), data.x_test, data.y_test)
        nbytes = max(per_device.values())
        print(f"{name:<28} {nbytes:>19,} {nbytes / ref_bytes:>12.3f} {diff:>16.2e} {acc:>9.3f}")
        ok &= diff <= TOLERANCE
    print(
        f"\nfirst/last loss {ref_losses[0]:.4f} -> {ref_losses[-1]:.4f}; every curve equals the single-device "
        f"one to {TOLERANCE:g}: {'yes' if ok else 'NO'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
