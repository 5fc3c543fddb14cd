"""The benchmark scripts run in --quick mode and print their tables (never timed here)."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("optax")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_step_quick_prints_table(capsys, tmp_path):
    out = tmp_path / "step.json"
    rows = _load("bench_step").main(
        [
            "--quick",
            "--size",
            "1024",
            "--opts",
            "adam",
            "--trees",
            "small",
            "--small-layers",
            "3",
            "--no-undonated",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert "| step/optax |" in text.replace("  ", " ") or "step/optax" in text
    for impl in ("optax", "fo", "fo-flat", "fo-flat1"):
        assert f"| {impl} |" in text.replace("  ", " ") or impl in text
    assert {r["impl"] for r in rows} == {"optax", "fo", "fo-flat", "fo-flat1"}
    assert len(rows) == 4
    assert json.loads(out.read_text())["rows"][0]["opt"] == "adam"


def test_bench_train_quick_prints_table(capsys):
    rows = _load("bench_train").main(
        ["--quick", "--layers", "2", "--models", "resmlp", "--variants", "optax tree,fo tree,fo flat"]
    )
    text = capsys.readouterr().out
    assert "step ratio" in text and "compile ratio" in text
    assert {r["variant"] for r in rows} == {"optax tree", "fo tree", "fo flat"}
