"""benchmarks/bench_memory.py --quick runs and prints its table (timings are never asserted)."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("optax")


def test_bench_memory_quick_prints_table(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_memory", os.path.join(ROOT, "benchmarks", "bench_memory.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--quick", "--size", "16384", "--steps", "1", "--json", str(tmp_path / "m.json")])
    text = capsys.readouterr().out
    assert "state / optax f32" in text and " fo 8bit |" in text
    by = {r["variant"]: r for r in rows}
    assert set(by) == {"optax f32", "optax bf16", "fo f32", "fo bf16", "fo 8bit"}
    # bytes, not timings: the state's accounting (up to a few int32 counts); 4 leaves of 64 x 64
    n = 16384
    expect = {
        "optax f32": 8 * n,
        "fo f32": 8 * n,
        "optax bf16": 6 * n,
        "fo bf16": 4 * n,
        "fo 8bit": 2 * n + 8 * (n // 256),
    }
    for v, b in expect.items():
        assert b <= by[v]["state_bytes"] <= b + 16, (v, by[v]["state_bytes"], b)
    assert (tmp_path / "m.json").exists()
