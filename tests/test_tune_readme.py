"""The README's Tuning section runs as written and finds the configuration it says."""

from __future__ import annotations

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def tuning_blocks() -> list[str]:
    text = README.read_text()
    start = text.index("<!-- section: tuning")
    end = text.index("<!-- section:", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_tuning_section_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("optuna")
    blocks = tuning_blocks()
    assert len(blocks) == 3  # sweep and lr_find; optuna; pbt
    monkeypatch.chdir(tmp_path)  # the example writes its plots to the working directory
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "{'learning_rate': 0.1, 'weight_decay': 0.0}" in out
    assert (tmp_path / "sweep.png").stat().st_size > 0 and (tmp_path / "lr_find.png").stat().st_size > 0
    assert 0.0 < namespace["lr"].suggestion < 10.0
    assert namespace["study"].best_params["learning_rate"] > 1e-2  # the grid's best was 0.1
    assert namespace["r"].scores.shape == (10, 8)
