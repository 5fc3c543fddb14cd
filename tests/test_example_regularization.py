"""Smoke test of examples/regularization.py in --quick mode."""

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_regularization_quick(tmp_path, capsys):
    from examples import regularization

    assert regularization.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "regularization.json").read_text())
    names = [r["variant"] for r in rows]
    assert len(names) == 6 and names[0] == "none" and names[-1] == "batch norm"
    for name in names + ["train acc", "test acc", "gap", "exact zeros", "proximal L1 set"]:
        assert name in out
    by = {r["variant"]: r for r in rows}
    assert by["proximal L1"]["zero_fraction"] > 0  # soft-thresholding makes exact zeros
    assert by["none"]["zero_fraction"] == 0 and by["L2 penalty (coupled)"]["zero_fraction"] == 0
    for r in rows:  # 40 steps of Adam already beat chance (10%) by far
        assert r["test_acc"] > 0.5 and abs(r["gap"] - (r["train_acc"] - r["test_acc"])) < 1e-12
    assert (tmp_path / "regularization.png").stat().st_size > 1000
