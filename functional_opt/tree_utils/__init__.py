"""Tree math and optimizer-state utilities: the ``optax.tree_utils`` namespace.

Everything here works on any pytree (dicts, lists, NamedTuple states,
flax/equinox modules), leaf by leaf, with ``None`` leaves as empty subtrees:

* arithmetic: :func:`tree_add`, :func:`tree_sub`, :func:`tree_mul`,
  :func:`tree_div`, :func:`tree_scale`, :func:`tree_add_scale`,
  :func:`tree_conj`, :func:`tree_real`, :func:`tree_clip`, :func:`tree_where`;
* reductions: :func:`tree_vdot`, :func:`tree_sum`, :func:`tree_max`,
  :func:`tree_min`, :func:`tree_norm`, :func:`tree_size`, :func:`tree_allclose`;
* constructors and casts: :func:`tree_zeros_like`, :func:`tree_ones_like`,
  :func:`tree_full_like` (each keeps the leaf's sharding),
  :func:`tree_batch_shape`, :func:`tree_cast`, :func:`tree_cast_like`,
  :func:`tree_dtype`;
* moments: :func:`tree_update_moment`, :func:`tree_update_infinity_moment`,
  :func:`tree_update_moment_per_elem_norm`, :func:`tree_bias_correction`;
* randomness: :func:`tree_split_key_like`, :func:`tree_random_like`,
  :func:`tree_unwrap_random_key_data`;
* optimizer states: :func:`tree_get`, :func:`tree_get_all_with_path`,
  :func:`tree_set` (find or replace a field such as ``"learning_rate"`` or
  ``"count"`` anywhere in a state), :func:`tree_map_params`, :class:`NamedTupleKey`.

The same functions are in :mod:`functional_opt.tree` without the ``tree_``
prefix (``fo.tree.add is fo.tree_utils.tree_add``), as ``optax.tree``.
"""

# isort would split the `name as name` re-exports into one statement each; grouped by concept instead.
# ruff: noqa: I001

from functional_opt._exports import public_names as _public_names

# --- arithmetic, reductions, constructors and moments ---
from functional_opt.tree_utils.tree_math import (
    tree_add as tree_add,
    tree_add_scale as tree_add_scale,
    tree_allclose as tree_allclose,
    tree_batch_shape as tree_batch_shape,
    tree_bias_correction as tree_bias_correction,
    tree_clip as tree_clip,
    tree_conj as tree_conj,
    tree_div as tree_div,
    tree_full_like as tree_full_like,
    tree_max as tree_max,
    tree_min as tree_min,
    tree_mul as tree_mul,
    tree_norm as tree_norm,
    tree_ones_like as tree_ones_like,
    tree_real as tree_real,
    tree_scale as tree_scale,
    tree_size as tree_size,
    tree_sub as tree_sub,
    tree_sum as tree_sum,
    tree_update_infinity_moment as tree_update_infinity_moment,
    tree_update_moment as tree_update_moment,
    tree_update_moment_per_elem_norm as tree_update_moment_per_elem_norm,
    tree_vdot as tree_vdot,
    tree_where as tree_where,
    tree_zeros_like as tree_zeros_like,
)

# --- dtypes and randomness ---
from functional_opt.tree_utils.casting import (
    tree_cast as tree_cast,
    tree_cast_like as tree_cast_like,
    tree_dtype as tree_dtype,
    tree_random_like as tree_random_like,
    tree_split_key_like as tree_split_key_like,
    tree_unwrap_random_key_data as tree_unwrap_random_key_data,
)

# --- finding and replacing fields of optimizer states ---
from functional_opt.tree_utils.state import (
    NamedTupleKey as NamedTupleKey,
    tree_get as tree_get,
    tree_get_all_with_path as tree_get_all_with_path,
    tree_map_params as tree_map_params,
    tree_set as tree_set,
)

__all__ = _public_names(globals())
