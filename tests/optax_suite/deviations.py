"""optax tests that fail against functional_opt on purpose: each one is a deliberate difference.

``test`` is an fnmatch pattern on the pytest node id (the path relative to the optax package,
then ``::Class::test``); ``reason`` says what differs and why. The differences themselves are
listed in the "Differences from optax" table of the docs (``tools/optax_parity.py``).
Fewer than 25 entries (``tests/test_optax_suite.py`` checks it).
"""

from __future__ import annotations

DEVIATIONS: list[dict[str, str]] = []
