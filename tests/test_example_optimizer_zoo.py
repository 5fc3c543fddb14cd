"""Smoke test of examples/optimizer_zoo.py (--quick).

The whole registry (60+ entries, one jit compile per optimizer and problem)
takes minutes on a small shared CPU, so the test runs --quick on a sample
that covers each code path: one needing ``obj_fn``
(sophia), one needing ``grad_fn`` (sam) and a partitioned one (muon).
Every registry entry is covered by the
contract tests; the full zoo is ``python -m examples.optimizer_zoo``.
"""

import os

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

SAMPLE = ["muon", "sophia", "sam_sgd"]


def test_optimizer_zoo_quick(tmp_path, capsys):
    from examples import optimizer_zoo

    assert optimizer_zoo.main(["--quick", "--out", str(tmp_path), "--only", *SAMPLE]) == 0
    out = capsys.readouterr().out
    for name in SAMPLE + ["rank", "test acc", "f(final)"]:
        assert name in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert sorted(r[1] for r in rows) == sorted(SAMPLE)
    assert [int(r[0]) for r in rows] == list(range(1, len(SAMPLE) + 1))
    assert os.path.getsize(tmp_path / "rosenbrock_trajectories.png") > 5000


def test_optimizer_zoo_rejects_unknown_names(tmp_path):
    from examples import optimizer_zoo

    with pytest.raises(SystemExit):
        optimizer_zoo.main(["--quick", "--out", str(tmp_path), "--only", "no_such_optimizer"])
