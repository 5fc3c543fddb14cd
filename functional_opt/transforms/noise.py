"""Annealed Gaussian gradient noise."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class AddNoiseState(NamedTuple):
    """State of :func:`add_noise`: the int32 count and a raw ``uint32[2]`` PRNG key."""

    count: Any
    rng_key: Any


def _raw_key(key):
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.PRNGKey(key)
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def resolve_seed(key: Any, seed: Any) -> Any:
    """optax's deprecated ``seed=`` spelling of ``key=``: at most one of the two; ``None`` for both means 0."""
    if seed is not None:
        warnings.warn('"seed" is deprecated (as in optax), use "key"', DeprecationWarning, stacklevel=3)
        if key is not None:
            raise ValueError("pass only one of seed and key")
        return seed
    return 0 if key is None else key


def add_noise(eta=0.01, gamma=0.55, key: Any = None, *, seed: Any = None) -> GradientTransformation:
    """Add Gaussian noise whose variance decays with the step.

    Update rule, ``t = count + 1``::

        sigma_t = sqrt(eta / t**gamma)
        u = g + sigma_t * N(0, I)

    One fresh key per step (``key, sample = split(key)``) and one subkey
    per leaf (``split(sample, num_leaves)``), as optax, so the same ``key``
    gives optax's noise exactly in float32. The paper writes
    ``sigma_t**2 = eta / (1 + t)**gamma`` with ``t`` counted from 0, which is
    this rule. Noise is drawn in float32 (at least) and added before casting
    back to the gradient's dtype.

    Args:
        eta: the base variance ``>= 0`` (the paper tries 0.01, 0.3 and 1.0).
        gamma: the decay exponent ``>= 0`` (the paper uses 0.55).
        key: an ``int`` seed, a raw ``uint32[2]`` key or a typed
            ``jax.random.key``; stored raw so the state is plain arrays.
            ``None`` means 0 (optax warns and uses 0).
        seed: optax's deprecated name for ``key`` (a ``DeprecationWarning``);
            pass at most one of the two.

    State: :class:`AddNoiseState` ``(count, rng_key)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.add_noise(eta=0.0, key=0)  # no noise: the identity
        >>> t.update(jnp.ones(2), t.init(jnp.zeros(2)))[0]
        Array([1., 1.], dtype=float32)

    References:
        Neelakantan et al., "Adding Gradient Noise Improves Learning for Very
        Deep Networks", arXiv:1511.06807, 2015.
    """
    key = resolve_seed(key, seed)
    check_number("eta", eta, low=0.0)
    check_number("gamma", gamma, low=0.0)
    if isinstance(key, int):
        check_int("key", key)
    _raw_key(key)  # a bad key fails here, at construction

    def init(params):  # a fresh key per call: eager and jitted init agree, and donating a state frees no shared key
        del params
        return AddNoiseState(count=zero_count(), rng_key=jnp.array(_raw_key(key)))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_inexact("add_noise", "the update", updates)
        count = safe_increment(state.count)
        t = count.astype(jnp.float32)
        sigma_t = jnp.sqrt(value_at(eta, None, jnp.float32) / t ** value_at(gamma, None, jnp.float32))
        rng_key, sample_key = jax.random.split(state.rng_key)
        leaves, treedef = jax.tree.flatten(updates)
        keys: Any = jax.random.split(sample_key, len(leaves)) if leaves else []

        def leaf(g, key):  # noise drawn in the compute dtype, added before casting back
            z = jax.random.normal(key, g.shape, _tree.up(g).dtype)
            return (g + sigma_t * z).astype(g.dtype)

        u = treedef.unflatten([leaf(g, k) for g, k in zip(leaves, keys)])
        return u, AddNoiseState(count=count, rng_key=rng_key)

    return GradientTransformation(init, update)
