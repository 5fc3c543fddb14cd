"""Scaling out with ``jax.sharding``: state shardings, ZeRO stage 1 and a data-parallel step.

The optimizers need nothing special to run over several devices or hosts:
their state is a pytree of arrays built with each parameter's sharding (from
``init`` on, eagerly and under ``jax.jit``), and their updates are traced
array math that XLA's SPMD partitioner splits like any other program. This
namespace adds the few helpers a training loop needs on a ``Mesh``:

* :func:`state_shardings`: the shardings of ``opt.init(params)`` (each
  param-shaped state leaf takes its parameter's sharding, everything else is
  replicated), for ``jax.jit(..., out_shardings=...)`` or to place a restored
  checkpoint;
* :func:`zero_shardings`: ZeRO stage 1, parameters replicated over the data
  axis and every large state leaf split over it (``1/N`` of the state bytes
  per device on ``N`` devices);
* :func:`make_train_step`: the jitted, donated data-parallel step, the batch
  split over the data axis, optionally with ZeRO-1 state;
* :func:`prepare`, :func:`replicate`, :func:`shard_batch`: put params, state
  and batches where the step expects them; :func:`per_device_bytes`: what
  each device holds (from ``addressable_shards``).

Several hosts: call ``jax.distributed.initialize(...)`` first in every process
(on CPU, ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``
before it), build the mesh over ``jax.devices()`` (all hosts' devices), and
feed each process its own rows of every batch (:func:`shard_batch` turns them
into the global array, through ``jax.make_array_from_process_local_data``).
Nothing in the optimizer changes.

Which collectives the per-leaf rules need (measured in the compiled HLO of
``init`` + ``update`` on 8 CPU devices, each matrix split over one axis):

* Elementwise rules (SGD, momentum, the Adam family, Lion, RMSProp, Adagrad,
  schedule-free, ...): none; each device updates its shard. With ZeRO-1 the
  gradient is reduced and each device keeps its slice (XLA:CPU writes an
  all-reduce and a slice; the GPU and TPU compilers can fuse them into a
  reduce-scatter, not measured here), each device updates its slice of the
  state, and the only all-gathers are those of the new parameters.
* Global-norm clipping and per-leaf norms (LAMB's and LARS's trust ratios,
  Fromage, NovoGrad, adaptive gradient clipping, block RMS clipping), and
  Adafactor's and SM3's factored statistics: reductions, i.e. all-reduces of
  scalars or vectors; no leaf is gathered.
* Muon's Newton-Schulz iteration: its Gram products are all-reduces of
  partial products; no gather was measured. On an explicit-sharding mesh its
  products need ``out_sharding=`` annotations.
* Shampoo's mode products need the whole leaf along each preconditioned axis:
  XLA gathers the leaf (all-gathers and all-to-alls); its ``d x d`` statistics
  are replicated and every device runs the same ``eigh``. On an
  explicit-sharding mesh its products name their output sharding (the leaf's).

References:
    Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion
    Parameter Models", SC 2020 (arXiv:1910.02054); Xu et al., "Automatic
    Cross-Replica Sharding of Weight Update in Data-Parallel Training", 2020
    (arXiv:2004.13336); JAX documentation, "Distributed arrays and automatic
    parallelization" and "Multi-process environments".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding

from functional_opt._exports import public_names as _public_names
from functional_opt.train_step import train_step_function

# state leaves with fewer elements than this stay replicated under ZeRO-1 (scalars, biases, norms)
MIN_ZERO_SIZE = 1024


def _path_key(path: tuple) -> tuple:
    return tuple(str(k) for k in path)


def _mesh_of(tree: Any) -> Any:
    for x in jax.tree.leaves(tree):
        sh = getattr(x, "sharding", None)
        if isinstance(sh, NamedSharding):
            return sh.mesh
    return None


def _replicated_for(params: Any) -> Sharding:
    """A replicated sharding on the params' devices (their mesh, or their one device)."""
    mesh = _mesh_of(params)
    if mesh is not None:
        return NamedSharding(mesh, PartitionSpec())
    for x in jax.tree.leaves(params):
        sh = getattr(x, "sharding", None)
        if sh is not None and len(sh.device_set) == 1:
            return SingleDeviceSharding(next(iter(sh.device_set)))
    return SingleDeviceSharding(jax.devices()[0])


def _param_index(params: Any) -> list[tuple[tuple, tuple, Any]]:
    """``[(key path, shape, sharding or None)]`` of every param leaf, longest paths first."""
    found = []
    for path, x in jax.tree_util.tree_flatten_with_path(params)[0]:
        found.append((_path_key(path), tuple(jnp.shape(x)), getattr(x, "sharding", None)))
    return sorted(found, key=lambda t: -len(t[0]))


def _match(index: list, path: tuple, shape: tuple) -> Any:
    """The param whose key path ends ``path`` and whose shape is ``shape`` (longest path wins), else None."""
    key = _path_key(path)
    for ppath, pshape, sh in index:
        if pshape == shape and len(ppath) <= len(key) and key[len(key) - len(ppath) :] == ppath:
            return (ppath, sh)
    return None


def _map_state(opt: Any, params: Any, rule: Callable[[Any, Any], Any]) -> Any:
    """``rule(abstract state leaf, matched param sharding or None)`` over ``eval_shape(opt.init, params)``."""
    abstract = jax.eval_shape(opt.init, params)
    index = _param_index(params)

    def one(path, x):
        m = _match(index, path, tuple(x.shape)) if x.ndim > 0 else None
        return rule(x, None if m is None else m[1])

    return jax.tree_util.tree_map_with_path(one, abstract)


def state_shardings(opt: Any, params: Any) -> Any:
    """The pytree of shardings of ``opt.init(params)``, following the params' shardings.

    Rule: a state leaf with a parameter's shape, under that parameter's key
    path (``mu['w']`` for ``params['w']``), takes the parameter's sharding;
    every other leaf (counts, scalars, factored statistics, Shampoo's
    matrices) is replicated on the params' mesh. This is what
    ``jax.jit(opt.init)`` produces for param-shaped leaves, written down
    without compiling (through ``jax.eval_shape``), so it can be passed as
    ``out_shardings`` or used to place a restored checkpoint.

    Args:
        opt: a ``GradientTransformation``.
        params: the parameters (arrays or ``jax.ShapeDtypeStruct`` with a
            ``sharding``), as passed to ``opt.init``.

    Returns:
        A pytree with the structure of ``opt.init(params)`` whose leaves are
        ``jax.sharding.Sharding`` objects.

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import functional_opt as fo
        >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> params = {"w": jax.device_put(jnp.ones((4, 2)), NamedSharding(mesh, P("data", None)))}
        >>> sh = fo.sharding.state_shardings(fo.adam(1e-3), params)
        >>> sh[0].mu["w"].spec, sh[0].count.spec
        (P('data', None), P())
        >>> state = jax.jit(fo.adam(1e-3).init, out_shardings=sh)(params)
    """
    replicated = _replicated_for(params)
    return _map_state(opt, params, lambda x, sh: sh if sh is not None else replicated)


def _entries(spec: Any, ndim: int) -> list:
    """A spec's entries as a list of tuples of axis names, padded to ``ndim``."""
    out: list[tuple] = []
    for e in tuple(spec or ())[:ndim]:
        out.append(() if e is None else (e,) if isinstance(e, str) else tuple(e))
    return out + [()] * (ndim - len(out))


def _spec(entries: list) -> PartitionSpec:
    """The spec of a list of entries (trailing unsplit dimensions dropped: ``P('data')``, ``P()``)."""
    out = [None if not e else e[0] if len(e) == 1 else tuple(e) for e in entries]
    while out and out[-1] is None:
        out.pop()
    return PartitionSpec(*out)


def _spec_on(sharding: Any, mesh: Mesh, ndim: int) -> list:
    """The entries of ``sharding``'s spec when it is a NamedSharding on ``mesh``'s axes, else all replicated."""
    if isinstance(sharding, NamedSharding) and set(sharding.mesh.axis_names) <= set(mesh.axis_names):
        return _entries(sharding.spec, ndim)
    return [()] * ndim


def _without(entries: list, axis: str) -> list:
    return [tuple(a for a in e if a != axis) for e in entries]


def _zero_entries(shape: tuple, entries: list, mesh: Mesh, axis: str, min_size: int) -> list:
    """Add ``axis`` to the largest dimension that stays divisible (for leaves of ``>= min_size`` elements)."""
    if int(np.prod(shape, dtype=np.int64)) < min_size:
        return entries
    for d in sorted(range(len(shape)), key=lambda i: -shape[i]):
        parts = int(np.prod([mesh.shape[a] for a in (*entries[d], axis)]))
        if shape[d] % parts == 0:
            return [(*e, axis) if i == d else e for i, e in enumerate(entries)]
    return entries


def zero_shardings(opt: Any, params: Any, mesh: Mesh, axis: str = "data", *, min_size: int = MIN_ZERO_SIZE) -> tuple:
    """Shardings for ZeRO stage 1: params replicated over ``axis``, optimizer state split over it.

    Parameters keep their spec on the other mesh axes (a ``"model"`` axis of
    a 2-D mesh) and are replicated over ``axis``. Each state leaf starts from
    the :func:`state_shardings` rule (its parameter's spec, ``axis``
    removed), then, if it has at least ``min_size`` elements, is split over
    ``axis`` along its largest dimension that stays divisible by the number of
    devices on it (and on the axes that dimension already uses). Small leaves,
    counts and leaves with no divisible dimension stay replicated over ``axis``.

    In a step jitted with these shardings (:func:`make_train_step` with
    ``zero=True``), each device keeps ``1/N`` of the state and its slice of
    the reduced gradient (a reduce-scatter, or an all-reduce and a slice on
    XLA:CPU), updates that slice, and the new parameters are all-gathered;
    the state never is.

    Args:
        opt: a ``GradientTransformation``.
        params: the parameters (arrays or ``ShapeDtypeStruct``), possibly
            already sharded over other axes of ``mesh``.
        mesh: the device mesh.
        axis: the data-parallel mesh axis name.
        min_size: state leaves with fewer elements stay replicated.

    Returns:
        ``(param_shardings, state_shardings)``, pytrees of ``NamedSharding``
        with the structures of ``params`` and ``opt.init(params)``.

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import functional_opt as fo
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> params = {"w": jnp.ones((4, 512)), "b": jnp.ones(512)}
        >>> p_sh, s_sh = fo.sharding.zero_shardings(fo.adam(1e-3), params, mesh)
        >>> p_sh["w"].spec, s_sh[0].mu["w"].spec, s_sh[0].mu["b"].spec
        (P(), P(None, 'data'), P())
    """
    if axis not in mesh.axis_names:
        raise ValueError(f"zero_shardings: axis {axis!r} is not an axis of the mesh {tuple(mesh.axis_names)}")
    if not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"min_size must be an int >= 0, got {min_size!r}")

    def param_rule(x):
        ndim = len(jnp.shape(x))
        return NamedSharding(mesh, _spec(_without(_spec_on(getattr(x, "sharding", None), mesh, ndim), axis)))

    def state_rule(x, sh):
        base = _without(_spec_on(sh, mesh, x.ndim), axis) if sh is not None else [()] * x.ndim
        return NamedSharding(mesh, _spec(_zero_entries(tuple(x.shape), base, mesh, axis, min_size)))

    return jax.tree.map(param_rule, params), _map_state(opt, params, state_rule)


def _grad_shardings(params: Any, mesh: Mesh, axis: str, min_size: int) -> Any:
    """Each gradient's ZeRO-1 sharding: the one its param-shaped state gets."""

    def rule(x):
        ndim = len(jnp.shape(x))
        base = _without(_spec_on(getattr(x, "sharding", None), mesh, ndim), axis)
        return NamedSharding(mesh, _spec(_zero_entries(tuple(jnp.shape(x)), base, mesh, axis, min_size)))

    return jax.tree.map(rule, params)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree``'s arrays copied to every device of ``mesh`` (``PartitionSpec()``).

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import functional_opt as fo
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> fo.sharding.replicate({"w": jnp.ones(3)}, mesh)["w"].sharding.spec
        P()
    """
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def batch_shardings(batch: Any, mesh: Mesh, axis: str = "data") -> Any:
    """Each batch leaf split over ``axis`` along its leading dimension (scalars replicated)."""

    def rule(x):
        if len(jnp.shape(x)) == 0:
            return NamedSharding(mesh, PartitionSpec())
        n = jnp.shape(x)[0]
        if n % mesh.shape[axis]:
            raise ValueError(
                f"the batch's leading dimension {n} is not divisible by the {mesh.shape[axis]} devices "
                f"of mesh axis {axis!r}"
            )
        return NamedSharding(mesh, PartitionSpec(axis))

    return jax.tree.map(rule, batch)


def shard_batch(batch: Any, mesh: Mesh, axis: str = "data") -> Any:
    """Place a batch (arrays or numpy) split over ``axis`` along its leading dimension.

    In a single process this is ``jax.device_put`` with :func:`batch_shardings`.
    With several processes, each process passes its own rows (its local
    batch) and gets the global array (``jax.make_array_from_process_local_data``).

    Examples:
        >>> import jax, numpy as np
        >>> import functional_opt as fo
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> x = fo.sharding.shard_batch(np.ones((8, 3), np.float32), mesh)
        >>> x.shape, x.sharding.spec
        ((8, 3), P('data',))
    """
    if jax.process_count() == 1:
        return jax.device_put(batch, batch_shardings(batch, mesh, axis))

    def one(x):
        x = np.asarray(x)
        spec = PartitionSpec(axis) if x.ndim else PartitionSpec()
        return jax.make_array_from_process_local_data(NamedSharding(mesh, spec), x)

    return jax.tree.map(one, batch)


def prepare(
    opt: Any, params: Any, mesh: Mesh, *, axis: str = "data", zero: bool = False, min_size: int = MIN_ZERO_SIZE
) -> tuple:
    """Place ``params`` on ``mesh`` and build the optimizer state where :func:`make_train_step` wants it.

    Without ``zero``, params keep their ``NamedSharding`` on ``mesh`` (other
    leaves are replicated) and the state follows them
    (:func:`state_shardings`); with ``zero=True``, the
    :func:`zero_shardings` of ``(params, state)``. ``init`` runs jitted with
    those ``out_shardings``, so no device ever holds the whole state. The
    returned params are fresh copies (a donating step deletes its inputs;
    the arrays passed here stay usable).

    Args:
        opt: a ``GradientTransformation``.
        params: the parameters (numpy or jax arrays; jax arrays may already
            be split over other axes of ``mesh``).
        mesh: the device mesh.
        axis: the data-parallel mesh axis.
        zero: ZeRO-1 placement (:func:`zero_shardings`).
        min_size: with ``zero``, state leaves with fewer elements stay
            replicated (pass the same value to :func:`make_train_step`).

    Returns:
        ``(params, opt_state)``.

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import functional_opt as fo
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> params, state = fo.sharding.prepare(fo.adam(1e-3), {"w": jnp.ones((8, 128))}, mesh, zero=True)
        >>> state[0].mu["w"].sharding.spec
        P(None, 'data')
    """
    p_sh, s_sh = _placement(opt, params, mesh, axis, zero, min_size)
    # fresh buffers (a donating step consumes them): device_put may reuse a buffer for one shard even with
    # may_alias=False (a single-device array put on a replicated sharding), so copy jax arrays first
    params = jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x, params)
    params = jax.device_put(params, p_sh)
    return params, jax.jit(opt.init, out_shardings=s_sh)(params)


def _placement(opt: Any, params: Any, mesh: Mesh, axis: str, zero: bool, min_size: int) -> tuple:
    if zero:
        return zero_shardings(opt, params, mesh, axis, min_size=min_size)

    def keep(x):
        ndim = len(jnp.shape(x))
        return NamedSharding(mesh, _spec(_spec_on(getattr(x, "sharding", None), mesh, ndim)))

    p_sh = jax.tree.map(keep, params)
    abstract = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x), sharding=s), params, p_sh
    )
    return p_sh, state_shardings(opt, abstract)


def _is_explicit(mesh: Mesh) -> bool:
    """Whether ``mesh`` has explicit-sharding axes (``jax.make_mesh``'s default in recent jax)."""
    explicit = getattr(getattr(jax.sharding, "AxisType", None), "Explicit", None)
    return explicit is not None and explicit in tuple(getattr(mesh, "axis_types", ()))


def _takes_value(update: Callable) -> bool:
    """Whether ``update`` accepts ``value=`` (ours do; plain optax ones do not)."""
    try:
        sig = inspect.signature(update)
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD or p.name == "value" for p in sig.parameters.values())


class DataParallelStep:
    """The callable that :func:`make_train_step` returns (see there).

    ``step(params, opt_state, *batch)`` places its arguments (a no-op when
    they already are where they belong), then runs the jitted program,
    compiled once per parameter structure, shape and placement.
    ``step.lower(params, opt_state, *batch)`` gives the ``jax.stages.Lowered``
    program (``.compile().as_text()`` for its HLO).
    """

    def __init__(self, loss_fn, opt, mesh, data_axis, zero, has_aux, donate, min_size):
        self.loss_fn, self.opt, self.mesh = loss_fn, opt, mesh
        self.data_axis, self.zero, self.has_aux, self.donate = data_axis, zero, has_aux, donate
        self.min_size = min_size
        self._cache: dict = {}

    def _jitted(self, params, opt_state, batch):
        key = (
            jax.tree.structure(params),
            tuple((jnp.shape(x), jnp.result_type(x), getattr(x, "sharding", None)) for x in jax.tree.leaves(params)),
            jax.tree.structure(batch),
        )
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        mesh, axis = self.mesh, self.data_axis
        p_sh, s_sh = _placement(self.opt, params, mesh, axis, self.zero, self.min_size)
        g_sh = _grad_shardings(params, mesh, axis, self.min_size) if self.zero else None
        b_sh = batch_shardings(batch, mesh, axis)
        constrain = jax.sharding.reshard if _is_explicit(mesh) else jax.lax.with_sharding_constraint
        # with zero: a reduce-scatter (each device keeps the gradient slice of its state slice), and the all-gather
        # of the new params (an explicit mesh needs it written out)
        g = None if g_sh is None else lambda grads: constrain(grads, g_sh)
        u = None if g_sh is None else lambda updates: constrain(updates, p_sh)
        takes_value = _takes_value(self.opt.update)
        step = train_step_function(
            self.loss_fn, self.opt, has_aux=self.has_aux, pass_value=takes_value, place_grads=g, place_updates=u
        )
        rep = NamedSharding(mesh, PartitionSpec())
        out = (p_sh, s_sh, rep, rep) if self.has_aux else (p_sh, s_sh, rep)
        fn = jax.jit(
            step,
            in_shardings=(p_sh, s_sh, *b_sh),
            out_shardings=out,
            donate_argnums=(0, 1) if self.donate else (),
        )
        self._cache[key] = hit = (fn, p_sh, s_sh, b_sh)
        return hit

    def _args(self, params, opt_state, batch):
        fn, p_sh, s_sh, b_sh = self._jitted(params, opt_state, tuple(batch))
        params = jax.device_put(params, p_sh)
        opt_state = jax.device_put(opt_state, s_sh)
        batch = tuple(b if isinstance(b, jax.Array) else shard_batch(b, self.mesh, self.data_axis) for b in batch)
        return fn, params, opt_state, jax.device_put(batch, tuple(b_sh))

    def __call__(self, params, opt_state, *batch):
        fn, params, opt_state, batch = self._args(params, opt_state, batch)
        return fn(params, opt_state, *batch)

    def lower(self, params, opt_state, *batch):
        """The lowered program for these arguments (``.compile().as_text()``: its HLO)."""
        fn, params, opt_state, batch = self._args(params, opt_state, batch)
        return fn.lower(params, opt_state, *batch)


def make_train_step(
    loss_fn: Callable[..., Any],
    opt: Any,
    mesh: Mesh,
    *,
    data_axis: str = "data",
    zero: bool = False,
    has_aux: bool = False,
    donate: bool = True,
    min_size: int = MIN_ZERO_SIZE,
) -> DataParallelStep:
    """A jitted, donated data-parallel step over ``mesh``: ``step(params, opt_state, *batch)``.

    Each batch leaf is split over ``data_axis`` along its leading dimension;
    each device computes the loss and gradient of its rows, XLA sums the
    gradients across devices, and every device applies the same update. The
    result equals the single-device step on the whole batch (up to the order
    of float additions) when ``loss_fn`` averages over the batch.

    Without ``zero``, the parameters keep their placement (replicated, or
    split over another axis such as ``"model"`` of a 2-D mesh) and the state
    follows them (:func:`state_shardings`). With ``zero=True`` (ZeRO stage 1,
    :func:`zero_shardings`), parameters are replicated over ``data_axis``,
    the state is split over it, each device keeps its slice of the reduced
    gradient (a reduce-scatter, or an all-reduce and a slice on XLA:CPU) and
    the update ends with an all-gather of the new parameters (never of the
    state). Place params and state once with
    :func:`prepare` (the step also places them, a no-op when they already are).

    Batch arguments may be jax arrays already split over ``data_axis``, or
    numpy arrays, which the step places with :func:`shard_batch`: in one
    process the whole batch, with several processes each process's own rows.

    One call returns ``(params, opt_state, loss)`` (``(..., loss, aux)`` with
    ``has_aux=True``), as :func:`functional_opt.make_train_step`, whose
    conventions it shares (``value=loss`` reaches the optimizer, flat params
    are unflattened for ``loss_fn``, donated inputs are deleted).

    Args:
        loss_fn: ``loss_fn(params, *batch) -> loss`` (a mean over the batch),
            or ``-> (loss, aux)`` with ``has_aux=True``.
        opt: a ``GradientTransformation`` (ours or optax's).
        mesh: the device mesh; it must have the axis ``data_axis``.
        data_axis: the mesh axis the batch is split over.
        zero: ZeRO-1 optimizer state (split over ``data_axis``).
        has_aux: ``loss_fn`` returns ``(loss, aux)``.
        donate: donate params and state to the step.
        min_size: with ``zero``, state leaves with fewer elements stay replicated.

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import functional_opt as fo
        >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
        >>> loss = lambda p, x, y: jnp.mean((x @ p["w"] - y) ** 2)
        >>> opt = fo.adam(0.1)
        >>> params, state = fo.sharding.prepare(opt, {"w": jnp.zeros((3, 1))}, mesh, zero=True)
        >>> step = fo.sharding.make_train_step(loss, opt, mesh, zero=True)
        >>> x = np.ones((8, 3), np.float32)
        >>> for _ in range(50):
        ...     params, state, value = step(params, state, x, np.ones((8, 1), np.float32))
        >>> round(float(value), 3)
        0.0
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (params, *batch) -> loss, got {loss_fn!r}")
    if not (hasattr(opt, "init") and hasattr(opt, "update")):
        raise TypeError(f"opt must be a GradientTransformation, got {opt!r}")
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {mesh!r}")
    if data_axis not in mesh.axis_names:
        raise ValueError(f"data_axis {data_axis!r} is not an axis of the mesh {tuple(mesh.axis_names)}")
    return DataParallelStep(loss_fn, opt, mesh, data_axis, bool(zero), has_aux, donate, min_size)


def per_device_bytes(tree: Any) -> dict[int, int]:
    """Bytes of ``tree``'s arrays held by each (addressable) device: ``{device id: bytes}``.

    Summed over the arrays' ``addressable_shards``, so a replicated array
    counts in full on every device and an array split ``N`` ways counts
    ``1/N`` on each. Non-array leaves are ignored.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> fo.sharding.per_device_bytes({"w": jnp.ones((4, 2)), "count": jnp.zeros([], jnp.int32)})
        {0: 36}
    """
    out: dict[int, int] = {}
    for x in jax.tree.leaves(tree):
        if isinstance(x, jax.Array):
            for s in x.addressable_shards:
                out[s.device.id] = out.get(s.device.id, 0) + int(s.data.nbytes)
    return dict(sorted(out.items()))


# the functions and classes defined here (not the names this module imports)
__all__ = [n for n in _public_names(globals()) if getattr(globals()[n], "__module__", None) == __name__]
