"""Smoke tests of the schedule examples in quick mode."""

import os

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_plot_schedules(tmp_path, capsys):
    from examples import plot_schedules

    assert plot_schedules.main(["--out", str(tmp_path)]) == 0
    assert "panels written" in capsys.readouterr().out
    assert os.path.getsize(tmp_path / "schedules.png") > 20000


def test_compare_schedules_quick(tmp_path, capsys):
    from examples import compare_schedules

    assert compare_schedules.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ["constant", "step decay", "exponential decay", "cyclical", "warmup-cosine", "test acc"]:
        assert name in out
    assert os.path.getsize(tmp_path / "schedules_training.png") > 5000
