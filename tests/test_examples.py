"""Smoke tests of the core examples at tiny sizes."""

import os

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_compare_optimizers_quick(tmp_path, capsys):
    from examples import compare_optimizers

    assert compare_optimizers.main(["--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ["gradient descent", "momentum", "RMSProp", "Adam", "test acc", "steps/s"]:
        assert name in out
    assert os.path.getsize(tmp_path / "loss_curves.png") > 1000


def test_digits_training_is_deterministic():
    import numpy as np

    import functional_opt as fo
    from examples import _digits

    data = _digits.load_digits_data(seed=0)
    a = _digits.train(fo.adam(1e-3), data, steps=20, seed=3)
    b = _digits.train(fo.adam(1e-3), data, steps=20, seed=3)
    np.testing.assert_array_equal(a.losses, b.losses)


def test_demo_quick_writes_the_tuning_report(tmp_path, capsys):
    """The main job (`python -m examples.demo --quick`): the tuning report first, then the other sections."""
    from examples import demo

    assert demo.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("=== Tuning report") < out.index("=== Learning-rate schedules") < out.index("=== Regularization")
    # 1. lr_find, 2. the sweep table (mean ± std over seeds), 3. the best configurations' test accuracy, 4. pbt
    assert "Learning-rate range test, Adam" in out and "steepest descent at lr" in out
    assert "val loss (mean ± std)" in out and "warmup-cosine" in out
    for name in ["gradient descent", "Adam", "test acc"]:
        assert name in out
    assert "Population-based training of Adam's learning rate" in out
    for png in ["lr_find_adam.png", "tuning_heatmap.png", "tuning_best_curves.png", "tuning_pbt.png"]:
        assert os.path.getsize(tmp_path / png) > 1000, png
    assert "demo finished" in out
