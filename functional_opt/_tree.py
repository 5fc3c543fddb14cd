"""Private pytree math shared by the transformations.

Everything here treats ``None`` leaves as empty subtrees (``jax.tree.map``'s
default), so equinox-style trees with non-trainable ``None`` leaves pass
through untouched.

The moving-average helpers are written in the "one pass" form
``m + (1 - b) * (g - m)`` computed in at least float32 and stored back in the
moment's dtype, which XLA fuses into a single loop per leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import compute_dtype, log_of, one_minus, safe_increment, value_at


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with each leaf's shape, in ``dtype`` or the leaf's own dtype.

    Works on arrays and on ``jax.ShapeDtypeStruct`` leaves (abstract init).
    Each result has its leaf's sharding (``NamedSharding`` over a mesh, an
    explicit-mesh sharding type under ``jax.jit``), so optimizer state lives
    where its parameter lives from ``init`` on.
    """
    return jax.tree.map(lambda x: _filled_like(x, 0, dtype or jnp.result_type(x)), tree)


def _filled_like(x: Any, value: Any, dtype: Any) -> Any:
    """``value`` in ``x``'s shape and sharding, in ``dtype`` (one state leaf).

    Eagerly, ``jnp.full_like`` keeps ``x``'s sharding (a
    ``ShapeDtypeStruct``'s too, when it has one). Under a transformation
    (``jax.jit``, ``vmap``) a constant has no sharding: on an
    automatic-sharding mesh it would land on one device (``jit`` drops ``x``
    as an unused input), on an explicit one it would be typed unsharded.
    Adding ``0 * isnan(x)`` (a 0-or-1 factor, so exactly 0, which IEEE rules
    keep XLA from folding away) ties the leaf to ``x``: the partitioner, or
    the explicit sharding rule of an elementwise op, gives it ``x``'s
    sharding. Runs in ``init`` only.
    """
    if isinstance(x, jax.core.Tracer):
        return jnp.full(jnp.shape(x), value, dtype) + jnp.isnan(x).astype(dtype) * 0
    return jnp.full_like(x, value, dtype)


def full_like(tree: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` broadcast to each leaf's shape, in ``dtype`` or the leaf's dtype.

    Keeps each leaf's sharding, as :func:`zeros_like`.
    """
    return jax.tree.map(lambda x: _filled_like(x, value, dtype or jnp.result_type(x)), tree)


def inner_update_if(
    accept: Any, inner: Any, updates: Any, inner_state: Any, params: Any, extra_args: Any, *, pass_through: bool = False
) -> tuple[Any, Any]:
    """``inner.update(updates, inner_state, params, **extra_args)`` where ``accept``, as one ``lax.cond``.

    Otherwise ``inner_state`` is kept and the updates are zeros shaped as
    ``inner``'s (``updates`` themselves with ``pass_through``); the inner
    update is paid only when it runs.
    """

    def run(_):
        return inner.update(updates, inner_state, params, **extra_args)

    shapes = None if pass_through else jax.eval_shape(run, None)

    def reject(_):
        return (updates if shapes is None else zeros_like(shapes[0])), inner_state

    return jax.lax.cond(accept, run, reject, None)


def ema(moment: jax.Array, value: jax.Array, one_minus_decay: Any) -> jax.Array:
    """One exponential-moving-average step for one array, in the one-pass form.

    ``decay * moment + (1 - decay) * value``, written as
    ``moment + (1 - decay) * (value - moment)`` (one loop per leaf after XLA
    fusion; no ``decay * moment`` product to round). Takes ``1 - decay`` from
    :func:`decay_scalars` (``.omb``), formed without float32 cancellation.
    Call it inside a :func:`map_moments` leaf function, where the operands
    are already in the compute dtype; the result has their promoted dtype.
    """
    return moment + one_minus_decay * (value - moment)


def abs_sq(x: jax.Array) -> jax.Array:
    """The squared magnitude ``|x|**2``, always real: ``re**2 + im**2`` for complex ``x``.

    This is the library's one definition of "the squared gradient": second
    moments of complex parameters are real and non-negative (``g * conj(g)``),
    as in optax and torch, never the complex square ``g * g``.
    """
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


class DecayScalars(NamedTuple):
    """Per-step scalars of one decay rate ``beta`` at step ``t = count + 1`` (see :func:`decay_scalars`)."""

    beta: Any  # beta at this step
    omb: Any  # 1 - beta
    c: Any  # 1 / (1 - beta**t): the bias correction
    c_next: Any  # 1 / (1 - beta**(t+1)): the next step's (Nesterov-style estimates)


def decay_scalars(beta: Any, count: Any) -> DecayScalars:
    """The scalars of a moving average with decay ``beta`` at ``state.count``.

    ``beta`` is a hyperparameter (number, array, tracer or schedule of the
    pre-increment count); bias corrections use ``t = count + 1``. ``1 - beta``
    is formed in Python float64 for a Python number (``1 - 0.999`` in float32
    is off by 1.3e-5 relative) and the corrections as
    ``-1 / expm1(t * log(beta))`` (see :func:`bias_correction_factor`).
    Unused fields cost nothing: XLA drops dead scalar code.
    """
    t = safe_increment(count)
    log_beta = log_of(beta, count)
    return DecayScalars(
        beta=value_at(beta, count),
        omb=one_minus(beta, count),
        c=bias_correction_factor(log_beta, t),
        c_next=bias_correction_factor(log_beta, safe_increment(t)),
    )


def mu_hat(mu: jax.Array, g: jax.Array, k1: DecayScalars, nesterov: bool = False) -> jax.Array:
    """The bias-corrected first moment ``mu / (1 - b1**t)``, ``k1 = decay_scalars(b1, count)``.

    With ``nesterov`` it is NAdam's look-ahead (Dozat; optax's form):
    ``b1 * mu / (1 - b1**(t+1)) + (1 - b1) * g / (1 - b1**t)``. Call it
    inside a :func:`map_moments` leaf function.
    """
    return k1.beta * mu * k1.c_next + k1.omb * g * k1.c if nesterov else mu * k1.c


def bias_correction_factor(log_decay: jax.Array, count: jax.Array) -> jax.Array:
    """``1 / (1 - decay**count)``, computed as ``-1 / expm1(count * log(decay))``.

    ``count`` is the 1-based step ``t = state.count + 1``; ``log_decay`` comes
    from ``_hparams.log_of``. The ``expm1`` form is accurate to float32
    rounding even when ``decay**t`` is close to 1 (``1 - 0.999**t`` formed by a
    float32 power loses ~4 digits at small ``t``). ``decay = 0`` gives 1.
    """
    dt = compute_dtype(jnp.result_type(log_decay))
    return -1 / jnp.expm1(jnp.asarray(count).astype(dt) * jnp.asarray(log_decay).astype(dt))


def up(x: jax.Array) -> jax.Array:
    """``x`` in its compute dtype: at least float32, complex kept complex."""
    return x.astype(compute_dtype(x.dtype))


_NO_PARAMS = object()


def _is_prefix(treedef: Any, tree: Any) -> bool:
    try:
        treedef.flatten_up_to(tree)
    except (ValueError, TypeError):
        return False
    return True


def _up_any(x: Any) -> Any:  # one array, or a tuple of per-leaf statistics
    return up(x) if hasattr(x, "dtype") else jax.tree.map(up, x)


def _cast_any(new: Any, old: Any) -> Any:
    if hasattr(old, "dtype"):
        return new.astype(old.dtype)
    return jax.tree.map(lambda a, b: a.astype(b.dtype), new, old)


def map_moments(
    where: str,
    leaf: Callable[..., tuple],
    updates: Any,
    *,
    params: Any = _NO_PARAMS,
    mask: Any = None,
    check_shapes: bool = True,
    **moments: Any,
) -> tuple[Any, tuple]:
    """Lift a per-array update rule to the pytree: the one per-leaf primitive.

    ``leaf(g, *moments[, p]) -> (u, *new_moments[, *extras])`` is a pure
    function of one array per argument whose variable names are the
    transform's equation. ``map_moments``:

    1. checks once, at trace time, that ``updates`` are float or complex and
       that every moment tree (and ``params`` when passed) has the updates'
       structure and shapes, raising an error that names ``where`` and the
       first differing key path (``check_shapes=False`` checks the structure
       only, for factored or per-leaf statistics of other shapes; a moment's
       entry for one leaf may then also be a tuple of arrays, e.g. one
       statistic per axis, which ``leaf`` receives and returns as a tuple);
    2. casts each array to its compute dtype (at least float32; complex
       stays complex, so a real second moment stays real);
    3. calls ``leaf`` once per leaf (so XLA fuses the whole rule into one
       pass per leaf);
    4. casts ``u`` back to the update's dtype and each new moment back to its
       stored dtype; extra outputs beyond the moments are returned as they
       are (e.g. a per-leaf norm for a later reduction); a ``u`` of
       ``None`` (a first pass whose update waits for such a reduction)
       comes back as ``None`` leaves;
    5. unzips the per-leaf tuples into trees.

    Moments are passed by keyword (``mu=state.mu``), in the order ``leaf``
    takes them; the names appear in error messages. ``params``, when given,
    is passed to ``leaf`` as its last argument; passing ``params=None``
    raises a ``ValueError`` saying that ``where`` needs params. ``mask``
    (a mask as :func:`resolve_mask` reads it, resolved against the params
    when given, else the updates) leaves the masked-out leaves' updates and
    moments unchanged; ``leaf`` must not return extras then.

    Returns ``(u, (new_moment_1, ..., extra_1, ...))``.

    Example (inside an ``update``)::

        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        def leaf(g, mu, nu):
            mu = _tree.ema(mu, g, k1.omb)
            nu = _tree.ema(nu, _tree.abs_sq(g), k2.omb)
            return mu * k1.c / (jnp.sqrt(nu * k2.c) + eps), mu, nu
        u, (mu, nu) = _tree.map_moments("scale_by_adam", leaf, updates, mu=state.mu, nu=state.nu)
    """
    check_inexact(where, "the update", updates)
    treedef = jax.tree.structure(updates)
    for name, m in moments.items():
        if check_shapes or not _is_prefix(treedef, m):  # (a prefix admits per-leaf tuples)
            check_same_shapes(where, "updates", updates, f"state.{name}", m, shapes=check_shapes)
    trees = list(moments.values())
    if params is not _NO_PARAMS:
        if params is None:
            raise ValueError(f"{where} needs params: call update(updates, state, params)")
        check_same_shapes(where, "updates", updates, "params", params)
        trees.append(params)
    n = len(moments)
    columns = [treedef.flatten_up_to(t) for t in (updates, *moments.values())]
    flags = (
        [True] * treedef.num_leaves
        if mask is None
        else resolve_mask(where, mask, updates if params is _NO_PARAMS else params)
    )

    def lifted(g, *xs):
        out = leaf(up(g), *(_up_any(x) for x in xs))
        if not isinstance(out, tuple) or len(out) < 1 + n:
            raise TypeError(
                f"{where}: the per-leaf rule must return a tuple (update, {n} new moments, ...), got {out!r}"
            )
        u = None if out[0] is None else out[0].astype(g.dtype)
        new = tuple(_cast_any(o, m) for o, m in zip(out[1 : 1 + n], xs[:n]))
        return (u, *new, *out[1 + n :])

    args = zip(*(treedef.flatten_up_to(t) for t in (updates, *trees)))
    rows = [lifted(*xs) if keep else tuple(c[i] for c in columns) for i, (keep, xs) in enumerate(zip(flags, args))]
    width = len(rows[0]) if rows else 1 + n
    out = tuple(treedef.unflatten([row[i] for row in rows]) for i in range(width))
    return out[0], out[1:]


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
    """``sum(|x|**2)`` over every leaf (real, complex-aware), in at least float32, reduced as a balanced tree."""
    leaves = jax.tree.leaves(tree)
    sq = [jnp.sum(abs_sq(up(x))) for x in leaves]
    return tree_sum(sq)


def real_vdot(a: Any, b: Any) -> jax.Array:
    """``Re <a, b> = Re sum(conj(a) * b)`` over every leaf of two trees of one structure.

    Each leaf product is formed in at least float32 (the promoted compute
    dtype of the pair), and the per-leaf sums are reduced as a balanced tree
    (:func:`tree_sum`). For real trees this is the plain inner product.
    """
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        raise ValueError(f"real_vdot: the trees have {len(la)} and {len(lb)} leaves")
    return tree_sum([jnp.sum(jnp.real(jnp.conj(up(x)) * up(y))) for x, y in zip(la, lb)])


def global_norm(updates: Any) -> jax.Array:
    """The Euclidean norm of all leaves together (``optax.global_norm``; the argument has optax's name)."""
    return jnp.sqrt(squared_norm(updates))


def real_dtype_zeros(tree: Any, dtype: Any = None) -> Any:
    """Zeros shaped like ``tree`` in ``dtype``, default each leaf's real dtype.

    For second moments: ``|g|**2`` of a complex leaf is real, so its moment is
    stored in the matching real dtype (complex64 -> float32). Keeps each
    leaf's sharding, as :func:`zeros_like`.
    """
    return jax.tree.map(lambda x: _filled_like(x, 0, dtype or jnp.finfo(jnp.result_type(x)).dtype), tree)


def real_dtype_full(tree: Any, value: Any, dtype: Any = None) -> Any:
    """:func:`real_dtype_zeros` filled with ``value`` (a second moment's initial value)."""
    return jax.tree.map(lambda x: _filled_like(x, value, dtype or jnp.finfo(jnp.result_type(x)).dtype), tree)


def _children(x: Any) -> tuple[list, Any]:
    """The immediate children of ``x`` as ``[(key, child)]`` and its node type (``None`` for a leaf)."""
    treedef = jax.tree.structure(x)
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        return [], None
    kids = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda n: n is not x)[0]
    return [(path[0], c) for path, c in kids if path], type(x)


def _describe_node(x: Any) -> str:
    kids, kind = _children(x)
    if kind is None:
        return "an array leaf"
    if x is None:
        return "None"
    keys = [jax.tree_util.keystr((k,), simple=True, separator=".") for k, _ in kids]
    return f"{kind.__name__} with keys {keys}"


def first_structure_difference(a: Any, b: Any, *, types: bool = True, path: tuple = ()) -> tuple[str, str, str] | None:
    """``(key path, a's node, b's node)`` at the first node where two pytrees differ, else ``None``.

    Nodes differ when their keys differ, or (``types=True``) their container
    types. Used only on error paths, to name where two trees part.
    """
    ka, ta = _children(a)
    kb, tb = _children(b)
    if (types and ta is not tb) or (ta is None) != (tb is None):
        return jax.tree_util.keystr(path) or "(root)", _describe_node(a), _describe_node(b)
    da, db = dict(ka), dict(kb)
    for k, x in [*ka, *kb]:  # a key only one side has: name it
        if (k in da) != (k in db):
            here = jax.tree_util.keystr((*path, k))
            return here, _describe_node(x) if k in da else "nothing", _describe_node(x) if k in db else "nothing"
    if list(da) != list(db):
        return jax.tree_util.keystr(path) or "(root)", _describe_node(a), _describe_node(b)
    for (k, x), (_, y) in zip(ka, kb):
        found = first_structure_difference(x, y, types=types, path=(*path, k))
        if found:
            return found
    return None


def check_same_shapes(where: str, a_name: str, a: Any, b_name: str, b: Any, *, shapes: bool = True) -> None:
    """Raise ``ValueError`` at the first key path where ``a`` and ``b`` differ.

    Compares the keys of the structure (``None`` leaves are empty subtrees;
    container types may differ, e.g. a dict and a FrozenDict) and, when
    ``shapes``, the shape of each leaf, in Python at trace time (no runtime
    cost; the common all-equal case takes one treedef comparison). Catches
    the silent failure of ``jax.tree.map`` over mismatched trees:
    broadcasting a ``(1,)`` gradient against a ``(3,)`` moment.
    """
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    if ta == tb and (not shapes or all(jnp.shape(x) == jnp.shape(y) for x, y in zip(la, lb))):
        return
    diff = None if ta == tb else first_structure_difference(a, b, types=False)
    if diff:
        path, da, db = diff
        raise ValueError(
            f"{where}: {a_name} and {b_name} differ in structure at key path {path}: "
            f"{a_name} has {da}, {b_name} has {db}"
        )
    if shapes:
        for (k, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], lb):
            if jnp.shape(x) != jnp.shape(y):
                raise ValueError(
                    f"{where}: shape mismatch at key path {jax.tree_util.keystr(k)}: "
                    f"{a_name} {jnp.shape(x)}, {b_name} {jnp.shape(y)}"
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


def resolve_prefix(where: str, name: str, spec: Any, tree: Any) -> list:
    """One value of ``spec`` per leaf of ``tree``: the library's one reader of masks and labels.

    ``spec`` is (optax's semantics) a tree with ``tree``'s structure, or a
    *prefix* of it (one value standing for a whole subtree, e.g.
    ``{"enc": False, "head": True}`` over nested params, or a single value for
    everything), or a function ``tree -> such a tree``. ``None`` leaves of
    ``tree`` are empty subtrees. Returns the flat list aligned with
    ``jax.tree.leaves(tree)``. A mismatch is a ``ValueError`` naming
    ``where``, ``name`` and the structures.
    """
    if callable(spec) and not isinstance(spec, (jax.Array, np.ndarray)):
        spec = spec(tree)
    spec_leaves, spec_def = jax.tree.flatten(spec)
    try:
        subtrees = spec_def.flatten_up_to(tree)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{where}: {name} must be a tree with the structure of the params or a prefix of it "
            f"(or a function of the params returning one); got {spec_def} for params of structure "
            f"{jax.tree.structure(tree)}"
        ) from e
    out: list = []
    for value, sub in zip(spec_leaves, subtrees):
        out.extend([value] * len(jax.tree.leaves(sub)))
    return out


def resolve_mask(where: str, mask: Any, tree: Any, name: str = "mask") -> list:
    """:func:`resolve_prefix` for a boolean mask: one Python bool per leaf (all ``True`` for ``None``).

    Mask leaves must be concrete bools (Python or numpy), because a mask
    decides the structure of the computation; a traced mask is a
    ``TypeError``.
    """
    if mask is None:
        return [True] * len(jax.tree.leaves(tree))
    flags = resolve_prefix(where, name, mask, tree)
    for m in flags:
        if not (isinstance(m, (bool, np.bool_)) or (isinstance(m, np.ndarray) and m.shape == () and m.dtype == bool)):
            raise TypeError(
                f"{where}: {name} leaves must be Python bools (a mask is structural, not traced), got {m!r}"
            )
    return [bool(m) for m in flags]
