"""Private helper of the namespace modules: derive ``__all__`` from what a module imports.

Each namespace (``functional_opt``, ``fo.losses``, ``fo.schedules``,
``fo.transforms``, ``fo.contrib``) writes every public name once, as
``from .x import y as y``; its ``__all__`` is then ``public_names(globals())``.
"""

from types import ModuleType
from typing import Any


def public_names(namespace: dict[str, Any]) -> list[str]:
    """The sorted public names bound in ``namespace``.

    Names starting with ``_`` are private. A module bound in the namespace is
    public only when it declares ``__all__`` (a namespace such as
    ``fo.losses``); the other submodules a package binds as it imports them
    (``functional_opt.base``, ``functional_opt.losses.regression``) are its
    implementation, not part of its API.
    """
    return sorted(
        name
        for name, obj in namespace.items()
        if not name.startswith("_") and (not isinstance(obj, ModuleType) or hasattr(obj, "__all__"))
    )
