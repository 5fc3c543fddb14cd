"""Shared fixtures of the wrapper tests: a scalar/vector/matrix tree and seeded gradients."""

import jax
import jax.numpy as jnp
import numpy as np


class Fixtures:
    """``params()`` and ``grads_seq(p, n)`` drawing from one seeded generator, in call order."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def params(self, dtype=jnp.float32):
        return {
            "s": jnp.asarray(0.3, dtype),
            "v": jnp.asarray(self.rng.normal(size=3), dtype),
            "m": jnp.asarray(self.rng.normal(size=(2, 3)), dtype),
        }

    def grads_seq(self, p, n=10, bad=()):
        """``n`` random gradients shaped like ``p``; steps in ``bad`` get a NaN (odd) or Inf (even) entry."""
        out = []
        for i in range(n):
            g = jax.tree.map(lambda x: jnp.asarray(self.rng.normal(size=jnp.shape(x)), x.dtype), p)
            if i in bad:
                g = {**g, "m": g["m"].at[0, 1].set(jnp.nan if i % 2 else jnp.inf)}
            out.append(g)
        return out
