"""Generate the documentation site's reference pages from the package's public names.

    python -m tools.gen_docs          # (re)write docs/api/*.md and docs/migration.md
    python -m tools.gen_docs --check  # exit 1 if a generated page is stale (run by the tests)
    python -m tools.gen_docs --figures  # run every page's code blocks next to the page (its PNGs)

Every public name of ``functional_opt`` (and of its own namespaces ``fo.flat``,
``fo.checkpoint``, ``fo.tune``, ...) gets one ``::: functional_opt.<name>``
entry, rendered by mkdocstrings from its docstring, on the page of its concept
(the package directory its code lives in). The migration page lists every
public name of the installed optax and the equivalent here (or the reason
there is none), from ``docs/migration_notes.toml``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import re
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"

# page file -> (title, intro, module prefixes whose top-level names go there)
PAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "core.md": (
        "Core",
        "The transformation type, composition, applying updates, the training step.",
        (
            "functional_opt.base",
            "functional_opt._tree",
            "functional_opt._hparams",
            "functional_opt.train_step",
            "functional_opt.numerics",
        ),
    ),
    "optimizers.md": (
        "Optimizers",
        "Each optimizer is a documented `chain(...)` of the transforms; its docstring gives the update rule.",
        ("functional_opt.optimizers",),
    ),
    "transforms.md": (
        "Transforms",
        "One algorithmic idea each, with its state type. Chain them with `fo.chain`.",
        ("functional_opt.transforms",),
    ),
    "schedules.md": (
        "Schedules",
        "Learning-rate (and other hyperparameter) schedules: `step -> value`, jit- and vmap-safe.",
        ("functional_opt.schedules",),
    ),
    "wrappers.md": (
        "Wrappers",
        "Parameter groups, masking, accumulation, guards, averaging, injected hyperparameters, SAM.",
        ("functional_opt.wrappers", "functional_opt.sam"),
    ),
    "losses.md": (
        "Losses and regularization",
        "Losses (`fo.losses`), penalties, dropout and batch normalization.",
        ("functional_opt.losses", "functional_opt.regularizers", "functional_opt.batch_norm"),
    ),
}


def _section(module: str) -> str:
    """``functional_opt.transforms.adam`` -> ``adam``: one section per implementation module."""
    return module.rsplit(".", 1)[-1].lstrip("_") or module


def _defining_module(name: str, obj: object) -> str:
    """The functional_opt module that defines ``name`` (type aliases report ``typing`` as their module)."""
    module = getattr(obj, "__module__", "") or ""
    if module.startswith("functional_opt") and getattr(obj, "__name__", name) == name:
        return module  # an alias (optax's ClipState = EmptyState) is documented where it is assigned
    import inspect
    import sys

    for mod_name, mod in sorted(sys.modules.items()):
        if mod_name.startswith("functional_opt") and getattr(mod, name, None) is obj:
            try:
                source = inspect.getsource(mod)
            except (OSError, TypeError):
                continue
            if re.search(rf"^{name}\b.*=", source, flags=re.M):
                return mod_name
    return module


def render() -> dict[str, str]:
    """``{filename: text}`` of every generated page."""
    import functional_opt as fo

    grouped: dict[str, dict[str, list[str]]] = {page: {} for page in PAGES}
    own: dict[str, types.ModuleType] = {}
    for name in fo.__all__:
        obj = getattr(fo, name)
        if isinstance(obj, types.ModuleType):
            if name not in ("losses", "schedules", "transforms", "contrib"):  # mirrors: their names are top level
                own[name] = obj
            continue
        module = _defining_module(name, obj)
        page = next((p for p, (_, _, pre) in PAGES.items() if module.startswith(pre)), None)
        if page is None:
            raise SystemExit(f"tools/gen_docs.py: no API page for fo.{name} (module {module!r}); add it to PAGES")
        grouped[page].setdefault(_section(module), []).append(f"{module}.{name}")

    pages: dict[str, str] = {}
    for page, (title, intro, _) in PAGES.items():
        lines = [f"# {title}", "", intro, ""]
        for section in sorted(grouped[page]):
            lines += [f"## {section}", ""]
            lines += [f"::: {n}\n" for n in sorted(grouped[page][section], key=lambda n: n.rsplit(".", 1)[1].lower())]
        pages[page] = "\n".join(lines).rstrip() + "\n"
    for ns, mod in sorted(own.items()):
        doc = (mod.__doc__ or "").strip().splitlines()
        intro = doc[0] if doc else ""
        lines = [f"# fo.{ns}", "", intro, ""]
        for n in mod.__all__:
            obj = getattr(mod, n)
            if isinstance(obj, types.ModuleType):
                continue
            if getattr(obj, "__name__", n) == n and str(getattr(obj, "__module__", "")).startswith("functional_opt"):
                lines.append(f"::: {obj.__module__}.{n}\n")
            else:  # a second name (fo.tree.add is fo.tree_utils.tree_add): griffe follows the import
                lines.append(f"::: functional_opt.{ns}.{n}\n")
        pages[f"{ns}.md"] = "\n".join(lines).rstrip() + "\n"
    index = ["# API reference", "", "Every public name, rendered from its docstring, by concept:", ""]
    for page, (title, intro, _) in PAGES.items():
        index.append(f"- [{title}]({page}): {intro}")
    for ns in sorted(own):
        index.append(f"- [fo.{ns}]({ns}.md): the `fo.{ns}` namespace.")
    pages["index.md"] = "\n".join(index) + "\n"
    return pages


def render_migration() -> str | None:
    """docs/migration.md from tools/optax_parity.py, or ``None`` when optax is not installed."""
    try:
        import optax
    except ImportError:
        return None
    from tools import optax_parity

    rows = optax_parity.surface()
    provided = sum(ok for *_, ok in rows)
    lines = [
        "# Migrating from optax",
        "",
        "Replace `import optax` with `import functional_opt as optax` (or `as fo`): public names, argument",
        "names, defaults and state field names follow optax, so existing code runs after the import swap.",
        "optax transformations can be chained with ours and ours with optax's. This page is generated from",
        f"optax {optax.__version__} by `python -m tools.gen_docs`: {provided} of its {len(rows)} public names",
        "resolve here under the same path.",
        "",
        "## Differences from optax",
        "",
        "Deliberate departures, each with its reason:",
        "",
        "| what | this library | optax | why |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in optax_parity.DIFFERENCES]
    missing = [(path, here) for path, here, ok in rows if not ok]
    lines += ["", "## Names not provided", ""]
    if missing:
        lines += ["| optax | why not |", "|---|---|"]
        lines += [f"| `{path}` | {optax_parity.NOT_PROVIDED.get(path, 'not implemented yet')} |" for path, _ in missing]
    else:
        lines.append("None: every public name of optax resolves here.")
    from tests.optax_suite.deviations import DEVIATIONS

    lines += [
        "",
        "## optax's own test suite",
        "",
        "CI runs optax's test modules against this library (`python -m tests.optax_suite.run`): every optax",
        "public name that both libraries export resolves to this library's object inside optax's tests. A test",
        "that fails is a CI failure unless it fails with optax alone too, or it is one of these deviations",
        "(`tests/optax_suite/deviations.py`; patterns on the test ids):",
        "",
        "| optax tests | why they fail here |",
        "|---|---|",
    ]
    lines += ["| " + "<br>".join(f"`{t}`" for t in e["test"].split()) + f" | {e['reason']} |" for e in DEVIATIONS]
    lines += ["", "## Every optax name and its equivalent", "", "| optax | here |", "|---|---|"]
    lines += [f"| `{path}` | `{here}` |" for path, here, ok in rows if ok]
    return "\n".join(lines) + "\n"


# README sections that pages include (pymdownx.snippets) and whose code runs as a whole; the other
# included sections (conventions, catalogue, reliability, performance) hold fragments, not programs.
RUNNABLE_SNIPPETS = ("scaling", "diagnostics")  # interop: tests/test_interop.py runs it


def expand_snippets(text: str) -> str:
    """Replace ``--8<-- "FILE:section"`` lines of runnable sections by the section's text."""

    def include(match: re.Match) -> str:
        path, section = match.group(1), match.group(2)
        if section not in RUNNABLE_SNIPPETS:
            return ""
        source = (ROOT / path).read_text()
        start = source.index(f"<!-- --8<-- [start:{section}] -->")
        return source[start : source.index(f"<!-- --8<-- [end:{section}] -->", start)]

    return re.sub(r'^--8<-- "([^":]+):([^"]+)"$', include, text, flags=re.M)


def python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of a Markdown page, in order (runnable README sections included)."""
    return re.findall(r"^```python\n(.*?)^```", expand_snippets(text), flags=re.S | re.M)


def run_page(page: pathlib.Path, cwd: pathlib.Path) -> dict:
    """Execute ``page``'s python blocks in order, in one namespace, in directory ``cwd``.

    The pages' figures are the PNGs their code writes to the working directory; run with the
    page's own directory as ``cwd`` to refresh the images the page shows.
    """
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__docs__"}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for block in python_blocks(page.read_text()):
            exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(old)
        import matplotlib.pyplot as plt

        plt.close("all")
    return namespace


def pages_with_code() -> list[pathlib.Path]:
    """Every documentation page that has python blocks."""
    return sorted(p for p in (ROOT / "docs").rglob("*.md") if python_blocks(p.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated page differs from the file")
    parser.add_argument("--figures", action="store_true", help="run each page's code next to it (its figures)")
    args = parser.parse_args(argv)
    if args.figures:
        for page in pages_with_code():
            print(f"running {page.relative_to(ROOT)}")
            run_page(page, page.parent)
        return 0
    pages = render()
    migration = render_migration()
    stale = []
    if migration is not None:
        path = ROOT / "docs" / "migration.md"
        if (path.read_text() if path.exists() else "") != migration:
            stale.append("../migration.md")
            if not args.check:
                path.write_text(migration)
    for name, text in pages.items():
        path = API / name
        old = path.read_text() if path.exists() else ""
        if old != text:
            stale.append(name)
            if args.check:
                diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True), str(path), "new")
                sys.stdout.writelines(diff)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    extra = sorted(p.name for p in API.glob("*.md") if p.name not in pages) if API.exists() else []
    if args.check and (stale or extra):
        print(f"\nstale: {stale}, not generated: {extra}; run `python -m tools.gen_docs`")
        return 1
    for name in extra:
        (API / name).unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
