"""optax's own tests against functional_opt: the machinery and a small, fast subset.

The whole conformance run is ``python -m tests.optax_suite.run -n 2`` (a separate CI step; tens
of minutes). Here: the deviations file is well formed, the shim substitutes what it should and
nothing else, the classifier's rules, and one subprocess run of two small optax modules.
"""

from __future__ import annotations

import types

import pytest

from tests.optax_suite import run as suite
from tests.optax_suite import shim


def test_deviations_file_is_well_formed():
    entries = suite.load_deviations()
    assert len(entries) < 25  # the bound on deliberate deviations
    patterns = [p for e in entries for p in e["test"].split()]
    assert len(set(patterns)) == len(patterns)
    for e in entries:
        for pattern in e["test"].split():
            assert "::" in pattern and pattern.split("::")[0].endswith("_test.py"), e
        assert len(e["reason"]) > 20, e


def test_shim_substitutes_public_names_and_keeps_internals():
    optax = pytest.importorskip("optax")
    import functional_opt as fo

    assert shim.build_substitutions() > 100
    top = shim.proxy(optax)
    assert top.adam is fo.adam
    assert top.contrib.reduce_on_plateau is fo.contrib.reduce_on_plateau
    assert isinstance(top.contrib, types.ModuleType)
    # the same object reached through optax's internal modules
    alias = shim.proxy(__import__("optax._src.alias", fromlist=["adam"]))
    assert alias.adam is fo.adam
    # names we do not export and optax's test helpers stay optax's
    test_utils = __import__("optax._src.test_utils", fromlist=["x"])
    assert top._src.test_utils.__name__ == test_utils.__name__
    assert top.__version__ == optax.__version__
    # optax's own modules still see optax
    assert optax.adam is not fo.adam


def test_classifier_rules():
    tests = {
        "a_test.py::T::test_ok": {"outcome": "passed", "fo": ["adam"], "message": ""},
        "a_test.py::T::test_optax_only": {"outcome": "failed", "fo": [], "message": ""},
        "a_test.py::T::test_env": {"outcome": "failed", "fo": ["adam"], "message": ""},
        "a_test.py::T::test_listed_1": {"outcome": "failed", "fo": ["adam"], "message": ""},
        "a_test.py::T::test_bad": {"outcome": "failed", "fo": ["adam"], "message": ""},
        "a_test.py::T::test_skip": {"outcome": "skipped", "fo": ["adam"], "message": ""},
    }
    deviations = [{"test": "a_test.py::T::test_listed_*", "reason": "on purpose, for a reason"}]
    suite.classify(tests, {"a_test.py::T::test_env"}, deviations)
    got = {k.split("::")[-1]: v["status"] for k, v in tests.items()}
    assert got == {
        "test_ok": "passed",
        "test_optax_only": "n/a",
        "test_env": "optax-own",
        "test_listed_1": "deviation",
        "test_bad": "FAILED",
        "test_skip": "skipped",
    }
    table, total = suite.summarize(tests)
    assert total["FAILED"] == 1 and "a_test.py" in table


def test_two_small_optax_modules_pass():
    """One subprocess pytest run (about 15 s, mostly imports) of two small optax modules."""
    pytest.importorskip("optax")
    status, tests = suite.run(["schedules/_join_test", "losses/_smoothing_test"], verbose=False)
    if not tests and status == 0:
        pytest.skip("optax's test files are not available")
    assert status == 0, {k: v for k, v in tests.items() if v["status"] == "FAILED"}
    statuses = {v["status"] for v in tests.values()}
    assert statuses <= {"passed", "n/a", "skipped"} and "passed" in statuses
