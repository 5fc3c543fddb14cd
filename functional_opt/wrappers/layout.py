"""Run a transformation on one flat vector: every leaf concatenated (optax's ``flatten``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


def _concat(tree):
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((0,), jnp.float32)
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def _split(like, flat):
    leaves, treedef = jax.tree.flatten(like)
    offsets = np.cumsum([np.size(x) for x in leaves])[:-1]
    parts = jnp.split(flat, offsets) if leaves else []
    return treedef.unflatten([p.reshape(np.shape(x)).astype(x.dtype) for p, x in zip(parts, leaves)])


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Run ``inner`` on the concatenation of every leaf into one 1-D vector.

    Rule::

        v = concat(ravel(leaf) for leaf in leaves(g))    (likewise for params)
        u_flat, inner_state <- inner.update(v, inner_state, concat(params))
        u <- split u_flat back into g's structure and shapes

    ``inner`` sees one array, so its per-leaf costs (loops, compile time)
    are paid once. Leaves of mixed dtypes are promoted to a common dtype in
    the vector and cast back. Per-leaf rules (trust ratios, block norms,
    factored moments) see the whole vector as one leaf.

    Conventions: as optax's ``transforms.flatten``: the tree is concatenated
    and split on every step (a copy of gradients and params per step).
    :mod:`functional_opt.flat` is this library's flat mode without that
    copy: ``fo.flat.flatten_params`` packs the parameters once into
    persistent, padded buffers (grouped by dtype and sharding) that the
    optimizer, its state and the gradients stay in across steps; prefer it
    for speed, and ``flatten`` for a drop-in port of optax code.

    Args:
        inner: the transformation to run on the flat vector.

    State: ``inner``'s state for a 1-D vector of all the parameters.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.flatten(fo.sgd(0.1))
        >>> p = {"a": jnp.ones(2), "b": jnp.ones((1, 2))}
        >>> u, s = opt.update(p, opt.init(p), p)
        >>> u["b"]
        Array([[-0.1, -0.1]], dtype=float32)

    References:
        optax.transforms.flatten.
    """
    check_transform(inner, "inner")
    inner = with_extra_args_support(inner)

    def init(params):
        return inner.init(_concat(params))

    def update(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _concat(params)
        u, state = inner.update(_concat(updates), state, flat_params, **extra_args)
        return _split(updates, u), state

    return GradientTransformation(init, update)
