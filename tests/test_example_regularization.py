"""Smoke test of examples/regularization.py in --quick mode (one seed, 200 steps)."""

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

NAMES = ["none", "L2 penalty (coupled)", "weight decay (AdamW)", "proximal L1", "dropout", "batch norm"]


def test_regularization_quick(tmp_path, capsys):
    from examples import regularization

    assert regularization.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "regularization.json").read_text())
    rows = report["results"]
    assert [r["variant"] for r in rows] == NAMES
    for name in NAMES + ["strength", "val acc", "train acc", "test acc", "gap", "exact zeros", "proximal L1 set"]:
        assert name in out
    by = {r["variant"]: r for r in rows}
    for r in rows:
        for k in ("train_acc", "val_acc", "test_acc", "zero_fraction"):
            assert 0.0 <= r[k] <= 1.0, (r["variant"], k)
        assert abs(r["gap"] - (r["train_acc"] - r["test_acc"])) < 1e-12
        assert r["test_acc"] > 0.5  # far above chance (10%) even after 200 steps
        # the chosen strength is a grid value, picked by the best validation accuracy
        for seed_row in r["per_seed"]:
            if r["grid"] is None:
                assert seed_row["strength"] is None
            else:
                assert seed_row["strength"] in r["grid"]
                best = max(seed_row["val_acc_per_strength"])
                assert seed_row["val_acc"] == best
    assert by["proximal L1"]["zero_fraction"] > 0  # soft-thresholding makes exact zeros
    for name in ("none", "L2 penalty (coupled)", "weight decay (AdamW)", "dropout"):
        assert by[name]["zero_fraction"] == 0  # gradient steps never land exactly on zero
    assert report["n_train"] < 400  # the demo trains on a small subset, so the baseline can overfit
    assert (tmp_path / "regularization.png").stat().st_size > 1000
