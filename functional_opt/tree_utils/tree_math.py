"""Leafwise arithmetic, reductions, constructors and moment updates over pytrees (``optax.tree_utils``).

Every function maps over the leaves with ``jax.tree.map`` (``None`` leaves
are empty subtrees), so two-tree functions need trees of one structure.
Reductions are summed as a balanced tree of per-leaf results, which keeps
the compiled graph shallow for models with thousands of leaves.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import log_of


def _is_none(x: Any) -> bool:
    return x is None


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    r"""The leafwise sum of two or more trees: :math:`x + y + \dots`.

    Args:
      tree_x: first tree.
      tree_y: second tree, with ``tree_x``'s structure.
      *other_trees: more trees of the same structure.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_add({"a": jnp.array([1.0, 2.0])}, {"a": jnp.array([3.0, 4.0])})
      {'a': Array([4., 6.], dtype=float32)}

    Same as ``optax.tree_utils.tree_add``.
    """
    return jax.tree.map(lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y, *other_trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
    r"""The leafwise difference :math:`x - y` of two trees of one structure.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_sub([jnp.array([3.0])], [jnp.array([1.0])])
      [Array([2.], dtype=float32)]

    Same as ``optax.tree_utils.tree_sub``.
    """
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
    r"""The leafwise (Hadamard) product :math:`x \odot y` of two trees of one structure.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_mul([jnp.array([3.0])], [jnp.array([2.0])])
      [Array([6.], dtype=float32)]

    Same as ``optax.tree_utils.tree_mul``.
    """
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
    r"""The leafwise quotient :math:`x / y` of two trees of one structure.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_div([jnp.array([3.0])], [jnp.array([2.0])])
      [Array([1.5], dtype=float32)]

    Same as ``optax.tree_utils.tree_div``.
    """
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: Any, tree: Any) -> Any:
    r"""Every leaf times a scalar: :math:`a \, x`.

    Args:
      scalar: the factor :math:`a` (number, array or tracer).
      tree: the tree :math:`x`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_scale(2.0, {"w": jnp.array([1.0, -1.0])})
      {'w': Array([ 2., -2.], dtype=float32)}

    Same as ``optax.tree_utils.tree_scale`` (the scalar comes first).
    """
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: Any, tree_y: Any) -> Any:
    r"""The axpy :math:`x + a\,y`, leaf by leaf.

    Args:
      tree_x: the tree :math:`x`.
      scalar: the factor :math:`a`.
      tree_y: the tree :math:`y`, with ``tree_x``'s structure; where
        ``tree_x`` has a ``None`` leaf the result has ``None``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_add_scale([jnp.array([1.0])], 0.5, [jnp.array([4.0])])
      [Array([3.], dtype=float32)]

    Same as ``optax.tree_utils.tree_add_scale``.
    """
    a = jnp.asarray(scalar)
    return jax.tree.map(lambda x, y: None if x is None else x + a * y, tree_x, tree_y, is_leaf=_is_none)


def tree_vdot(tree_x: Any, tree_y: Any) -> Any:
    r"""The inner product :math:`\langle x, y\rangle = \sum_{\text{leaves}} \sum_i \overline{x_i}\, y_i`.

    The first argument is conjugated (``jnp.vdot``'s convention), so a
    complex tree gives a complex result; each leaf's product is taken at
    ``Precision.HIGHEST``. Integer trees give an integer.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_vdot({"a": jnp.array([1.0, 2.0])}, {"a": jnp.array([-1.0, 3.0])})
      Array(5., dtype=float32)

    Same as ``optax.tree_utils.tree_vdot``.
    """
    xs, ys = jax.tree.leaves(tree_x), jax.tree.leaves(tree_y)
    jax.tree.map(lambda a, b: None, tree_x, tree_y)  # the structures must agree (raises naming both)
    if not xs:
        return jnp.asarray(0)
    return _tree.tree_sum(
        [jnp.vdot(jnp.asarray(a), jnp.asarray(b), precision=jax.lax.Precision.HIGHEST) for a, b in zip(xs, ys)]
    )


def tree_sum(tree: Any, associative_reduction: bool = False) -> Any:
    r"""The sum of every element of every leaf: :math:`\sum_{\text{leaves}}\sum_i x_i`.

    Args:
      tree: the tree.
      associative_reduction: accepted for optax compatibility; the per-leaf
        sums are always added as a balanced tree here (optax adds them left
        to right unless this is ``True``), so the last bits may differ.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_sum({"a": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)})
      Array(6., dtype=float32)
    """
    del associative_reduction
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(0)
    return _tree.tree_sum([jnp.sum(x) for x in leaves])


def _reduce_nonempty(tree: Any, reduce_leaf: Any, combine: Any, empty: float) -> Any:
    values = [reduce_leaf(x) for x in jax.tree.leaves(tree) if jnp.size(x) > 0]
    return functools.reduce(combine, values, jnp.asarray(empty)) if values else jnp.asarray(empty)


def tree_max(tree: Any) -> Any:
    r"""The largest element of all leaves, :math:`\max_{\text{leaves}, i} x_i` (``-inf`` for an empty tree).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_max({"a": jnp.array([1.0, 5.0]), "b": jnp.array(3.0)})
      Array(5., dtype=float32)

    Same as ``optax.tree_utils.tree_max`` (empty leaves are skipped).
    """
    return _reduce_nonempty(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> Any:
    r"""The smallest element of all leaves, :math:`\min_{\text{leaves}, i} x_i` (``inf`` for an empty tree).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_min({"a": jnp.array([1.0, 5.0]), "b": jnp.array(-3.0)})
      Array(-3., dtype=float32)

    Same as ``optax.tree_utils.tree_min``.
    """
    return _reduce_nonempty(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
    """The total number of elements of all leaves, a Python int.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_size({"a": jnp.ones((2, 3)), "b": jnp.ones(4)})
      10

    Same as ``optax.tree_utils.tree_size``.
    """
    return sum(int(jnp.size(x)) for x in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
    """The complex conjugate of every leaf (real leaves unchanged).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_conj([jnp.array([1.0 + 2.0j])])
      [Array([1.-2.j], dtype=complex64)]
    """
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
    """The real part of every leaf.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_real([jnp.array([1.0 + 2.0j])])
      [Array([1.], dtype=float32)]
    """
    return jax.tree.map(jnp.real, tree)


def tree_norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
    r"""A vector norm of all leaves together.

    * ``ord=None`` or ``2``: :math:`\|x\|_2 = \sqrt{\sum |x_i|^2}` (complex-aware);
    * ``ord=1``: :math:`\|x\|_1 = \sum |x_i|`;
    * ``ord=inf`` (or ``"inf"``, ``"infinity"``): :math:`\|x\|_\infty = \max |x_i|`.

    ``squared=True`` returns the square of the norm. The 2-norm is
    accumulated in at least float32 (as the library's ``global_norm``), so a
    bfloat16 tree gives a float32 norm where optax gives a bfloat16 one.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> tree = {"a": jnp.array([3.0, 0.0]), "b": jnp.array(-4.0)}
      >>> fo.tree_utils.tree_norm(tree), fo.tree_utils.tree_norm(tree, ord=1)
      (Array(5., dtype=float32), Array(7., dtype=float32))

    Raises:
      ValueError: for any other ``ord``.
    """
    if ord is None or ord == 2:
        sq = _tree.squared_norm(tree)
        return sq if squared else jnp.sqrt(sq)
    if ord == 1:
        out = tree_sum(jax.tree.map(jnp.abs, tree))
    elif (isinstance(ord, str) and ord in ("inf", "infinity")) or ord == jnp.inf:
        out = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"tree_norm: unsupported ord {ord!r} (use None, 1, 2 or inf)")
    return jnp.asarray(out * out if squared else out)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Each leaf broadcast to ``(*shape, *leaf.shape)`` (leading batch axes added).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_batch_shape({"w": jnp.ones(3)}, (2,))["w"].shape
      (2, 3)
    """
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with each leaf's shape, in ``dtype`` or the leaf's dtype.

    Each result keeps its leaf's sharding (also under ``jit`` on an
    explicit-sharding mesh) and works on ``jax.ShapeDtypeStruct`` leaves.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_zeros_like({"w": jnp.ones(2)})
      {'w': Array([0., 0.], dtype=float32)}
    """
    return _tree.zeros_like(tree, dtype)


def tree_ones_like(tree: Any, dtype: Any = None) -> Any:
    """Ones with each leaf's shape, in ``dtype`` or the leaf's dtype (sharding kept, as :func:`tree_zeros_like`).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_ones_like({"w": jnp.zeros(2)}, dtype=jnp.int32)
      {'w': Array([1, 1], dtype=int32)}
    """
    return _tree.full_like(tree, 1, dtype)


def tree_full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """``fill_value`` in each leaf's shape, in ``dtype`` or the leaf's dtype (sharding kept).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_full_like({"w": jnp.zeros(2)}, 0.5)
      {'w': Array([0.5, 0.5], dtype=float32)}
    """
    return _tree.full_like(tree, fill_value, dtype)


def tree_clip(tree: Any, min_value: Any = None, max_value: Any = None) -> Any:
    r"""Every element clipped to :math:`[\text{min\_value}, \text{max\_value}]` (``None``: no bound).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_clip([jnp.array([-2.0, 0.5, 3.0])], -1.0, 1.0)
      [Array([-1. ,  0.5,  1. ], dtype=float32)]
    """
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_update_moment(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
    r"""One EMA step of the ``order``-th power: :math:`m \leftarrow (1-\beta)\, g^{k} + \beta\, m`.

    ``decay`` is :math:`\beta`, ``order`` is :math:`k`; ``None`` update
    leaves stay ``None``. For complex ``g`` and even ``k`` this is the
    complex power; use :func:`tree_update_moment_per_elem_norm` for
    :math:`|g|^k`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_update_moment([jnp.array([2.0])], [jnp.array([1.0])], 0.5, 2)
      [Array([2.5], dtype=float32)]

    Same as ``optax.tree_utils.tree_update_moment``.
    """
    return jax.tree.map(
        lambda g, m: None if g is None else (1 - decay) * (g**order) + decay * m, updates, moments, is_leaf=_is_none
    )


def tree_update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    r"""One step of the infinity-norm moment (Adamax): :math:`u \leftarrow \max(|g| + \epsilon,\ \beta u)`.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_update_infinity_moment([jnp.array([-2.0])], [jnp.array([3.0])], 0.5, 0.0)
      [Array([2.], dtype=float32)]

    Same as ``optax.tree_utils.tree_update_infinity_moment``.
    """
    return jax.tree.map(
        lambda g, u: None if g is None else jnp.maximum(jnp.abs(g) + eps, decay * u), updates, moments, is_leaf=_is_none
    )


def tree_update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
    r"""One EMA step of the ``order``-th power of the magnitude: :math:`m \leftarrow (1-\beta)|g|^{k} + \beta m`.

    For real ``g`` the power is ``g**order`` (as optax; equal to
    :math:`|g|^k` for even ``k``); for complex ``g`` it is
    :math:`(|g|^2)^{k/2}`, real.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_update_moment_per_elem_norm([jnp.array([3.0 + 4.0j])], [jnp.array([0.0])], 0.5, 2)
      [Array([12.5], dtype=float32)]

    Same as ``optax.tree_utils.tree_update_moment_per_elem_norm``.
    """

    def power(g):
        if not jnp.iscomplexobj(g):
            return g**order
        half = order / 2
        return _tree.abs_sq(g) ** (int(half) if float(half).is_integer() else half)

    return jax.tree.map(
        lambda g, m: None if g is None else (1 - decay) * power(g) + decay * m, updates, moments, is_leaf=_is_none
    )


def tree_bias_correction(moment: Any, decay: Any, count: Any) -> Any:
    r"""The bias-corrected moment :math:`\hat m = m / (1 - \beta^{t})`; ``decay`` :math:`\beta`, ``count`` :math:`t`.

    The divisor is formed as :math:`-\mathrm{expm1}(t \log\beta)` in at
    least float32, with :math:`\log\beta` in float64 for a Python number
    (accurate when :math:`\beta^t` is close to 1, where optax's float32
    ``1 - decay**count`` loses digits), then each leaf is multiplied by the
    factor in its own dtype. Call it with the 1-based step ``t`` (the
    library's ``state.count + 1``).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_bias_correction([jnp.array(0.1)], 0.9, 1)
      [Array(1., dtype=float32)]

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    factor = _tree.bias_correction_factor(log_of(decay, None), jnp.asarray(count))
    return jax.tree.map(lambda m: m * factor.astype(m.dtype), moment)


def tree_where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
    """``jnp.where(condition, x, y)`` leaf by leaf: ``tree_x`` where ``condition`` holds, else ``tree_y``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.tree_utils.tree_where(jnp.array(False), [jnp.array([1.0])], [jnp.array([2.0])])
      [Array([2.], dtype=float32)]
    """
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    r"""Whether every pair of leaves satisfies :math:`|a - b| \le \text{atol} + \text{rtol}\,|b|` (``jnp.allclose``).

    Returns a boolean array (``True`` for empty trees).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> bool(fo.tree_utils.tree_allclose({"a": jnp.array(1.0)}, {"a": jnp.array(1.0 + 1e-7)}))
      True
    """
    flags = jax.tree.leaves(
        jax.tree.map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)
    )
    return functools.reduce(jnp.logical_and, flags, jnp.asarray(True))
