r"""Euclidean projections onto convex sets, over whole pytrees: the ``optax.projections`` namespace.

Each ``projection_<set>(x, ...)`` returns
:math:`\arg\min_{p \in C} \|x - p\|_2^2` where the norm is taken over all
leaves of the tree together (the tree is one vector), except the box-like
sets (box, hypercube, non-negative orthant, :math:`\ell_\infty` ball),
which are products of intervals and so act leaf by leaf and element by
element. Use them for projected gradient descent: after
``params = fo.apply_updates(params, updates)``, set
``params = projection_<set>(params, ...)``.

All are pure ``jax.numpy`` and jit/vmap/grad-able; the simplex projection
has a custom JVP (its derivative is the projection onto the tangent space
of the active face).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

from functional_opt.tree_utils import tree_add_scale, tree_full_like, tree_mul, tree_norm, tree_scale, tree_vdot

__all__ = [
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
]


def projection_non_negative(tree: Any) -> Any:
    r"""Projection onto the non-negative orthant: :math:`p = \max(x, 0)` elementwise.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_non_negative({"w": jnp.array([-1.0, 2.0])})
      {'w': Array([0., 2.], dtype=float32)}

    Same as ``optax.projections.projection_non_negative``.
    """
    return jax.tree.map(jax.nn.relu, tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    r"""Projection onto the box :math:`\{p : l \le p \le u\}`: :math:`p = \operatorname{clip}(x, l, u)`.

    Args:
      tree: the tree :math:`x`.
      lower: the lower bound, a scalar or a tree with ``tree``'s structure.
      upper: the upper bound, a scalar or a tree with ``tree``'s structure.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_box({"w": jnp.array([-2.0, 0.5, 3.0])}, -1.0, 1.0)
      {'w': Array([-1. ,  0.5,  1. ], dtype=float32)}

    Same as ``optax.projections.projection_box``; a scalar bound is
    broadcast to every leaf (optax needs a tree unless ``tree`` is one array).
    """

    def per_leaf(bound):  # a scalar (or one array) bound stands for every leaf
        if jax.tree_util.treedef_is_leaf(jax.tree.structure(bound)):
            return jax.tree.map(lambda _: bound, tree)
        return bound

    return jax.tree.map(jnp.clip, tree, per_leaf(lower), per_leaf(upper))


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the hypercube :math:`[0, \text{scale}]^d`: :math:`p = \operatorname{clip}(x, 0, \text{scale})`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_hypercube(jnp.array([-1.0, 0.5, 2.0]))
      Array([0. , 0.5, 1. ], dtype=float32)

    Same as ``optax.projections.projection_hypercube``.
    """
    return projection_box(tree, lower=0, upper=scale)


@jax.custom_jvp
def _unit_simplex(v: jax.Array) -> jax.Array:
    """Projection of a vector onto ``{p >= 0, sum(p) = 1}`` by sorting (Held, Wolfe & Crowder)."""
    n = v.shape[0]
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(u)
    k = jnp.arange(1, n + 1, dtype=v.dtype)
    rho = jnp.count_nonzero(u - (css - 1) / k > 0)  # the number of positive coordinates
    tau = (css[rho - 1] - 1) / rho.astype(v.dtype)
    return jnp.maximum(v - tau, 0)


@_unit_simplex.defjvp
def _unit_simplex_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    p = _unit_simplex(v)
    support = (p > 0).astype(v.dtype)
    dp = support * dv - support * jnp.dot(support, dv) / jnp.sum(support)
    return p, dp


def projection_simplex(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the simplex :math:`\{p : p \ge 0,\ \sum p = \text{scale}\}` (all leaves together).

    Computed as :math:`p = \max(x - \tau, 0)` with the threshold :math:`\tau`
    found by sorting (:math:`O(d \log d)`). Differentiable (custom JVP).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_simplex(jnp.array([0.5, 1.5, -1.0]))
      Array([0., 1., 0.], dtype=float32)

    Same as ``optax.projections.projection_simplex``.

    Reference: Held, Wolfe & Crowder, "Validation of subgradient optimization", Math. Programming 1974;
    Condat, "Fast projection onto the simplex and the l1 ball", Math. Programming 2016.
    """
    flat, unravel = flatten_util.ravel_pytree(tree)
    return unravel(scale * _unit_simplex(flat / scale))


def projection_l1_sphere(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the :math:`\ell_1` sphere :math:`\{p : \|p\|_1 = \text{scale}\}`.

    :math:`p = \operatorname{sign}(x) \odot \Pi_\Delta(|x|)`.

    :math:`\Pi_\Delta` is :func:`projection_simplex` with the same ``scale``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_l1_sphere(jnp.array([0.25, -0.25]))
      Array([ 0.5, -0.5], dtype=float32)

    Same as ``optax.projections.projection_l1_sphere``.
    """
    return tree_mul(jax.tree.map(jnp.sign, tree), projection_simplex(jax.tree.map(jnp.abs, tree), scale))


def projection_l1_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the :math:`\ell_1` ball :math:`\{p : \|p\|_1 \le \text{scale}\}`.

    :math:`x` itself when :math:`\|x\|_1 \le` ``scale``, else
    :func:`projection_l1_sphere`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_l1_ball(jnp.array([2.0, 0.5]))
      Array([1., 0.], dtype=float32)

    Same as ``optax.projections.projection_l1_ball``.

    Reference: Duchi et al., "Efficient projections onto the l1-ball for learning in high dimensions", ICML 2008.
    """
    inside = tree_norm(tree, ord=1) <= scale
    return jax.lax.cond(inside, lambda t: t, lambda t: projection_l1_sphere(t, scale), tree)


def projection_l2_sphere(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the :math:`\ell_2` sphere: :math:`p = \text{scale}\cdot x / \|x\|_2` (undefined at 0).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_l2_sphere(jnp.array([3.0, 4.0]))
      Array([0.6, 0.8], dtype=float32)

    Same as ``optax.projections.projection_l2_sphere``.
    """
    return tree_scale(scale / tree_norm(tree), tree)


def projection_l2_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the :math:`\ell_2` ball: :math:`p = x \cdot \text{scale} / \max(\|x\|_2, \text{scale})`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_l2_ball(jnp.array([3.0, 4.0]), scale=10.0)
      Array([3., 4.], dtype=float32)

    Same as ``optax.projections.projection_l2_ball``.
    """
    sq = tree_norm(tree, squared=True)
    return tree_scale(scale / jnp.sqrt(jnp.maximum(sq, scale**2)), tree)


def projection_linf_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the :math:`\ell_\infty` ball: :math:`p = \operatorname{clip}(x, -\text{scale}, \text{scale})`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_linf_ball(jnp.array([3.0, -0.5]))
      Array([ 1. , -0.5], dtype=float32)

    Same as ``optax.projections.projection_linf_ball``.
    """
    return projection_box(tree, tree_full_like(tree, -scale), tree_full_like(tree, scale))


def projection_vector(x: Any, a: Any) -> Any:
    r"""Projection onto the line spanned by :math:`a`: :math:`p = \frac{\langle x, a\rangle}{\langle a, a\rangle}\, a`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_vector(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]))
      Array([1., 0.], dtype=float32)

    Same as ``optax.projections.projection_vector``.
    """
    return tree_scale(tree_vdot(x, a) / tree_vdot(a, a), a)


def projection_hyperplane(x: Any, a: Any, b: Any) -> Any:
    r"""Projection onto the hyperplane :math:`\{p : \langle a, p\rangle = b\}`.

    :math:`p = x + \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\, a`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_hyperplane(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]), 3.0)
      Array([3., 2.], dtype=float32)

    Same as ``optax.projections.projection_hyperplane``.
    """
    return tree_add_scale(x, (b - tree_vdot(x, a)) / tree_vdot(a, a), a)


def projection_halfspace(x: Any, a: Any, b: Any) -> Any:
    r"""Projection onto the halfspace :math:`\{p : \langle a, p\rangle \le b\}`.

    :math:`p = x + \min\!\big(0, \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\big)\, a`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.projections.projection_halfspace(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]), 0.0)
      Array([0., 2.], dtype=float32)

    Same as ``optax.projections.projection_halfspace``.
    """
    return tree_add_scale(x, jnp.minimum((b - tree_vdot(x, a)) / tree_vdot(a, a), 0), a)
