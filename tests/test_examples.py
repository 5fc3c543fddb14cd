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
