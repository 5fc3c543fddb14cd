"""Shared helpers of the schedule tests: evaluate a schedule on counts, compare with numpy."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

COUNTS = np.arange(0, 130, dtype=np.int64)


def evaluate(schedule, counts=COUNTS):
    """Values of ``schedule`` at int32 ``counts`` (vectorised call) as float64 numpy."""
    return np.asarray(schedule(jnp.asarray(counts, jnp.int32)), np.float64)


def assert_matches(schedule, reference, counts=COUNTS, rtol=2e-6, atol=1e-7):
    """``schedule(count)`` equals the float64 ``reference(count)`` at every count."""
    got = evaluate(schedule, counts)
    want = np.array([reference(int(c)) for c in counts], np.float64)
    chex.assert_trees_all_close(got, want, rtol=rtol, atol=atol)


def evaluate_optax(schedule, counts=COUNTS):
    """Values of an optax schedule at ``counts``, vmapped over int32 scalar counts in one jitted call."""
    values = jax.jit(jax.vmap(lambda c: jnp.asarray(schedule(c), jnp.float32)))(jnp.asarray(counts, jnp.int32))
    return np.asarray(values, np.float64)
