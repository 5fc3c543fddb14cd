"""Smoke test of examples/data_parallel.py in --quick mode (8 simulated devices, a few steps).

A child process, because the device count is fixed when jax starts (the
example sets ``XLA_FLAGS`` itself only when jax is not imported yet).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_data_parallel_quick():
    flags = "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-W", "error", "-m", "examples.data_parallel", "--quick"]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}"
    assert "equals the single-device one" in r.stdout and ": yes" in r.stdout, r.stdout
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"(\S.*?)\s{2,}([\d,]+)\s+([\d.]+)\s+([\d.e+-]+)\s+([\d.]+)$", line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(",", "")), float(m.group(4)))
    assert len(rows) == 5, r.stdout
    single = rows["1 device"][0]
    assert rows["data x8, replicated"][0] == single
    # ZeRO-1: each device keeps about 1/8 of AdamW's moments (biases under 1,024 elements stay replicated)
    assert rows["data x8, ZeRO-1"][0] < single / 7, rows
    assert rows["data x4 . model x2"][0] < single * 0.6, rows  # the hidden layers split over model
    assert rows["data x4 . model x2, ZeRO-1"][0] < single / 7, rows
    assert all(diff <= 1e-4 for _, diff in rows.values()), rows
