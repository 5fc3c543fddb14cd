"""The substitution shim: a pytest plugin that makes optax's own tests call functional_opt.

Loaded with ``-p tests.optax_suite.shim`` by ``tests/optax_suite/run.py`` (never by the normal
suite). When a module under the suite directory (``FO_OPTAX_SUITE_DIR``) imports ``optax`` or any
``optax.*`` module, ``builtins.__import__`` hands it a read-through proxy of that module instead.
Reading an attribute through a proxy returns:

* functional_opt's object for a public optax name that functional_opt also exports in the
  matching namespace (``optax.adam`` -> ``fo.adam``, ``optax.tree_utils.tree_add`` ->
  ``fo.tree_utils.tree_add``, ``optax.contrib.muon`` -> ``fo.contrib.muon``, ...);
* the same for the same *object* reached through optax's internal modules
  (``optax._src.alias.adam`` is ``optax.adam``, so the test's ``alias.adam`` is ``fo.adam``);
* a proxy for a submodule, and optax's own value for everything else (``test_utils``, private
  helpers, names functional_opt does not export).

Only the test modules see the proxies: optax's own code keeps importing and calling optax, so a
test that builds an optax object and compares it with ours compares the two libraries.

Each test report carries a ``fo_names`` user property: the substituted names the test touched,
either at run time (through a proxy) or through module-level bindings (``from optax import adam``,
absl ``parameterized`` arguments evaluated at import, ``OPTIMIZERS = {"adam": optax.adam(1.0)}``)
found in the test function's globals (and the module helpers it calls), closure and defaults.
A test with an empty set exercised only optax's code ("not applicable").
The controller process writes one JSON line per test to ``FO_OPTAX_SUITE_REPORT``.
"""

from __future__ import annotations

import builtins
import json
import os
import types
import warnings
from typing import Any

import pytest

from tools.optax_parity import NAMESPACES  # optax namespace -> the namespace here with the same names

_BY_NAME: dict[str, dict[str, Any]] = {}  # optax module name -> {public name: fo object}
_BY_ID: dict[int, tuple[str, Any]] = {}  # id(optax object) -> (label, fo object)
_FO_IDS: dict[int, str] = {}  # id(fo object substituted) -> label
_KEEP: list[Any] = []  # keeps the optax objects alive so their ids stay unique
_PROXIES: dict[str, types.ModuleType] = {}
_TOUCHED: set[str] = set()
_ORIG_IMPORT = builtins.__import__
_SUITE_DIR = ""


def build_substitutions() -> int:
    """Fill the name and identity maps; returns how many optax names are substituted."""
    with warnings.catch_warnings():  # optax's deprecated top-level names warn when read
        warnings.simplefilter("ignore")
        return _build_substitutions()


def _build_substitutions() -> int:
    import optax

    import functional_opt as fo

    _BY_NAME.clear()
    _BY_ID.clear()
    _FO_IDS.clear()
    count = 0
    for ns, ours in NAMESPACES.items():
        theirs = optax if ns == "" else getattr(optax, ns, None)
        mine = fo if ours == "" else getattr(fo, ours, None)
        if not isinstance(theirs, types.ModuleType) or mine is None:
            continue
        # optax's ``__all__`` omits some public names (``optax.with_extra_args_support``, ...)
        names = sorted(set(getattr(theirs, "__all__", None) or ()) | {n for n in dir(theirs) if n[:1] != "_"})
        table = _BY_NAME.setdefault(theirs.__name__, {})
        for name in names:
            if name.startswith("_") or not hasattr(theirs, name) or not hasattr(mine, name):
                continue
            obj, sub = getattr(theirs, name), getattr(mine, name)
            if isinstance(obj, types.ModuleType) or obj is sub:
                continue
            label = f"{ns}.{name}" if ns else name
            table[name] = sub
            _FO_IDS[id(sub)] = label
            _KEEP.extend((obj, sub))
            count += 1
            # the same object reached through optax's internal modules; only optax-defined
            # functions and classes (a typing alias such as ``Any`` must not be swapped everywhere)
            if getattr(obj, "__module__", "").startswith("optax") and (callable(obj) or isinstance(obj, type)):
                _BY_ID.setdefault(id(obj), (label, sub))
    return count


def _resolve(modname: str, name: str, value: Any) -> Any:
    if isinstance(value, types.ModuleType):
        return proxy(value) if value.__name__.split(".")[0] == "optax" else value
    table = _BY_NAME.get(modname)
    if table is not None and name in table:
        _TOUCHED.add(_FO_IDS[id(table[name])])
        return table[name]
    hit = _BY_ID.get(id(value))
    if hit is not None:
        _TOUCHED.add(hit[0])
        return hit[1]
    return value


class _ShimModule(types.ModuleType):
    """Reads through to the real optax module, substituting functional_opt's objects."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, "_shim_real", real)

    def __getattr__(self, name: str) -> Any:
        real = object.__getattribute__(self, "_shim_real")
        return _resolve(real.__name__, name, getattr(real, name))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_shim_real"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_shim_real"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_shim_real"))


def proxy(module: types.ModuleType) -> types.ModuleType:
    """The (cached) proxy of an optax module."""
    if module.__name__ not in _PROXIES:
        _PROXIES[module.__name__] = _ShimModule(module)
    return _PROXIES[module.__name__]


def _shim_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    module = _ORIG_IMPORT(name, globals, locals, fromlist, level)
    if (
        level == 0
        and globals
        and str(globals.get("__file__") or "").startswith(_SUITE_DIR)
        and name.split(".")[0] == "optax"
        and isinstance(module, types.ModuleType)
    ):
        return proxy(module)
    return module


def _fo_refs(obj: Any, depth: int = 0, seen: set[int] | None = None) -> set[str]:
    """Substituted objects a test function reaches through its globals, closure and defaults."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return set()
    seen.add(id(obj))
    if id(obj) in _FO_IDS:
        return {_FO_IDS[id(obj)]}
    if isinstance(obj, types.ModuleType) or obj is None:
        return set()
    # an object functional_opt built (``OPTIMIZERS = {"adam": optax.adam(1.0)}`` at import)
    if _is_fo(obj):
        return {f"<{type(obj).__name__}>"}
    found: set[str] = set()
    if isinstance(obj, (tuple, list, set, frozenset)):
        for x in obj:
            found |= _fo_refs(x, depth + 1, seen)
    elif isinstance(obj, dict):
        for x in obj.values():
            found |= _fo_refs(x, depth + 1, seen)
    elif isinstance(obj, types.MethodType):
        found |= _fo_refs(obj.__func__, depth, seen)
    elif isinstance(obj, types.FunctionType):
        codes = [obj.__code__]
        while codes:
            code = codes.pop()
            for n in code.co_names:  # globals the code reads: substituted names, containers, helpers
                if n in obj.__globals__:
                    found |= _fo_refs(obj.__globals__[n], depth + 1, seen)
            codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        for cell in obj.__closure__ or ():
            try:
                found |= _fo_refs(cell.cell_contents, depth + 1, seen)
            except ValueError:  # empty cell
                pass
        found |= _fo_refs(obj.__defaults__ or (), depth + 1, seen)
        found |= _fo_refs(getattr(obj, "__wrapped__", None), depth + 1, seen)
    elif hasattr(obj, "func") and hasattr(obj, "args"):  # functools.partial
        found |= _fo_refs(obj.func, depth + 1, seen)
        found |= _fo_refs(obj.args, depth + 1, seen)
    return found


def _is_fo(obj: Any) -> bool:
    if isinstance(obj, type):
        return False
    return any(
        (getattr(x, "__module__", None) or "").startswith("functional_opt")
        for x in (type(obj), getattr(obj, "init", None), getattr(obj, "update", None))
    )


def pytest_configure(config) -> None:  # noqa: ANN001
    global _SUITE_DIR
    _SUITE_DIR = os.environ.get("FO_OPTAX_SUITE_DIR", "")
    if os.environ.get("FO_OPTAX_SUITE_BASELINE") == "1" or not _SUITE_DIR:
        return  # baseline run: optax alone
    build_substitutions()
    builtins.__import__ = _shim_import


def pytest_unconfigure(config) -> None:  # noqa: ANN001
    builtins.__import__ = _ORIG_IMPORT


def pytest_runtest_setup(item) -> None:  # noqa: ANN001
    _TOUCHED.clear()


def _static_refs(item) -> set[str]:  # noqa: ANN001
    found = _fo_refs(getattr(item, "obj", None))
    cls = getattr(item, "cls", None)
    if cls is not None:
        found |= _fo_refs(getattr(cls, "setUp", None))
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        found |= _fo_refs(dict(callspec.params))
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call) -> None:  # noqa: ANN001
    item.user_properties[:] = [
        p for p in item.user_properties if not (isinstance(p, tuple) and p and p[0] == "fo_names")
    ]
    item.user_properties.append(("fo_names", sorted(_TOUCHED | _static_refs(item))))


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001
    path = os.environ.get("FO_OPTAX_SUITE_REPORT")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if report.when == "call" or report.outcome != "passed":
        names: list[str] = []
        for p in report.user_properties:
            if p[0] == "fo_names":
                names = list(p[1])
        message = ""
        if report.outcome == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr)[-2000:]
        elif report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        row = {"id": report.nodeid, "when": report.when, "outcome": report.outcome, "fo": names, "message": message}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
