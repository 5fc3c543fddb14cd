"""Private pytree math shared by the transformations.

Everything here treats ``None`` leaves as empty subtrees (``jax.tree.map``'s
default), so equinox-style trees with non-trainable ``None`` leaves pass
through untouched.

The moving-average helpers are written in the "one pass" form
``m + (1 - b) * (g - m)`` computed in at least float32 and stored back in the
moment's dtype, which XLA fuses into a single loop per leaf.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt._hparams import compute_dtype, log_of, one_minus, safe_increment, value_at


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with each leaf's shape, in ``dtype`` or the leaf's own dtype.

    Works on arrays and on ``jax.ShapeDtypeStruct`` leaves (abstract init).
    """
    return jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), dtype or jnp.result_type(x)), tree)


def full_like(tree: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` broadcast to each leaf's shape, in ``dtype`` or the leaf's dtype."""
    return jax.tree.map(lambda x: jnp.full(jnp.shape(x), value, dtype or jnp.result_type(x)), tree)


def cast(tree: Any, dtype: Any) -> Any:
    """Cast every leaf to ``dtype`` (``None`` means: leave unchanged)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def cast_like(tree: Any, like: Any) -> Any:
    """Cast each leaf of ``tree`` to the dtype of the matching leaf of ``like``."""
    return jax.tree.map(lambda x, y: jnp.asarray(x).astype(jnp.result_type(y)), tree, like)


def ema_leaf(moment: jax.Array, value: jax.Array, one_minus_decay: jax.Array) -> jax.Array:
    """One exponential-moving-average step for one array, in one pass.

    ``decay * moment + (1 - decay) * value``, evaluated as
    ``moment + (1 - decay) * (value - moment)`` in at least float32 and
    returned in ``moment``'s dtype. Takes ``1 - decay`` (see
    ``_hparams.one_minus``, which forms it without float32 cancellation).
    """
    dt = compute_dtype(moment.dtype, value.dtype)
    m = moment.astype(dt)
    new = m + one_minus_decay.astype(dt) * (value.astype(dt) - m)
    return new.astype(moment.dtype)


def ema(moments: Any, values: Any, one_minus_decay: jax.Array) -> Any:
    """Tree version of :func:`ema_leaf`."""
    return jax.tree.map(lambda m, v: ema_leaf(m, v, one_minus_decay), moments, values)


def bias_correction_factor(log_decay: jax.Array, count: jax.Array) -> jax.Array:
    """``1 / (1 - decay**count)``, computed as ``-1 / expm1(count * log(decay))``.

    ``count`` is the 1-based step ``t = state.count + 1``; ``log_decay`` comes
    from ``_hparams.log_of``. The ``expm1`` form is accurate to float32
    rounding even when ``decay**t`` is close to 1 (``1 - 0.999**t`` formed by a
    float32 power loses ~4 digits at small ``t``). ``decay = 0`` gives 1.
    """
    dt = compute_dtype(jnp.result_type(log_decay))
    return -1 / jnp.expm1(count.astype(dt) * log_decay.astype(dt))


def bias_correction(moments: Any, log_decay: jax.Array, count: jax.Array) -> Any:
    """``moment / (1 - decay**count)`` leaf by leaf, in the moment's dtype."""
    factor = bias_correction_factor(log_decay, count)
    return jax.tree.map(
        lambda m: (m.astype(compute_dtype(m.dtype)) * factor).astype(m.dtype), moments
    )


def tree_sum(xs: list) -> Any:
    """Sum a list of scalars as a balanced binary tree (not a left fold).

    A balanced reduction keeps the HLO depth logarithmic in the number of
    leaves, which keeps compile time flat for trees of thousands of leaves.
    """
    if not xs:
        return jnp.zeros([], jnp.float32)
    while len(xs) > 1:
        pairs = [xs[i] + xs[i + 1] for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            pairs.append(xs[-1])
        xs = pairs
    return xs[0]


def squared_norm(tree: Any) -> jax.Array:
    """``sum(x**2)`` over every leaf, in at least float32, reduced as a balanced tree."""
    leaves = jax.tree.leaves(tree)
    sq = [jnp.sum(jnp.square(x.astype(compute_dtype(x.dtype)))) for x in leaves]
    return tree_sum(sq)


def global_norm(tree: Any) -> jax.Array:
    """The Euclidean norm of all leaves together (``optax.global_norm``)."""
    return jnp.sqrt(squared_norm(tree))


def real_dtype_zeros(tree: Any) -> Any:
    """Zeros shaped like ``tree`` with real dtype (for second moments of complex leaves)."""
    return jax.tree.map(
        lambda x: jnp.zeros(jnp.shape(x), jnp.finfo(jnp.result_type(x)).dtype), tree
    )


def unzip(tree_of_tuples: Any, treedef: Any, n: int) -> tuple:
    """Split a tree whose leaves became ``n``-tuples into ``n`` trees.

    ``treedef`` is the structure of the original tree (before its leaves
    became tuples), e.g. ``jax.tree.structure(updates)``. An empty tree gives
    ``n`` empty trees.
    """
    leaves = treedef.flatten_up_to(tree_of_tuples)
    return tuple(treedef.unflatten([leaf[i] for leaf in leaves]) for i in range(n))


def abs_sq(x: jax.Array) -> jax.Array:
    """``|x|**2`` (real), for real or complex ``x``."""
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def check_same_shapes(where: str, a_name: str, a: Any, b_name: str, b: Any) -> None:
    """Raise ``ValueError`` at the first key path where ``a`` and ``b`` differ.

    Compares the key paths of the leaves (``None`` leaves are empty subtrees)
    and the shape of each leaf, in Python at trace time (no runtime cost).
    Catches the silent failure of ``jax.tree.map`` over mismatched trees:
    broadcasting a ``(1,)`` gradient against a ``(3,)`` moment.
    """
    kl = jax.tree_util.keystr
    la = jax.tree_util.tree_flatten_with_path(a)[0]
    lb = jax.tree_util.tree_flatten_with_path(b)[0]
    for i in range(max(len(la), len(lb))):
        if i >= len(la) or i >= len(lb):
            longer, name, other = (lb, b_name, a_name) if i >= len(la) else (la, a_name, b_name)
            raise ValueError(
                f"{where}: {name} has a leaf at key path {kl(longer[i][0])} that {other} lacks "
                "(the trees differ in structure)"
            )
        (ka, xa), (kb, xb) = la[i], lb[i]
        if kl(ka) != kl(kb):
            raise ValueError(
                f"{where}: {a_name} and {b_name} differ in structure at key path {kl(ka)} "
                f"({b_name} has {kl(kb)} in its place)"
            )
        if jnp.shape(xa) != jnp.shape(xb):
            raise ValueError(
                f"{where}: shape mismatch at key path {kl(ka)}: {a_name} {jnp.shape(xa)}, {b_name} {jnp.shape(xb)}"
            )


def check_inexact(where: str, name: str, tree: Any) -> None:
    """Raise ``TypeError`` naming the first key path whose leaf is not float or complex.

    An integer or boolean gradient would be rounded back to its dtype after
    the (fractional) optimizer math: a silent zero step. Trace time only.
    """
    if all(jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in jax.tree.leaves(tree)):
        return
    for k, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            raise TypeError(
                f"{where}: {name} at key path {jax.tree_util.keystr(k)} has dtype {jnp.result_type(x)}; "
                "only float or complex leaves can be optimized (cast it, make it None, or mask it out)"
            )


def resolve_mask(mask: Any, params: Any) -> list | None:
    """The flat list of a mask's bools, one per params leaf (``None`` for no mask).

    ``mask`` is a tree of Python bools with the params' structure, or a
    function ``params -> tree of bools``. A structure mismatch is a
    ``ValueError`` that says what was expected.
    """
    if mask is None:
        return None
    m = mask(params) if callable(mask) else mask
    try:
        return jax.tree.structure(params).flatten_up_to(m)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"mask must have the structure of the params (a tree of bools, or a function of the "
            f"params returning one): {e}"
        ) from e


def map_masked_with_params(where: str, fn: Any, updates: Any, params: Any, mask: Any) -> Any:
    """``fn(u, p)`` on each (update, param) leaf pair the mask selects; others pass through.

    Checks at trace time that ``params`` is given and has the updates'
    structure and shapes, naming ``where`` and the first differing key path.
    """
    if params is None:
        raise ValueError(f"{where} needs params: call update(updates, state, params)")
    check_same_shapes(where, "updates", updates, "params", params)
    treedef = jax.tree.structure(updates)
    u_leaves = treedef.flatten_up_to(updates)
    p_leaves = treedef.flatten_up_to(params)
    m_leaves = resolve_mask(mask, params) or [True] * len(u_leaves)
    return treedef.unflatten([fn(u, p) if m else u for u, p, m in zip(u_leaves, p_leaves, m_leaves)])


class MomentCoefficients(NamedTuple):
    """Per-step scalars of an Adam-style update (see :func:`moment_coefficients`)."""

    beta1: Any  # b1 at this step
    omb1: Any  # 1 - b1
    omb2: Any  # 1 - b2
    c1: Any  # 1 / (1 - b1**t)
    c2: Any  # 1 / (1 - b2**t)
    c1_next: Any  # 1 / (1 - b1**(t+1)), for the Nesterov estimate


def moment_coefficients(b1: Any, b2: Any, count: Any) -> tuple:
    """The scalars of an Adam-style step at ``state.count``, and the incremented count.

    ``b1``/``b2`` are hyperparameters (number, array or schedule of the
    pre-increment count); ``t = count + 1`` is the bias-correction step.
    ``1 - b`` and the corrections are formed without float32 cancellation
    (``_hparams.one_minus``, ``bias_correction_factor``).
    """
    t = safe_increment(count)
    log_b1 = log_of(b1, count)
    coeffs = MomentCoefficients(
        beta1=value_at(b1, count),
        omb1=one_minus(b1, count),
        omb2=one_minus(b2, count),
        c1=bias_correction_factor(log_b1, t),
        c2=bias_correction_factor(log_of(b2, count), t),
        c1_next=bias_correction_factor(log_b1, safe_increment(t)),
    )
    return coeffs, t
