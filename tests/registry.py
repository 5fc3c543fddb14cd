"""The registry of every optimizer, for the contract tests.

Each entry maps a name to a factory ``learning_rate -> GradientTransformation``
(the learning rate may be a Python number, an array, a tracer or a schedule).
Entries also say which optional contract checks apply.

Every area of the library appends its optimizers in its own section below, so
``tests/test_contract.py`` (jit, vmap over the learning rate, scan, no retrace,
bf16, None leaves, eval_shape init, extra args) covers them automatically.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import functional_opt as fo


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    make: Callable  # learning_rate -> GradientTransformation
    # set False for optimizers that need a loss value (`value=`) or a special update signature
    plain_update: bool = True
    # set False when the learning rate cannot be an array/tracer (should be rare)
    vmap_lr: bool = True
    # set False when a bf16 run with zero gradients is not meaningful
    bf16: bool = True
    # extra keyword arguments passed to every update (e.g. {"value": loss})
    extra: dict = dataclasses.field(default_factory=dict)


REGISTRY: dict[str, Entry] = {}


def register(name: str, make: Callable, **kw) -> None:
    if name in REGISTRY:
        raise ValueError(f"duplicate registry entry {name!r}")
    REGISTRY[name] = Entry(name, make, **kw)


# --- core (issue 2) ---
register("gradient_descent", lambda lr: fo.gradient_descent(lr))
register("momentum", lambda lr: fo.momentum(lr, decay=0.9))
register("rmsprop", lambda lr: fo.rmsprop(lr))
register("rmsprop_centered_momentum", lambda lr: fo.rmsprop(lr, centered=True, momentum=0.9, eps_in_sqrt=False))
register("adam", lambda lr: fo.adam(lr))
register("adam_nesterov", lambda lr: fo.adam(lr, nesterov=True))
register("sgd", lambda lr: fo.sgd(lr))
register("sgd_nesterov", lambda lr: fo.sgd(lr, momentum=0.9, nesterov=True))
register("adamw", lambda lr: fo.adamw(lr, weight_decay=1e-2))

# --- issue 5: wrappers (register wrapped optimizers here) ---

# --- issue 6: optimizer catalogue part 1 ---

# --- issue 7: optimizer catalogue part 2 ---
# issue 7, first half (large-batch, memory-light, schedule-free, learning-rate-free)
register("lars", lambda lr: fo.lars(lr, weight_decay=1e-4))
register("lamb", lambda lr: fo.lamb(lr, weight_decay=1e-2))
register("lion", lambda lr: fo.lion(lr))
