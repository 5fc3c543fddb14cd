"""Shared pytest configuration: small, deterministic, CPU-only.

Runs before jax is imported, so the environment variables below are jax's
configuration for the whole session (pytest-xdist workers inherit them).

Compilation cache: many tests build the same optimizer step again (a fresh
closure, so jit's in-memory cache misses) and XLA would compile identical
programs again. jax's persistent cache, in a directory made for this session
and shared by the xdist workers, compiles each program once (measured: the
flat-mode and numerics tests ran 22% faster on a cold cache). Set
``JAX_COMPILATION_CACHE_DIR`` yourself to keep a cache between sessions.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the first process of the session (xdist's controller)
    _cache_dir = tempfile.mkdtemp(prefix="functional_opt_jax_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
# cache every program, however small or fast to compile
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


# Smoke runs of whole programs (the demo, the examples, the benchmarks' --quick mode, the documentation pages'
# code, the two-process run) are marked `slow`: the README's test command skips them (pyproject's addopts has
# `-m "not slow"`), `pytest -m slow` runs only them, and CI (.ci/run) runs both.
SLOW_MODULES = {
    "test_examples.py",
    "test_example_optimizer_zoo.py",
    "test_example_data_parallel.py",
    "test_example_regularization.py",
    "test_example_schedules.py",
    "test_bench_tune.py",
    "test_bench_memory.py",
    "test_benchmarks.py",
    "test_multiprocess.py",
}
SLOW_TESTS = ("test_docs.py::test_page_code_runs", "test_interop.py::test_example_quick_matches_optax")


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        module = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        if module in SLOW_MODULES or any(t in item.nodeid for t in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
