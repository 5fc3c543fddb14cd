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

import pytest

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
    for item in items:
        module = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        if module in SLOW_MODULES or any(t in item.nodeid for t in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------- a child interpreter with 8 simulated devices
# jax fixes its device count at start-up, so multi-device tests run their code in a child process with
# `--xla_force_host_platform_device_count=8`. One child per pytest process (the `devices8` fixture) runs every
# such test's code, each in a fresh namespace, instead of one interpreter start-up (jax's import and backend) per
# test. The child runs with pytest's warning filters (every warning an error; see pyproject.toml) and backend
# optimization level 0 (LLVM work dominates these small programs' compile time; the runs compared inside one
# test always use the same level).

_SERVER = r"""
import contextlib, gc, io, json, os, sys, traceback

import jax

proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # C-level writes to stdout cannot mix with the replies
for line in sys.stdin:
    code = json.loads(line)
    out, ok = io.StringIO(), True
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(code, "<devices8 test code>", "exec"), {"__name__": "__devices8__"})
        except SystemExit as e:
            ok = e.code in (None, 0)
        except BaseException:
            ok = False
            traceback.print_exc(file=out)
    del code
    jax.clear_caches()  # each test's programs and traces go: a large live heap slows the next test's tracing
    gc.collect()
    proto.write(json.dumps({"ok": ok, "out": out.getvalue()}) + "\n")
    proto.flush()
"""


class Devices8:
    """``run(code)``: execute ``code`` (dedented) in the 8-device child; assert it ends without an error
    (``sys.exit(1)`` or an exception) and prints "OK"; return what it printed."""

    FLAGS = "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
    WARNINGS = ("-W", "error", "-W", "ignore:Error reading persistent compilation cache entry:UserWarning")

    def __init__(self):
        import subprocess
        import sys

        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, XLA_FLAGS=self.FLAGS, JAX_PLATFORMS="cpu")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, *self.WARNINGS, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=root,
            text=True,
        )

    def run(self, code: str, timeout: float = 600) -> str:
        import json
        import selectors
        import textwrap

        assert self.proc.poll() is None, f"the 8-device child exited ({self.proc.returncode}):\n{self._tail()}"
        self.proc.stdin.write(json.dumps(textwrap.dedent(code)) + "\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.proc.kill()
                raise AssertionError(f"the 8-device child took more than {timeout} s:\n{self._tail()}")
        line = self.proc.stdout.readline()
        assert line, f"the 8-device child died ({self.proc.wait()}):\n{self._tail()}"
        reply = json.loads(line)
        assert reply["ok"] and "OK" in reply["out"], f"--- child stdout\n{reply['out'][-6000:]}\n{self._tail()}"
        return reply["out"]

    def _tail(self) -> str:
        self._stderr.seek(0)
        return "--- child stderr\n" + self._stderr.read().decode(errors="replace")[-6000:]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture(scope="session")
def devices8():
    child = Devices8()
    yield child
    child.close()
