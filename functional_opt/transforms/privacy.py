"""Differentially private aggregation of per-example gradients (DP-SGD's clip-and-noise step)."""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_number, value_at
from functional_opt.base import GradientTransformation
from functional_opt.transforms.clipping import per_example_global_norm_clip


class DifferentiallyPrivateAggregateState(NamedTuple):
    """State of :func:`differentially_private_aggregate` (optax's field): the PRNG key."""

    rng_key: Any


def _as_key(key: Any, seed: Any) -> Any:
    if seed is not None:
        if key is not None:
            raise ValueError("give only one of key and seed")
        key = seed
    if key is None:
        key = 0
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if not hasattr(key, "dtype"):
        raise TypeError(f"key must be an int or a jax.random key, got {type(key).__name__} {key!r}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)  # a raw uint32 key (jax.random.PRNGKey)


def differentially_private_aggregate(l2_norm_clip, noise_multiplier, key=None, *, seed=None) -> GradientTransformation:
    """Clip each example's gradient, sum, add Gaussian noise and average: DP-SGD's aggregate.

    Update rule (Abadi et al., Algorithm 1), ``B`` the leading batch axis of
    every leaf, ``n_i`` example ``i``'s global norm over all leaves::

        u = (sum_i g_i * min(1, C / n_i) + N(0, (C * sigma)**2 I)) / B

    with ``C = l2_norm_clip`` and ``sigma = noise_multiplier``; one fresh key
    per leaf per step.

    Conventions: as ``optax.contrib.differentially_private_aggregate``:
    the incoming updates are *per-example* gradients (leading axis ``B``),
    the outgoing ones have the params' shapes. ``key`` is an int or a key,
    turned into a key when ``init`` runs; the default key ``0`` is used
    silently (optax warns): pass your own key for real privacy. ``seed=`` is
    optax's deprecated spelling of an int key.

    Args:
        l2_norm_clip: ``C > 0``.
        noise_multiplier: ``sigma >= 0``.
        key: an int or a ``jax.random`` key (default ``0``).
        seed: an int, instead of ``key``.

    State: :class:`DifferentiallyPrivateAggregateState` ``(rng_key,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.differentially_private_aggregate(1.0, 0.0, key=0)
        >>> per_example = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}
        >>> t.update(per_example, t.init({"w": jnp.zeros(2)}))[0]["w"]  # (0.6 + 0.3, 0.8 + 0.4) / 2
        Array([0.45, 0.6 ], dtype=float32)

    References:
        Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    check_number("l2_norm_clip", l2_norm_clip, low=0.0)
    check_number("noise_multiplier", noise_multiplier, low=0.0)
    _as_key(key, seed)  # validate eagerly

    def init(params):
        del params
        return DifferentiallyPrivateAggregateState(rng_key=_as_key(key, seed))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        leaves, treedef = jax.tree.flatten(updates)
        if not leaves:
            return updates, state
        batch = leaves[0].shape[0]
        clipped, _ = per_example_global_norm_clip(leaves, l2_norm_clip)
        std = value_at(l2_norm_clip, None) * value_at(noise_multiplier, None)
        new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
        noised = [(g + std * jax.random.normal(k, g.shape, g.dtype)) / batch for g, k in zip(clipped, keys)]
        return treedef.unflatten(noised), DifferentiallyPrivateAggregateState(rng_key=new_key)

    return GradientTransformation(init, update)
