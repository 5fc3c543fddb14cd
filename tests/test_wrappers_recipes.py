"""The README's recipes section runs as written."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def recipe_blocks() -> list[str]:
    text = README.read_text()
    start = text.index("<!-- section: recipes")
    end = text.index("<!-- section:", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_recipes_run(capsys):
    blocks = recipe_blocks()
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert "0.01" in capsys.readouterr().out
