"""The documentation site: generated reference pages are up to date, and every page's code runs."""

from __future__ import annotations

import pathlib

import pytest

from tools import gen_docs

PAGES = gen_docs.pages_with_code()


def test_the_reference_pages_are_generated_from_the_current_names(capsys):
    assert gen_docs.main(["--check"]) == 0, capsys.readouterr().out


def test_every_public_name_has_a_reference_entry():
    import functional_opt as fo

    text = "".join(p.read_text() for p in (gen_docs.ROOT / "docs" / "api").glob("*.md"))
    entries = {line.split()[-1].rsplit(".", 1)[-1] for line in text.splitlines() if line.startswith(":::")}
    import types

    names = {n for n in fo.__all__ if not isinstance(getattr(fo, n), types.ModuleType)}
    assert names - entries == set()


def test_the_pages_have_code():
    assert len(PAGES) >= 8


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(gen_docs.ROOT / "docs")) for p in PAGES])
def test_page_code_runs(page: pathlib.Path, tmp_path, capsys):
    gen_docs.run_page(page, tmp_path)
    capsys.readouterr()


def test_every_optax_name_resolves_here_or_has_a_reason():
    pytest.importorskip("optax")
    from tools import optax_parity

    rows = optax_parity.surface()
    missing = {path for path, _, ok in rows if not ok}
    assert missing <= set(optax_parity.NOT_PROVIDED), sorted(missing - set(optax_parity.NOT_PROVIDED))
    assert len(missing) < 25
    assert set(optax_parity.NOT_PROVIDED) <= missing, "a listed name is provided now: drop its entry"
