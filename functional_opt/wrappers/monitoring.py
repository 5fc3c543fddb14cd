"""Diagnostics kept in the optimizer state: optax's measures, and a wrapper that watches any optimizer.

Two uses of one :func:`monitor`:

* ``monitor({"name": measure, ...})``, optax's: a link of a chain that
  stores measurements of the updates passing through it
  (:class:`MonitorState`), with :func:`snapshot` and :func:`measure_with_ema`;
* ``monitor(inner)``: a wrapper that runs ``inner`` unchanged and keeps, per
  leaf and in total, the gradient, update and parameter norms, their ratio,
  the count of non-finite gradient values and Adam's effective learning
  rate (:class:`MonitorWrapperState`).

:func:`monitor_metrics` flattens either kind, found anywhere in an optimizer
state, into ``{"grad_norm": 0.3, "grad_norm/encoder/w": 0.1, ...}`` for a
logger; :func:`monitor_to_tensorboard` and :func:`monitor_to_mlflow` send it
on.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt import _tree
from functional_opt._hparams import check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import EmptyState, GradientTransformation, check_transform
from functional_opt.transforms.adam import ScaleByAdamState
from functional_opt.transforms.momentum import ema
from functional_opt.transforms.plateau import ReduceLROnPlateauState
from functional_opt.wrappers.hyperparams import InjectHyperparamsState
from functional_opt.wrappers.naming import find_states

# --- optax's measures: snapshot, monitor(dict), measure_with_ema ---------------------------------


class SnapshotState(NamedTuple):
    """State of :func:`snapshot`: ``measurement``, a dict ``{measure_name: measure(updates)}``."""

    measurement: dict[str, Any]


def snapshot(measure_name: str, measure: Callable[[Any], Any]) -> GradientTransformation:
    """Store ``measure(updates)`` in the state, passing the updates on unchanged (optax's).

    Update rule: ``u <- u``, ``state.measurement[measure_name] <- measure(u)``,
    where ``u`` are the updates as they reach this link of a chain. ``init``
    stores ``measure(params)``, so the state keeps one structure from the
    start (it jits, scans and checkpoints). Read it with
    ``optax.tree.get(state, measure_name)`` or :func:`monitor_metrics`.

    Args:
        measure_name: the key of the measurement.
        measure: ``updates -> pytree of arrays`` (e.g. ``fo.global_norm``).

    State: :class:`SnapshotState` ``(measurement,)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.sgd(0.1, momentum=0.9), fo.snapshot("norm_before_clip", fo.global_norm),
        ...                fo.clip_by_global_norm(0.05))
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> for step in range(2):
        ...     updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        ...     params = fo.apply_updates(params, updates)
        ...     print(f"{fo.monitor_metrics(state)['norm_before_clip']:.2e}")
        7.48e-01
        1.41e+00

    References:
        optax.snapshot (optax 0.2.6).
    """
    if not isinstance(measure_name, str):
        raise TypeError(f"measure_name must be a str, got {measure_name!r}")
    if not callable(measure):
        raise TypeError(f"measure must be a callable updates -> measurement, got {measure!r}")

    def init(params):
        return SnapshotState({measure_name: measure(params)})

    def update(updates, state, params=None, **extra_args):
        del state, params, extra_args
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init, update)


class MonitorState(NamedTuple):
    """State of ``monitor(measures)``: the last ``measurements`` (a dict by name) and each measure's state."""

    measurements: dict[str, Any]
    measure_states: tuple


def _takes_extra_args(update: Callable) -> bool:
    try:
        params = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _measure_transform(name: str, measure: Any) -> tuple[Callable, Callable]:
    """``(init, update)`` of one measure; a callable becomes a stateless transformation of the updates."""
    if callable(measure):
        return (lambda params: EmptyState()), (lambda u, s, p=None, **kw: (measure(u), s))
    check_transform(measure, f"monitor: measure {name!r}")
    if _takes_extra_args(measure.update):
        return measure.init, measure.update
    return measure.init, (lambda u, s, p=None, **kw: measure.update(u, s, p))


def _monitor_measures(measures: Mapping[str, Any]) -> GradientTransformation:
    for name in measures:
        if not isinstance(name, str):
            raise TypeError(f"monitor: measure names must be str, got {name!r}")
    parts = [_measure_transform(n, m) for n, m in measures.items()]
    names = tuple(measures)

    def measure_all(updates, states, params, extra_args):
        out, new_states = {}, []
        for name, (_, upd), s in zip(names, parts, states):
            out[name], s = upd(updates, s, params, **extra_args)
            new_states.append(s)
        return out, tuple(new_states)

    def init(params):
        states = tuple(ini(params) for ini, _ in parts)
        shapes = jax.eval_shape(lambda p, s: measure_all(p, s, p, {})[0], params, states)
        return MonitorState(jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes), states)

    def update(updates, state, params=None, **extra_args):
        measurements, states = measure_all(updates, state.measure_states, params, extra_args)
        return updates, MonitorState(measurements, states)

    return GradientTransformation(init, update)


def _as_inexact(x: Any) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def measure_with_ema(
    measure: Callable[[Any], Any], decay: Any, debias: bool = True, accumulator_dtype: Any = None
) -> GradientTransformation:
    """A measure of the updates averaged over steps, for ``monitor({...})`` (optax's).

    Update rule, with ``t = count + 1`` and ``x = measure(u)``::

        m <- decay * m + (1 - decay) * x
        measurement = m / (1 - decay**t)     (debias=True; m when False)

    The updates themselves pass :func:`monitor` unchanged. A boolean or
    integer measurement (``norm > threshold``) is averaged as float32, so
    the average of a flag is a frequency (optax's accumulator would change
    dtype after the first step).

    Args:
        measure: ``updates -> pytree of arrays``.
        decay: in ``[0, 1]`` (number, array or schedule of the count).
        debias: divide by ``1 - decay**t``.
        accumulator_dtype: dtype of ``m``; default the measurement's (float32
            for a bool or int).

    State: ``(EmptyState(), EmaState(count, ema))``, as optax's
    ``chain(stateless(measure), ema(...))``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> m = fo.monitor({"clipped": fo.measure_with_ema(lambda u: fo.global_norm(u) > 1.0, decay=0.9)})
        >>> s = m.init(jnp.zeros(2))
        >>> for g in (0.1, 5.0):
        ...     _, s = m.update(jnp.full(2, g), s)
        >>> round(fo.monitor_metrics(s)["clipped"], 3)  # 0.1 / (1 - 0.9**2)
        0.526

    References:
        optax.measure_with_ema (optax 0.2.7).
    """
    if not callable(measure):
        raise TypeError(f"measure must be a callable updates -> measurement, got {measure!r}")
    average = ema(decay, debias, accumulator_dtype)

    def measured(x):
        return jax.tree.map(_as_inexact, measure(x))

    def init(params):
        return (EmptyState(), average.init(measured(params)))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        out, ema_state = average.update(measured(updates), state[1])
        return out, (state[0], ema_state)

    return GradientTransformation(init, update)


# --- monitor(inner): the diagnostics wrapper -------------------------------------------------------

GLOBAL_METRICS = ("grad_norm", "update_norm", "param_norm", "update_ratio", "nonfinite_grads")


@functools.partial(jax.tree_util.register_dataclass, data_fields=["values"], meta_fields=["names"])
@dataclasses.dataclass(frozen=True)
class LeafMetrics:
    """Per-leaf metrics of ``monitor(inner)``, stacked: one vector per metric, one entry per leaf.

    ``values``: dict name -> array of shape ``(number of leaves,)``;
    ``names``: the leaves' key paths (``"encoder/w"``), static (part of the
    tree structure, not arrays), in ``jax.tree.leaves`` order. Stacking keeps
    the step to a handful of outputs whatever the leaf count.
    """

    values: dict[str, Any]
    names: tuple[str, ...]


class MonitorWrapperState(NamedTuple):
    """State of ``monitor(inner)``.

    ``count``: int32 steps taken; ``metrics``: dict name -> scalar, the
    totals of the last measured step (``grad_norm``, ``update_norm``,
    ``param_norm``, ``update_ratio``, ``nonfinite_grads`` and, for Adam,
    ``lr_eff``); ``leaf_metrics``: the same per leaf, a :class:`LeafMetrics`
    (empty when ``per_leaf=False``); ``inner_state``: the wrapped
    optimizer's state.
    """

    count: Any
    metrics: dict[str, Any]
    leaf_metrics: LeafMetrics
    inner_state: Any


class _AdamSource(NamedTuple):
    nu: list  # per update leaf: the nu array, or None where this state keeps none
    count: Any
    hparams: dict  # learning_rate, b2, eps as found (or None)


def _adam_sources(inner_state: Any, treedef: Any) -> list[_AdamSource]:
    """Every ScaleByAdamState of ``inner_state`` whose ``nu`` lines up with the updates, with its hyperparameters."""
    owner: dict[int, dict] = {}
    for inj in find_states(inner_state, InjectHyperparamsState):  # outermost first: inner ones win
        for s in find_states(inj.inner_state, ScaleByAdamState):
            owner[id(s)] = inj.hyperparams
    plateaus = find_states(inner_state, ReduceLROnPlateauState)
    out = []
    for s in find_states(inner_state, ScaleByAdamState):
        try:
            nus = treedef.flatten_up_to(s.nu)
        except (ValueError, TypeError):
            continue
        nus = [x if hasattr(x, "dtype") else None for x in nus]  # MaskedNode: another group's leaf
        hp = dict(owner.get(id(s), {}))
        if len(plateaus) == 1:
            hp["plateau_scale"] = plateaus[0].scale
        out.append(_AdamSource(nus, s.count, hp))
    return out


def _leaf_name(path: tuple) -> str:
    """A leaf's key path for a metric key: keys joined by ``/`` (flax NNX's trailing ``value`` dropped)."""
    if len(path) > 1 and getattr(path[-1], "key", getattr(path[-1], "name", None)) in ("value", "raw_value"):
        path = path[:-1]
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def monitor(
    inner_or_measures: Any,
    *,
    per_leaf: bool = True,
    every: int = 1,
    learning_rate: Any = None,
    b2: Any = None,
    eps: Any = None,
) -> GradientTransformation:
    """Keep diagnostics in the state: optax's ``monitor(measures)``, or a wrapper around any optimizer.

    **optax's form**, ``monitor({"name": measure, ...})``: a chain link that
    passes the updates on unchanged and stores, per name, ``measure(u)``
    (a callable) or the output of a transformation applied to ``u`` (such as
    :func:`measure_with_ema`) in ``MonitorState.measurements``; read them with
    ``optax.tree.get(state, "name")`` or :func:`monitor_metrics`. Unlike
    optax (``{}`` until the first update), ``init`` fills ``measurements``
    with zeros of the right shapes, so the state keeps one structure.

    **Wrapper form**, ``monitor(inner)``: runs ``inner`` and returns its
    updates untouched (bit for bit), keeping in the state, for each leaf
    ``i`` (gradient ``g``, returned update ``u``, parameter ``p``) and in
    total over all leaves::

        grad_norm        = ||g||_2                 update_norm = ||u||_2
        param_norm       = ||p||_2                 update_ratio = update_norm / param_norm
        nonfinite_grads  = #{j : g_j is NaN or +-inf}
        lr_eff           = mean_j lr / (sqrt(nu_j / (1 - b2**t)) + eps)     (Adam only)

    (norms in at least float32, complex-aware; ``param_norm`` and
    ``update_ratio`` are NaN when ``update`` gets no params; the total
    ``lr_eff`` is the mean over every element of the leaves that have one).

    ``lr_eff``, the per-element step size Adam applies to the bias-corrected
    first moment, is reported when ``inner``'s state holds a
    :class:`~functional_opt.ScaleByAdamState` (``adam``, ``adamw``,
    ``nadam``, ``nadamw``, ``lamb`` before its trust ratio, any chain with
    ``scale_by_adam``; also inside ``masked``/``partition``, per group). It
    reads ``nu`` and ``t = count`` from that state; ``learning_rate``,
    ``b2``, ``eps`` are, in order: this function's arguments; the values of
    an :func:`~functional_opt.inject_hyperparams` around that Adam (exact,
    the values the step used); else ``b2 = 0.999``, ``eps = 1e-8`` (Adam's
    defaults) and ``learning_rate`` unknown, so ``lr_eff`` is NaN. A single
    ``reduce_on_plateau`` in the state multiplies it by its ``scale``.
    ``eps_root`` is ignored. Optimizers without an Adam state (sgd, lion,
    rmsprop, adafactor, ...) have no ``lr_eff`` key.

    Cost: two reductions per leaf and measured step, one over ``g`` and
    ``p`` before the inner update (squared norms and the non-finite count in
    one pass), one over ``u`` and Adam's ``nu`` after it; the per-leaf
    values are stacked into one vector per metric (:class:`LeafMetrics`),
    so the state adds a few arrays whatever the leaf count. On XLA:CPU this
    is not free (``u`` is materialized, a donated ``p`` is copied,
    ``lr_eff`` repeats Adam's square root and division): see
    ``benchmarks/README.md``. With ``every=k`` the metrics are measured on
    steps ``0, k, 2k, ...`` only (the state keeps the last measurement).

    Args:
        inner_or_measures: a ``GradientTransformation`` to wrap, or a dict
            ``name -> measure`` (optax's form; the keywords below do not
            apply).
        per_leaf: keep the per-leaf values too (else totals only).
        every: measure every ``every`` steps (``>= 1``).
        learning_rate: the learning rate of a plain (not injected) Adam, for
            ``lr_eff``: number, array or the schedule given to the optimizer
            (evaluated at the step just taken).
        b2, eps: Adam's, for ``lr_eff``, if not the defaults and not injected.

    Returns:
        The transformation; its state is :class:`MonitorState` (optax's
        form) or :class:`MonitorWrapperState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.monitor(fo.adam(0.1), learning_rate=0.1)
        >>> params = {"b": jnp.zeros(2), "w": jnp.ones(2)}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"b": jnp.array([3.0, 4.0]), "w": jnp.array([jnp.nan, 1.0])}, state, params)
        >>> m = fo.monitor_metrics(state)
        >>> m["grad_norm/b"], m["nonfinite_grads"], round(m["param_norm"], 4)
        (5.0, 1.0, 1.4142)
        >>> round(m["lr_eff/b"], 4)  # first step: sqrt(nu_hat) = |g|, mean(0.1 / 3, 0.1 / 4)
        0.0292

    References:
        optax.monitor (optax 0.2.7, the dict form).
    """
    if isinstance(inner_or_measures, Mapping):
        return _monitor_measures(inner_or_measures)
    inner = inner_or_measures
    check_transform(inner, "monitor: inner (or give a dict of measures)")
    if not isinstance(per_leaf, bool):
        raise TypeError(f"per_leaf must be a bool, got {per_leaf!r}")
    check_int("every", every, low=1)
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True, allow_none=True)
    check_number("b2", b2, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True, allow_none=True)
    check_number("eps", eps, low=0.0, allow_none=True)
    given = {"learning_rate": learning_rate, "b2": b2, "eps": eps}

    def names_of(inner_state, treedef):
        has_adam = bool(_adam_sources(inner_state, treedef))
        return GLOBAL_METRICS + (("lr_eff",) if has_adam else ())

    def dtype_of(name):
        return jnp.int32 if name == "nonfinite_grads" else jnp.float32

    def init(params):
        inner_state = inner.init(params)
        treedef = jax.tree.structure(params)
        names = names_of(inner_state, treedef)
        metrics = {k: jnp.zeros([], dtype_of(k)) for k in names}
        leaf_names = tuple(_leaf_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0])
        leaf = (
            LeafMetrics({k: jnp.zeros([len(leaf_names)], dtype_of(k)) for k in names}, leaf_names)
            if per_leaf
            else LeafMetrics({}, ())
        )
        return MonitorWrapperState(zero_count(), metrics, leaf, inner_state)

    def measure_inputs(grads, params):
        """``(|g|^2, non-finite count of g, |p|^2)`` per leaf, stacked: one two- or three-operand
        reduction per leaf, reading ``g`` and ``p`` once, before a donated ``p`` is overwritten."""
        gs = jax.tree.leaves(grads)
        ps = [None] * len(gs) if params is None else jax.tree.structure(grads).flatten_up_to(params)
        rows = [
            _sums([_tree.abs_sq(_tree.up(g))] + ([] if p is None else [_tree.abs_sq(_tree.up(p))]), g)
            for g, p in zip(gs, ps)
        ]
        g2 = _stack([r[0][0] for r in rows])
        bad = _stack([r[1] for r in rows], jnp.int32)
        p2 = jnp.full([len(gs)], jnp.nan, jnp.float32) if params is None else _stack([r[0][1] for r in rows])
        return g2, bad, p2

    def measure(stats, grads, updates, inner_state):
        g2, bad, p2 = stats
        treedef = jax.tree.structure(grads)
        n = treedef.num_leaves
        us = treedef.flatten_up_to(updates)
        # Adam's per-leaf sum of lr / (sqrt(nu_hat) + eps), read in the same reduction as |u|^2
        terms: list = [None] * n
        for src in _adam_sources(inner_state, treedef):
            lr, b2_, eps_ = _lr_eff_scalars(src, given)
            k = _tree.decay_scalars(b2_, jnp.maximum(src.count - 1, 0))  # t = count: the step just taken
            for i, nu in enumerate(src.nu):
                if nu is not None and terms[i] is None:
                    terms[i] = lr / (jnp.sqrt(_tree.up(nu) * k.c) + eps_)
        rows = [
            _sums([_tree.abs_sq(_tree.up(u))] + ([] if t is None else [t]), u, checked=True)[0]
            for u, t in zip(us, terms)
        ]
        u2 = _stack([r[0] for r in rows])
        leaf = {
            "grad_norm": jnp.sqrt(g2),
            "update_norm": jnp.sqrt(u2),
            "param_norm": jnp.sqrt(p2),
            "nonfinite_grads": bad,
        }
        leaf["update_ratio"] = leaf["update_norm"] / leaf["param_norm"]
        total = {
            "grad_norm": jnp.sqrt(jnp.sum(g2)),
            "update_norm": jnp.sqrt(jnp.sum(u2)),
            "param_norm": jnp.sqrt(jnp.sum(p2)),
            "nonfinite_grads": jnp.sum(bad),
        }
        total["update_ratio"] = total["update_norm"] / total["param_norm"]
        if any(t is not None for t in terms):
            owned = np.array([t is not None for t in terms])
            sizes = np.array([max(int(np.prod(jnp.shape(u))), 1) for u in us], np.float32)
            sums = _stack([r[1] if t is not None else jnp.zeros([], jnp.float32) for r, t in zip(rows, terms)])
            leaf["lr_eff"] = jnp.where(owned, sums / sizes, jnp.nan)
            total["lr_eff"] = jnp.sum(sums) / float(sizes[owned].sum())
        total = {k: v.astype(dtype_of(k)) for k, v in total.items()}
        values = {k: v.astype(dtype_of(k)) for k, v in leaf.items()} if per_leaf else {}
        return total, values

    def update(updates, state, params=None, **extra_args):
        if every == 1:
            stats = measure_inputs(updates, params)
            new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            metrics, values = measure(stats, updates, new_updates, inner_state)
        else:  # both passes only on measured steps
            now = state.count % every == 0
            n = len(state.leaf_metrics.names) if per_leaf else len(jax.tree.leaves(updates))
            skipped = (jnp.zeros([n]), jnp.zeros([n], jnp.int32), jnp.zeros([n]))
            stats = jax.lax.cond(now, lambda a: measure_inputs(*a), lambda a: skipped, (updates, params))
            new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            metrics, values = jax.lax.cond(
                now,
                lambda a: measure(*a),
                lambda a: (state.metrics, state.leaf_metrics.values),
                (stats, updates, new_updates, inner_state),
            )
        leaf = LeafMetrics(values, state.leaf_metrics.names)
        return new_updates, MonitorWrapperState(safe_increment(state.count), metrics, leaf, inner_state)

    return GradientTransformation(init, update)


def _stack(xs: list, dtype: Any = jnp.float32) -> jax.Array:
    return jnp.stack(xs).astype(dtype) if xs else jnp.zeros([0], dtype)


def _sums(values: list, x: jax.Array, *, checked: bool = False) -> tuple[list, jax.Array]:
    """``([sum(v) for v in values], number of non-finite entries of x)`` in one pass over the arrays.

    One multi-operand reduction (XLA fuses the elementwise producers into
    it; a lone ``jnp.sum`` on XLA:CPU becomes a library call per leaf, several
    times slower for many leaves). ``checked=True``, when the count is not
    needed, adds ``where(count > 0, s, 0)`` to each sum (an exact no-op: a
    non-finite ``x`` already makes ``s`` non-finite) so the count stays
    live and the reduction keeps its single-pass form.
    """
    bad = (~jnp.isfinite(x)).astype(jnp.int32)
    dims = tuple(range(jnp.ndim(x)))
    out = jax.lax.reduce(
        (*values, bad),
        (*(np.zeros((), v.dtype) for v in values), np.int32(0)),
        lambda a, b: tuple(p + q for p, q in zip(a, b)),
        dims,
    )
    sums, count = list(out[:-1]), out[-1]
    if checked:
        sums = [s + jnp.where(count > 0, s, 0) for s in sums]
    return sums, count


def _lr_eff_scalars(src: _AdamSource, given: dict) -> tuple[Any, Any, Any]:
    """``(learning_rate, b2, eps)`` for one Adam state: the monitor's arguments, else injected, else defaults."""
    step = jnp.maximum(src.count - 1, 0)

    def pick(name, default):
        if given[name] is not None:
            return value_at(given[name], step)
        if name in src.hparams:
            return src.hparams[name].astype(jnp.float32)
        return default

    lr = pick("learning_rate", jnp.full([], jnp.nan, jnp.float32))
    if "plateau_scale" in src.hparams:
        lr = lr * src.hparams["plateau_scale"]
    return lr, pick("b2", 0.999), pick("eps", 1e-8)


# --- reading the state for a logger ------------------------------------------------------------------

_WATCHED = (MonitorWrapperState, MonitorState, SnapshotState)


def _monitor_states(state: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    found = jax.tree_util.tree_flatten_with_path(state, is_leaf=lambda x: isinstance(x, _WATCHED))[0]
    for path, node in found:
        if not isinstance(node, _WATCHED):
            continue
        where = prefix + jax.tree_util.keystr(path, simple=True, separator="/")
        out.append((where, node))
        inner = node.inner_state if isinstance(node, MonitorWrapperState) else getattr(node, "measure_states", ())
        out.extend(_monitor_states(inner, where + "/"))
    return out


def _flat_entries(name: str, tree: Any) -> list[tuple[str, Any]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if len(leaves) == 1 and not leaves[0][0]:
        return [(name, leaves[0][1])]
    return [(f"{name}/{_leaf_name(p)}", x) for p, x in leaves]


def monitor_metrics(opt_state: Any, /, *, host: bool = True) -> dict[str, Any]:
    """Every monitored value in an optimizer state, flat, for a logger.

    Searches ``opt_state`` (through chains, partitions and wrappers) for the
    states of :func:`monitor` (both forms) and :func:`snapshot`. Keys:

    * ``monitor(inner)``: ``"grad_norm"``, ``"update_norm"``,
      ``"param_norm"``, ``"update_ratio"``, ``"nonfinite_grads"``,
      ``"lr_eff"`` (the totals) and ``"<metric>/<leaf path>"`` per leaf, the
      path's keys joined by ``/`` (``"grad_norm/encoder/w"``,
      ``"lr_eff/layers/0/b"``; params that are one array have totals only);
    * ``monitor({...})`` and ``snapshot``: the measure's name for a scalar
      measurement, ``"<name>/<leaf path>"`` for a tree of scalars.

    Only scalar entries are returned (a snapshot of whole arrays is
    skipped). Keys are stable from ``init`` on. When the same key comes from
    several states (two monitors in a partition), each is prefixed with its
    state's key path, ``"<path>/<key>"``.

    Args:
        opt_state: any optimizer state.
        host: ``True``: one device-to-host transfer, Python floats (for
            loggers); ``False``: the jax scalars, so it works under ``jax.jit``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.monitor(fo.sgd(0.1), per_leaf=False)
        >>> s = opt.init({"w": jnp.ones(3)})
        >>> _, s = opt.update({"w": jnp.full(3, 2.0)}, s, {"w": jnp.ones(3)})
        >>> {k: round(v, 3) for k, v in fo.monitor_metrics(s).items()}
        {'grad_norm': 3.464, 'nonfinite_grads': 0.0, 'param_norm': 1.732, 'update_norm': 0.346, 'update_ratio': 0.2}
    """
    per_state = []
    for where, node in _monitor_states(opt_state):
        entries: list[tuple[str, Any]] = []
        if isinstance(node, MonitorWrapperState):
            entries += list(node.metrics.items())
            for name, vec in node.leaf_metrics.values.items():
                entries += [(f"{name}/{leaf}", vec[..., i]) for i, leaf in enumerate(node.leaf_metrics.names) if leaf]
        else:
            found = node.measurements if isinstance(node, MonitorState) else node.measurement
            for name, tree in found.items():
                entries += _flat_entries(name, tree)
        per_state.append((where, [(k, v) for k, v in entries if np.size(v) == 1]))
    seen: dict[str, int] = {}
    for _, entries in per_state:
        for k, _ in entries:
            seen[k] = seen.get(k, 0) + 1
    out = {}
    for where, entries in per_state:
        for k, v in entries:
            out[k if seen[k] == 1 else f"{where}/{k}"] = v
    keys = sorted(out)
    if not host:
        return {k: jnp.reshape(out[k], ()) for k in keys}
    values = jax.device_get([out[k] for k in keys])
    return {k: float(np.asarray(v).reshape(())) for k, v in zip(keys, values)}


def monitor_to_tensorboard(writer: Any, opt_state: Any, step: int, *, prefix: str = "optimizer/") -> dict[str, float]:
    """Write :func:`monitor_metrics` of ``opt_state`` as scalars at ``step``.

    ``writer`` is anything with ``add_scalar(tag, value, step)``:
    ``tensorboardX.SummaryWriter`` or ``torch.utils.tensorboard.SummaryWriter``
    (neither is imported here). Tags are ``prefix + key``. Returns the
    metrics written.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> class Printer:
        ...     def add_scalar(self, tag, value, step):
        ...         print(tag, round(value, 2), step)
        >>> opt = fo.monitor(fo.sgd(0.1), per_leaf=False)
        >>> _, s = opt.update(jnp.ones(4), opt.init(jnp.ones(4)), jnp.ones(4))
        >>> _ = fo.monitor_to_tensorboard(Printer(), s, 1, prefix="opt/")
        opt/grad_norm 2.0 1
        opt/nonfinite_grads 0.0 1
        opt/param_norm 2.0 1
        opt/update_norm 0.2 1
        opt/update_ratio 0.1 1
    """
    metrics = monitor_metrics(opt_state)
    for k, v in metrics.items():
        writer.add_scalar(prefix + k, v, step)
    return metrics


def monitor_to_mlflow(
    opt_state: Any, step: int, *, prefix: str = "optimizer/", separator: str = "."
) -> dict[str, float]:
    """Log :func:`monitor_metrics` of ``opt_state`` to the active MLflow run at ``step``.

    Calls ``mlflow.log_metrics({prefix + key: value}, step=step)`` once
    (``mlflow`` or ``mlflow-skinny`` is imported here, only when called),
    with each ``/`` of a key replaced by ``separator``
    (``optimizer/grad_norm.encoder.w``): MLflow's file store keeps a metric
    in a file named by its key, so ``grad_norm`` could not also be the
    directory of ``grad_norm/encoder/w``. Returns the metrics as logged.

    Example (needs mlflow)::

        import mlflow
        with mlflow.start_run():
            for step in range(steps):
                params, state, loss = train_step(params, state, batch)
                if step % 10 == 0:
                    fo.monitor_to_mlflow(state, step)
    """
    import mlflow

    metrics = {prefix + k.replace("/", separator): v for k, v in monitor_metrics(opt_state).items()}
    mlflow.log_metrics(metrics, step=step)
    return metrics
