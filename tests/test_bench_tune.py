"""benchmarks/bench_tune.py --quick runs in a subprocess and prints its table (timings are never asserted)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("optax")
pytest.importorskip("sklearn")


def test_bench_tune_quick_prints_table(tmp_path):
    out = tmp_path / "tune.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_tune.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for way in ("sweep", "sequential", "sequential_scan", "optax", "sweep_fast", "sequential_fast"):
        assert f"| {way} |" in text
    assert "agree across all ways: yes" in text
    assert "steady state (run only" in text
    assert "target sweep <= 0.25x optax" in text and "target sweep <= 0.5x sequential" in text
    data = json.loads(out.read_text())
    assert data["losses_agree"]
    assert data["ways"]["sweep"]["traces"] == 1 and data["ways"]["sequential"]["traces"] == 1
    assert data["ways"]["optax"]["traces"] == data["configs"] == 4
    assert data["ways"]["sweep"]["compiles"] == 1  # the seed keys are split inside the sweep's program
    for way in data["ways"].values():
        assert way["compile_seconds"] >= 0 and way["seconds"] >= way["compile_seconds"]
