"""Smoke test of examples/optimizer_zoo.py (--quick).

The whole registry (60+ entries, one jit compile per optimizer and problem)
takes minutes on a small shared CPU, so the test runs --quick on a sample
that covers each code path: one needing ``obj_fn``
(sophia), one needing ``grad_fn`` (sam), a partitioned one (muon) and a
parameter-free one (dadapt_adamw), each grid run as one ``fo.tune.sweep``.
Every registry entry is covered by the
contract tests; the full zoo is ``python -m examples.optimizer_zoo``.
"""

import os

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

SAMPLE = ["muon", "sophia", "sam_sgd", "dadapt_adamw"]


def test_optimizer_zoo_quick(tmp_path, capsys):
    from examples import optimizer_zoo

    assert optimizer_zoo.main(["--quick", "--out", str(tmp_path), "--only", *SAMPLE]) == 0
    out = capsys.readouterr().out
    for name in SAMPLE + ["rank", "test acc", "f(final)"]:
        assert name in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert sorted(r[1] for r in rows) == sorted(SAMPLE)
    assert [int(r[0]) for r in rows] == list(range(1, len(SAMPLE) + 1))
    assert all(r[2] == "sweep" for r in rows)  # every sample entry's grid ran as one fo.tune.sweep
    # --quick runs the grid centre: the parameter-free method at its documented learning rate 1.0
    assert float(next(r for r in rows if r[1] == "dadapt_adamw")[3]) == 1.0
    assert os.path.getsize(tmp_path / "rosenbrock_trajectories.png") > 5000


def test_optimizer_zoo_rejects_unknown_names(tmp_path):
    from examples import optimizer_zoo

    with pytest.raises(SystemExit):
        optimizer_zoo.main(["--quick", "--out", str(tmp_path), "--only", "no_such_optimizer"])


def test_optimizer_zoo_grids_centred_on_documented_scale():
    from examples import optimizer_zoo
    from tests.registry import REGISTRY

    for name in REGISTRY:
        grid = optimizer_zoo.lr_grid(name, quick=False)
        assert len(grid) == 4 and all(0 < lr for lr in grid), name
        assert optimizer_zoo.lr_grid(name, quick=True) == (optimizer_zoo.centre_lr(name),)
        assert optimizer_zoo.centre_lr(name) in grid, name
    for name in ["prodigy", "dadapt_adamw", "polyak_sgd", "schedule_free_sgd", "adadelta"]:
        assert optimizer_zoo.centre_lr(name) == 1.0, name
    assert optimizer_zoo.centre_lr("sgd") == 0.1
    assert optimizer_zoo.centre_lr("adam") == 1e-3
    assert optimizer_zoo.centre_lr("lion") == 1e-4


def test_optimizer_zoo_loop_fallback_matches_sweep():
    """An entry whose rate cannot be traced (``vmap_lr=False``) runs the old loop, to the same answer."""
    import dataclasses

    import jax.numpy as jnp
    import numpy as np

    from examples import optimizer_zoo
    from tests.registry import REGISTRY

    entry = REGISTRY["sgd"]
    grid = (1e-4, 1e-3, 1e-2)
    r0 = {"xy": jnp.asarray(optimizer_zoo.START, jnp.float32)}

    def metrics(params, losses, path):
        return {"loss": losses[-1], "path": path["xy"]}

    def search(e):
        return optimizer_zoo._grid_search(e, grid, metrics, r0, lambda p, b: optimizer_zoo.rosenbrock(p), jnp.zeros(20))

    lr_s, m_s, how_s = search(entry)
    lr_l, m_l, how_l = search(dataclasses.replace(entry, vmap_lr=False))
    assert (how_s, how_l) == ("sweep", "loop")
    assert lr_s == lr_l
    np.testing.assert_allclose(m_s["path"], m_l["path"], rtol=1e-5, atol=1e-6)
