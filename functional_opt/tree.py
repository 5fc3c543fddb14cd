"""Tree math and state utilities without the ``tree_`` prefix: the ``optax.tree`` namespace.

Each name here is the same object as ``fo.tree_utils.tree_<name>``
(``fo.tree.add is fo.tree_utils.tree_add``), as ``optax.tree`` aliases
``optax.tree_utils``; see :mod:`functional_opt.tree_utils` for the functions.

Examples:
  >>> import jax.numpy as jnp, functional_opt as fo
  >>> fo.tree.norm({"a": jnp.array([3.0, 4.0])})
  Array(5., dtype=float32)
"""

# ruff: noqa: A004, F401
# (Re-exports under new names, collected into __all__ below; max, min, sum and set shadow builtins here on
# purpose: they are optax.tree's names.)

from functional_opt._exports import public_names as _public_names
from functional_opt.tree_utils import (
    tree_add as add,
)
from functional_opt.tree_utils import (
    tree_add_scale as add_scale,
)
from functional_opt.tree_utils import (
    tree_allclose as allclose,
)
from functional_opt.tree_utils import (
    tree_batch_shape as batch_shape,
)
from functional_opt.tree_utils import (
    tree_bias_correction as bias_correction,
)
from functional_opt.tree_utils import (
    tree_cast as cast,
)
from functional_opt.tree_utils import (
    tree_cast_like as cast_like,
)
from functional_opt.tree_utils import (
    tree_clip as clip,
)
from functional_opt.tree_utils import (
    tree_conj as conj,
)
from functional_opt.tree_utils import (
    tree_div as div,
)
from functional_opt.tree_utils import (
    tree_dtype as dtype,
)
from functional_opt.tree_utils import (
    tree_full_like as full_like,
)
from functional_opt.tree_utils import (
    tree_get as get,
)
from functional_opt.tree_utils import (
    tree_get_all_with_path as get_all_with_path,
)
from functional_opt.tree_utils import (
    tree_map_params as map_params,
)
from functional_opt.tree_utils import (
    tree_max as max,
)
from functional_opt.tree_utils import (
    tree_min as min,
)
from functional_opt.tree_utils import (
    tree_mul as mul,
)
from functional_opt.tree_utils import (
    tree_norm as norm,
)
from functional_opt.tree_utils import (
    tree_ones_like as ones_like,
)
from functional_opt.tree_utils import (
    tree_random_like as random_like,
)
from functional_opt.tree_utils import (
    tree_real as real,
)
from functional_opt.tree_utils import (
    tree_scale as scale,
)
from functional_opt.tree_utils import (
    tree_set as set,
)
from functional_opt.tree_utils import (
    tree_size as size,
)
from functional_opt.tree_utils import (
    tree_split_key_like as split_key_like,
)
from functional_opt.tree_utils import (
    tree_sub as sub,
)
from functional_opt.tree_utils import (
    tree_sum as sum,
)
from functional_opt.tree_utils import (
    tree_unwrap_random_key_data as unwrap_random_key_data,
)
from functional_opt.tree_utils import (
    tree_update_infinity_moment as update_infinity_moment,
)
from functional_opt.tree_utils import (
    tree_update_moment as update_moment,
)
from functional_opt.tree_utils import (
    tree_update_moment_per_elem_norm as update_moment_per_elem_norm,
)
from functional_opt.tree_utils import (
    tree_vdot as vdot,
)
from functional_opt.tree_utils import (
    tree_where as where,
)
from functional_opt.tree_utils import (
    tree_zeros_like as zeros_like,
)

__all__ = _public_names(globals())
