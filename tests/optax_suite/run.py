"""Run optax's own test modules against functional_opt and classify every result.

Usage (from the repository root)::

    python -m tests.optax_suite.run                      # every optax test module
    python -m tests.optax_suite.run --modules alias_test _muon_test -n 2
    python -m tests.optax_suite.run --json results.json  # per-test results as JSON

Design, and why:

* **optax's tests are not ours and are not committed.** They are read at run time from the
  installed optax (the 0.2.8 wheel ships its ``*_test.py`` files); if the installed package has
  none, the sdist of the installed version is downloaded with pip into a temporary directory.
  If neither works the run prints ``SKIPPED: ...`` and exits 0 (``--require`` makes it exit 2).
* **Copies, not the installed files.** The modules are copied to a temporary directory with a
  ``pytest.ini`` of their own, so this repository's pytest settings (``filterwarnings = error``,
  doctests, ``-n auto``) do not apply to code we do not own, and the shim can recognise the test
  modules by their location.
* **Substitution by import, not by editing source.** ``tests/optax_suite/shim.py`` (a pytest
  plugin) hands the copied modules a read-through proxy for every ``optax`` module they import;
  a public optax name that functional_opt also exports (or the same object reached through
  ``optax._src``) resolves to functional_opt's object, everything else (``test_utils``, private
  helpers, names we do not export, optax's own internals) stays optax's. No regex rewriting of
  optax's sources, and optax itself keeps calling optax, so tests comparing against an optax
  reference still compare two libraries.
* **Classification.** Per test: ``passed``, ``skipped``, ``n/a`` (passed or failed without
  touching any substituted name: it tested optax's own code), ``optax-own`` (fails in this
  environment with optax alone too: the failing tests are re-run once without the shim),
  ``deviation`` (failed, matched by a pattern in ``tests/optax_suite/deviations.py``, each with a
  reason) and ``FAILED`` (anything else). The exit status is 1 when any test is ``FAILED``.
* **Cost.** The full suite is a few thousand tests and takes tens of minutes on two cores, so the
  normal pytest suite runs only a small subset (``tests/test_optax_suite.py``); CI runs this
  script as a separate step.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_deviations() -> list[dict[str, str]]:
    """``deviations.DEVIATIONS``: ``test`` (fnmatch patterns on the node id, space-separated) and ``reason``."""
    from tests.optax_suite.deviations import DEVIATIONS

    for e in DEVIATIONS:
        if not e.get("test") or not e.get("reason"):
            raise ValueError(f"tests/optax_suite/deviations.py: each entry needs `test` and `reason`: {e}")
    return list(DEVIATIONS)


def _installed_tests() -> tuple[str, Path | None]:
    import optax

    pkg = Path(optax.__file__).parent
    found = sorted(pkg.rglob("*_test.py"))
    return optax.__version__, (pkg if found else None)


def find_tests(workdir: Path, allow_download: bool = True) -> tuple[Path | None, str]:
    """The directory holding optax's package with its ``*_test.py`` files, or ``(None, why)``."""
    try:
        version, pkg = _installed_tests()
    except ImportError:
        return None, "optax is not installed"
    if pkg is not None:
        return pkg, f"installed optax {version}"
    if not allow_download:
        return None, f"optax {version} ships no test files and downloading is disabled"
    dest = workdir / "sdist"
    cmd = [sys.executable, "-m", "pip", "download", f"optax=={version}", "--no-binary", ":all:", "--no-deps"]
    try:
        subprocess.run([*cmd, "-d", str(dest)], check=True, capture_output=True, timeout=300)
        (archive,) = dest.glob("optax-*.tar.gz")
        with tarfile.open(archive) as tar:
            try:
                tar.extractall(dest, filter="data")
            except TypeError:  # Python without extraction filters (< 3.10.12)
                tar.extractall(dest)  # noqa: S202 (pip's own download of the pinned version)
        (pkg,) = (p for p in dest.glob("optax-*/optax") if p.is_dir())
    except (subprocess.SubprocessError, OSError, ValueError) as e:
        return None, f"optax {version} ships no test files and the sdist download failed ({e})"
    return pkg, f"optax {version} sdist"


def select_modules(pkg: Path, wanted: list[str] | None) -> list[Path]:
    """Test files (relative to the optax package) matching ``wanted`` (stem, path or glob)."""
    files = sorted(p.relative_to(pkg) for p in pkg.rglob("*_test.py"))
    if not wanted:
        return files
    out = []
    for w in wanted:
        w = w.removesuffix(".py")
        hits = [f for f in files if w in (f.stem, str(f.with_suffix(""))) or fnmatch.fnmatch(str(f), w)]
        if not hits:
            raise SystemExit(f"no optax test module matches {w!r}; available: {[f.stem for f in files]}")
        out.extend(h for h in hits if h not in out)
    return out


def _pytest(suite: Path, targets: list[str], report: Path, jobs: str, timeout: float, baseline: bool) -> int:
    # a clean pytest environment: when this runs inside an xdist worker (tests/test_optax_suite.py), the worker's
    # PYTEST_XDIST_* variables would make the child believe it is a worker too
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTEST_XDIST"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["FO_OPTAX_SUITE_DIR"] = str(suite) + os.sep
    env["FO_OPTAX_SUITE_REPORT"] = str(report)
    env["FO_OPTAX_SUITE_BASELINE"] = "1" if baseline else "0"
    cmd = [sys.executable, "-m", "pytest", "-c", str(suite / "pytest.ini"), "--rootdir", str(suite)]
    cmd += ["-p", "tests.optax_suite.shim", "-p", "no:cacheprovider", "--import-mode=importlib"]
    cmd += ["-q", "--no-header", "-rN", "--tb=no", "-W", "ignore"]
    if str(jobs) not in ("", "0"):
        cmd += ["-n", str(jobs)]
    if len(targets) > 200:  # long node-id lists go through a file
        listing = suite / ("baseline_ids.txt" if baseline else "ids.txt")
        listing.write_text("\n".join(targets))
        targets = [f"@{listing}"]
    try:
        return subprocess.run([*cmd, *targets], cwd=suite, env=env, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"timed out after {timeout:.0f} s; reporting the tests that finished", file=sys.stderr)
        return 124


def _read(report: Path) -> dict[str, dict]:
    """node id -> {outcome, fo, message}; one failed phase fails the test."""
    tests: dict[str, dict] = {}
    if not report.exists():
        return tests
    for line in report.read_text().splitlines():
        row = json.loads(line)
        t = tests.setdefault(row["id"], {"outcome": "passed", "fo": [], "message": ""})
        t["fo"] = sorted(set(t["fo"]) | set(row["fo"]))
        if row["outcome"] == "failed" or (row["outcome"] == "skipped" and t["outcome"] == "passed"):
            t["outcome"], t["message"] = row["outcome"], row["message"]
    return tests


def matches(nodeid: str, deviation: dict[str, str]) -> bool:
    return any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in deviation["test"].split())


def classify(tests: dict[str, dict], baseline_failed: set[str], deviations: list[dict[str, str]]) -> None:
    """Adds ``status`` (and ``reason`` for deviations) to each test, in place."""
    for nodeid, t in tests.items():
        applicable = bool(t["fo"])
        if t["outcome"] == "skipped":
            t["status"] = "skipped"
        elif not applicable:
            t["status"] = "n/a"
        elif t["outcome"] == "passed":
            t["status"] = "passed"
        elif nodeid in baseline_failed:
            t["status"] = "optax-own"
        else:
            hit = next((d for d in deviations if matches(nodeid, d)), None)
            t["status"] = "deviation" if hit else "FAILED"
            if hit:
                t["reason"] = hit["reason"]


COLUMNS = ("passed", "FAILED", "deviation", "optax-own", "n/a", "skipped")


def summarize(tests: dict[str, dict]) -> tuple[str, Counter]:
    per_module: dict[str, Counter] = defaultdict(Counter)
    for nodeid, t in tests.items():
        per_module[nodeid.split("::")[0]][t["status"]] += 1
    total: Counter = Counter()
    lines = [f"{'module':48s} " + " ".join(f"{c:>9s}" for c in COLUMNS)]
    for module in sorted(per_module):
        c = per_module[module]
        total.update(c)
        lines.append(f"{module:48s} " + " ".join(f"{c[k]:9d}" for k in COLUMNS))
    lines.append(f"{'TOTAL':48s} " + " ".join(f"{total[k]:9d}" for k in COLUMNS))
    return "\n".join(lines), total


def run(
    modules: list[str] | None = None,
    *,
    jobs: int | str = 0,
    timeout: float = 3600.0,
    keyword: str | None = None,
    allow_download: bool = True,
    require: bool = False,
    verbose: bool = True,
) -> tuple[int, dict[str, dict]]:
    """Runs the selected modules; returns ``(exit status, per-test results)``."""
    with tempfile.TemporaryDirectory(prefix="fo_optax_suite_") as tmp:
        work = Path(tmp)
        pkg, source = find_tests(work, allow_download)
        if pkg is None:
            print(f"SKIPPED: optax's test suite is not available: {source}")
            return (2 if require else 0), {}
        files = select_modules(pkg, modules)
        suite = work / "suite"
        for rel in files:
            (suite / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pkg / rel, suite / rel)
        (suite / "pytest.ini").write_text("[pytest]\npython_files = *_test.py\n")
        if verbose:
            print(f"optax tests from {source}: {len(files)} module(s)", flush=True)
        targets = [str(f) for f in files] + (["-k", keyword] if keyword else [])
        _pytest(suite, targets, work / "report.jsonl", str(jobs), timeout, baseline=False)
        tests = _read(work / "report.jsonl")
        failed = sorted(n for n, t in tests.items() if t["outcome"] == "failed" and t["fo"])
        baseline_failed: set[str] = set()
        if failed:  # which of these fail with optax alone too (environment, optax's own bugs)?
            _pytest(suite, failed, work / "baseline.jsonl", str(jobs), timeout, baseline=True)
            baseline_failed = {n for n, t in _read(work / "baseline.jsonl").items() if t["outcome"] == "failed"}
    classify(tests, baseline_failed, load_deviations())
    table, total = summarize(tests)
    if verbose:
        print(table)
        for nodeid, t in sorted(tests.items()):
            if t["status"] == "FAILED":
                print(f"FAILED {nodeid} [{', '.join(t['fo'][:6])}]\n    {t['message'][:400]}")
        used = {t.get("reason") for t in tests.values()}
        for d in load_deviations():
            ran = any(matches(n, d) for n in tests)
            if ran and d["reason"] not in used:
                print(f"note: deviation {d['test']!r} no longer fails; remove it from deviations.py")
    if not tests:
        print("no optax test ran (collection error?)")
        return 1, tests
    return (1 if total["FAILED"] else 0), tests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", help="optax test modules (stem, path or glob); default all")
    parser.add_argument("-n", "--jobs", default="0", help="pytest-xdist workers: a number or auto (0: one process)")
    parser.add_argument("-k", "--keyword", help="pytest -k expression")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per pytest run")
    parser.add_argument("--no-download", action="store_true", help="never download optax's sdist")
    parser.add_argument("--require", action="store_true", help="exit 2 when optax's tests are unavailable")
    parser.add_argument("--json", type=Path, help="write the per-test results here")
    args = parser.parse_args(argv)
    status, tests = run(
        args.modules,
        jobs=args.jobs,
        timeout=args.timeout,
        keyword=args.keyword,
        allow_download=not args.no_download,
        require=args.require,
    )
    if args.json:
        args.json.write_text(json.dumps(tests, indent=1, sort_keys=True))
    return status


if __name__ == "__main__":
    sys.exit(main())
