"""Dtypes and random keys of pytrees (``optax.tree_utils``' casting and random helpers)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def tree_cast(tree: Any, dtype: Any) -> Any:
    """Every leaf cast to ``dtype``; ``dtype=None`` returns ``tree`` unchanged.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_cast({"w": jnp.array(1.5)}, jnp.bfloat16)
      {'w': Array(1.5, dtype=bfloat16)}

    Same as ``optax.tree_utils.tree_cast``.
    """
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
    """Each leaf of ``tree`` cast to the dtype of the matching leaf of ``other_tree`` (kept where that has none).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_cast_like({"w": jnp.array(2.0)}, {"w": jnp.array(0, jnp.int32)})
      {'w': Array(2, dtype=int32)}

    Same as ``optax.tree_utils.tree_cast_like``.
    """
    return jax.tree.map(lambda x, o: x.astype(o.dtype) if hasattr(o, "dtype") else x, tree, other_tree)


def _ordered(d1: Any, d2: Any, want_high: bool) -> Any:
    """The higher (or lower) of two dtypes when one promotes to the other, else a ``ValueError``."""
    joint = jnp.promote_types(d1, d2)
    if joint not in (jnp.dtype(d1), jnp.dtype(d2)):
        raise ValueError(f"tree_dtype: neither of {d1} and {d2} promotes to the other, so they cannot be ordered")
    high = jnp.dtype(d1) if joint == jnp.dtype(d1) else jnp.dtype(d2)
    low = jnp.dtype(d2) if high == jnp.dtype(d1) else jnp.dtype(d1)
    return high if want_high else low


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The dtype of a tree's leaves.

    ``mixed_dtype_handler`` says what to do when the leaves differ:

    * ``None``: all leaves must share one dtype, else ``ValueError`` naming each differing key path;
    * ``"promote"``: ``jnp.promote_types`` of all leaf dtypes;
    * ``"highest"`` / ``"lowest"``: the highest / lowest dtype in the order
      "``a <= b`` when ``a`` promotes to ``b``" (``ValueError`` when two leaves
      are not comparable, e.g. int32 and uint32).

    An empty tree gives JAX's default float dtype.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> tree = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(1, jnp.float32)}
      >>> fo.tree_utils.tree_dtype(tree, "lowest"), fo.tree_utils.tree_dtype(tree, "promote")
      (dtype('float16'), dtype('float32'))

    Same as ``optax.tree_utils.tree_dtype``.
    """
    pairs = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not pairs:
        return jnp.asarray([]).dtype
    dtypes = [jnp.asarray(x).dtype for _, x in pairs]
    if mixed_dtype_handler is None:
        bad = [f"{jax.tree_util.keystr(k)} has {d}" for (k, _), d in zip(pairs, dtypes) if d != dtypes[0]]
        if bad:
            raise ValueError(f"tree_dtype: expected every leaf in {dtypes[0]} (the first leaf's): " + "; ".join(bad))
        return dtypes[0]
    if mixed_dtype_handler == "promote":
        return functools.reduce(jnp.promote_types, dtypes)
    if mixed_dtype_handler in ("highest", "lowest"):
        return functools.reduce(lambda a, b: _ordered(a, b, mixed_dtype_handler == "highest"), dtypes)
    raise ValueError(
        f"tree_dtype: mixed_dtype_handler={mixed_dtype_handler!r}; use None, 'promote', 'highest' or 'lowest'"
    )


def tree_split_key_like(rng_key: Any, target_tree: Any) -> Any:
    """One fresh key per leaf of ``target_tree``: ``jax.random.split(rng_key, n_leaves)`` in its structure.

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> keys = fo.tree_utils.tree_split_key_like(jax.random.key(0), {"a": jnp.ones(2), "b": jnp.ones(3)})
      >>> sorted(keys)
      ['a', 'b']

    Same as ``optax.tree_utils.tree_split_key_like``.
    """
    treedef = jax.tree.structure(target_tree)
    return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def tree_random_like(
    rng_key: Any,
    target_tree: Any,
    sampler: Callable[..., Any] = jax.random.normal,
    dtype: Any = None,
) -> Any:
    """A random tree shaped like ``target_tree``: ``sampler(key_i, leaf.shape, dtype or leaf.dtype)`` per leaf.

    Each leaf gets its own key (:func:`tree_split_key_like`). When the
    sampler takes ``out_sharding`` (``jax.random.normal`` does), each sample
    is created with its leaf's sharding.

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> noise = fo.tree_utils.tree_random_like(jax.random.key(0), {"w": jnp.zeros((2, 3))})
      >>> noise["w"].shape, noise["w"].dtype
      ((2, 3), dtype('float32'))

    Same as ``optax.tree_utils.tree_random_like``.
    """
    keys = tree_split_key_like(rng_key, target_tree)
    try:
        takes_sharding = "out_sharding" in inspect.signature(sampler).parameters
    except (TypeError, ValueError):
        takes_sharding = False

    def draw(leaf, key):
        dt = dtype or leaf.dtype
        if takes_sharding:
            return sampler(key, leaf.shape, dt, out_sharding=jax.typeof(leaf).sharding)
        return sampler(key, leaf.shape, dt)

    return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
    """Typed random keys (``jax.random.key``) replaced by their raw ``uint32`` data, other leaves unchanged.

    For comparing states that hold keys numerically.

    Examples:
      >>> import jax, functional_opt as fo
      >>> fo.tree_utils.tree_unwrap_random_key_data({"k": jax.random.key(0)})["k"].dtype
      dtype('uint32')

    Same as ``optax.tree_utils.tree_unwrap_random_key_data``.
    """

    def unwrap(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(unwrap, input_tree)
