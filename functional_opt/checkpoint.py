"""Checkpoints of params and optimizer state: atomic, checksummed, exact.

``save(path, tree)`` writes every array leaf of a pytree (params, optimizer
state, NamedTuples included) with its key path, dtype and shape;
``restore(path, target)`` reads it back into the structure of ``target``
(for example ``jax.eval_shape(optimizer.init, params)``), bit for bit.
``load_arrays(path)`` reads a checkpoint without any of the library's
classes: an ordered ``{key path: numpy array}`` dict.

Guarantees:

* **Atomic**: the file is written to a temporary file in the same
  directory, flushed and ``fsync``-ed, renamed over ``path`` (an atomic
  ``os.replace``) and the directory is ``fsync``-ed. A process killed at any
  moment leaves either the previous checkpoint or the new one, never a mix.
  A kill can leave a hidden ``.<name>.*.tmp`` file next to it; it is never
  read and may be deleted.
* **Checked**: a SHA-256 digest of everything before it ends the file, so a
  truncated, corrupt or foreign file raises :class:`CheckpointError` and
  never yields a partial state.
* **Exact**: dtypes (``bfloat16`` and the other ``ml_dtypes`` included),
  shapes and bytes are restored unchanged, so training resumes bit-identically.
  A structure, shape or dtype mismatch with ``target`` raises
  :class:`CheckpointError` naming the first differing key path.

File format (version 1, little-endian)::

    bytes 0-7     magic b"FOCKPT\\x00\\x01"
    bytes 8-15    uint64 header length H
    next H bytes  UTF-8 JSON header: {"format": "functional_opt.checkpoint",
                  "version": 1, "treedef": str, "data_nbytes": int,
                  "leaves": [{"path", "dtype", "shape", "offset", "nbytes"}, ...]}
    data          each leaf's C-order bytes at data start + offset (64-byte aligned)
    last 32 bytes SHA-256 of all preceding bytes

``path`` is ``jax.tree_util.keystr`` of the leaf's key path (``"[0].mu['w']"``),
``dtype`` a numpy dtype name (``"float32"``, ``"bfloat16"`` via ml_dtypes).
``None`` leaves are empty subtrees and are not stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CheckpointError", "save", "restore", "load_arrays"]

MAGIC = b"FOCKPT\x00\x01"
FORMAT = "functional_opt.checkpoint"
VERSION = 1
_ALIGN = 64
_DIGEST = 32


# A Python scalar becomes a weakly typed array of the default dtype of its kind.
_WEAK_TEMPLATES = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _as_weak(x: jax.Array) -> jax.Array:
    """``x`` as a weakly typed array with the same values, with public jax API only.

    A weakly typed target leaf (e.g. a hyperparameter that ``inject_hyperparams``
    made from a Python float) must come back weak, or the first jitted call after
    a restore retraces. ``jax.lax.full_like`` keeps the weak type of its template,
    so each value is written into a weak scalar template (``vmap``-ed over the
    entries). Weak arrays only exist in the default dtype of their kind (the dtype
    of ``jnp.asarray(0.0)`` etc.); any other dtype is returned unchanged.
    """
    template = jnp.asarray(_WEAK_TEMPLATES.get(x.dtype.kind, 0.0))
    if template.dtype != x.dtype or not template.weak_type:
        return x

    def fill(v: jax.Array) -> jax.Array:
        return jax.lax.full_like(template, v)

    return jax.vmap(fill)(x.reshape(-1)).reshape(x.shape) if x.ndim else fill(x)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not match the target."""


def _np_dtype(name: str) -> np.dtype:
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes  # bfloat16, float8_*, int4, ... (a dependency of jax)

        try:
            return np.dtype(getattr(ml_dtypes, name))
        except AttributeError:
            raise CheckpointError(f"unknown dtype {name!r} in checkpoint") from None


def _flatten(tree: Any) -> tuple[list[tuple[str, Any]], Any]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(k), x) for k, x in leaves], treedef


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_numpy(key: str, x: Any) -> np.ndarray:
    if _is_key(x) and not isinstance(x, jax.ShapeDtypeStruct):
        x = jax.random.key_data(x)
    if isinstance(x, jax.ShapeDtypeStruct):
        raise TypeError(f"cannot save the abstract leaf at key path {key} (a ShapeDtypeStruct)")
    arr = np.asarray(jax.device_get(x))
    if arr.dtype == object or arr.dtype.kind in "USMmO":
        raise TypeError(f"cannot save the leaf at key path {key}: {type(x).__name__} of dtype {arr.dtype}")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def save(path: str | os.PathLike, tree: Any) -> None:
    """Atomically write every array leaf of ``tree`` to ``path``.

    Args:
        path: the file to (over)write; its directory must exist
            (``FileNotFoundError`` naming the directory otherwise).
        tree: a pytree of arrays (jax or numpy arrays, numpy scalars,
            Python numbers); ``None`` leaves are skipped. Strings and
            other objects raise ``TypeError`` naming the key path. For a
            model with non-array leaves (an equinox module holds functions
            and Python settings), save its array part only:
            ``save(path, eqx.filter(model, eqx.is_array))``, and restore
            into ``eqx.filter(jax.eval_shape(make_model), eqx.is_array)``,
            then ``eqx.combine`` it with the model's static part.

    Examples:
        >>> import os, tempfile, jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> from functional_opt import checkpoint
        >>> params = {"w": jnp.ones(2)}
        >>> opt = fo.adam(0.1)
        >>> state = opt.init(params)
        >>> f = os.path.join(tempfile.mkdtemp(), "ckpt")
        >>> checkpoint.save(f, (params, state))
        >>> target = jax.eval_shape(lambda: (params, opt.init(params)))
        >>> p, s = checkpoint.restore(f, target)
        >>> type(s[0]).__name__, p["w"].dtype
        ('ScaleByAdamState', dtype('float32'))
    """
    path = os.fspath(path)
    items, treedef = _flatten(tree)
    arrays = [(k, _to_numpy(k, x)) for k, x in items]
    leaves, offset = [], 0
    for (k, a), (_, x) in zip(arrays, items):
        offset = -(-offset // _ALIGN) * _ALIGN
        meta = {"path": k, "dtype": a.dtype.name, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes}
        if _is_key(x):  # a typed PRNG key array: its raw key data plus the implementation's name
            meta["key_impl"] = str(jax.random.key_impl(x))
        leaves.append(meta)
        offset += a.nbytes
    header = json.dumps(
        {"format": FORMAT, "version": VERSION, "treedef": str(treedef), "data_nbytes": offset, "leaves": leaves}
    ).encode()
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save the checkpoint {path}: the directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            digest = hashlib.sha256()

            def write(b):
                digest.update(b)
                f.write(b)

            write(MAGIC + struct.pack("<Q", len(header)) + header)
            pos = 0
            for meta, (_, a) in zip(leaves, arrays):
                write(b"\x00" * (meta["offset"] - pos))
                write(a.reshape(-1).view(np.uint8).data if a.size else b"")
                pos = meta["offset"] + meta["nbytes"]
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _read(path: str | os.PathLike) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """Parse and verify a checkpoint: ``(header, [(key path, array), ...])``."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    if len(buf) < 16 + _DIGEST or bytes(buf[:6]) != MAGIC[:6]:
        raise CheckpointError(f"{path} is not a functional_opt checkpoint (bad magic bytes or too short)")
    if bytes(buf[:8]) != MAGIC:
        raise CheckpointError(f"{path}: unsupported checkpoint format version {buf[7]} (this library reads {VERSION})")
    (hlen,) = struct.unpack("<Q", bytes(buf[8:16]))
    if 16 + hlen + _DIGEST > len(buf):
        raise CheckpointError(f"{path} is truncated or corrupt (header length {hlen}, file {len(buf)} bytes)")
    body = memoryview(buf)[: len(buf) - _DIGEST]
    if hashlib.sha256(body).digest() != bytes(buf[-_DIGEST:]):
        raise CheckpointError(f"{path} is corrupt: SHA-256 checksum mismatch (truncated or modified file)")
    try:
        header = json.loads(bytes(buf[16 : 16 + hlen]).decode())
    except ValueError as e:
        raise CheckpointError(f"{path}: unreadable header ({e})") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a version-{VERSION} {FORMAT} file")
    start = 16 + hlen
    if start + header["data_nbytes"] + _DIGEST != len(buf):
        raise CheckpointError(f"{path}: data length does not match the header")
    out = []
    for meta in header["leaves"]:
        dt, shape = _np_dtype(meta["dtype"]), tuple(meta["shape"])
        a = np.frombuffer(buf, dtype=dt, count=int(np.prod(shape, dtype=np.int64)), offset=start + meta["offset"])
        out.append((meta["path"], a.reshape(shape)))
    return header, out


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a checkpoint as plain numpy arrays keyed by their key paths.

    Needs nothing but numpy (and ml_dtypes for ``bfloat16`` and friends): no
    optimizer classes, no target structure. The dict is in the tree's
    flattening order. A typed PRNG key leaf comes back as its raw key data
    (``jax.random.key_data``).

    Examples:
        >>> import os, tempfile, jax.numpy as jnp
        >>> from functional_opt import checkpoint
        >>> f = os.path.join(tempfile.mkdtemp(), "ckpt")
        >>> checkpoint.save(f, {"w": jnp.ones(2, jnp.bfloat16), "n": [jnp.int32(3)]})
        >>> {k: (v.dtype.name, v.shape) for k, v in checkpoint.load_arrays(f).items()}
        {"['n'][0]": ('int32', ()), "['w']": ('bfloat16', (2,))}
    """
    return dict(_read(path)[1])


def _describe(x: Any) -> str:
    return f"shape {tuple(np.shape(x))} dtype {np.dtype(x.dtype).name}"


def _is_int(dt: np.dtype) -> bool:
    return dt.kind in "iu"


def _int_cast_ok(a: np.ndarray, dt: np.dtype) -> bool:
    """Whether the integer array ``a`` converts to the integer dtype ``dt`` without changing a value."""
    if not (_is_int(a.dtype) and _is_int(dt)):
        return False
    if a.size == 0:
        return True
    info = np.iinfo(dt)
    return bool(a.min() >= info.min and a.max() <= info.max)


def restore(path: str | os.PathLike, target: Any) -> Any:
    """Read a checkpoint into the structure of ``target``.

    Args:
        path: a file written by :func:`save`.
        target: a pytree with the expected structure whose leaves have
            ``shape`` and ``dtype`` (arrays or ``jax.ShapeDtypeStruct``, e.g.
            ``jax.eval_shape(optimizer.init, params)``). A leaf with a
            ``sharding`` is placed with it; a weakly typed leaf stays weak.

    Returns:
        ``target``'s structure (NamedTuple types included) with jax arrays
        holding the saved bytes. An integer leaf saved with another integer
        dtype (a Python int is saved as int64) is cast to the target's dtype
        when every value fits in it.

    Raises:
        CheckpointError: the file is missing a leaf, has an extra one, or a
            leaf's shape or dtype differs (naming the first such key path;
            an integer whose values do not fit the target's integer dtype
            included); or the file is corrupt, truncated or not a
            checkpoint. ``TypeError`` for ``target=None`` when the
            checkpoint holds arrays: the file keeps key paths, not the
            container types, so a target is needed (read the arrays without
            one with :func:`load_arrays`).
    """
    header, saved = _read(path)
    if target is None and saved:
        raise TypeError(
            f"restore({path!r}, None): a target is needed to rebuild the tree (e.g. "
            "jax.eval_shape(lambda: (params, optimizer.init(params)))); load_arrays(path) reads the "
            f"{len(saved)} arrays as a {{key path: array}} dict without one"
        )
    items, treedef = _flatten(target)
    for i in range(max(len(saved), len(items))):
        if i >= len(saved):
            raise CheckpointError(f"{path}: the checkpoint has no leaf at key path {items[i][0]} (the target has)")
        if i >= len(items):
            raise CheckpointError(f"{path}: the checkpoint has a leaf at key path {saved[i][0]} the target lacks")
        (ks, a), (kt, t), meta = saved[i], items[i], header["leaves"][i]
        if ks != kt:
            raise CheckpointError(f"{path}: structure mismatch at key path {kt}: the checkpoint has {ks} in its place")
        if not (hasattr(t, "shape") and hasattr(t, "dtype")):
            t = np.asarray(t)
        if _is_key(t) or "key_impl" in meta:
            impl = str(jax.random.key_impl(t)) if _is_key(t) and not isinstance(t, jax.ShapeDtypeStruct) else None
            if (
                not _is_key(t)
                or "key_impl" not in meta
                or a.shape[: len(t.shape)] != tuple(t.shape)
                or (impl is not None and impl != meta["key_impl"])
            ):
                raise CheckpointError(
                    f"{path}: mismatch at key path {kt}: checkpoint {meta.get('key_impl', 'no')} PRNG key "
                    f"data of shape {a.shape}, target {t.dtype} of shape {tuple(t.shape)}"
                )
            continue
        if tuple(a.shape) == tuple(t.shape) and a.dtype != np.dtype(t.dtype) and _int_cast_ok(a, np.dtype(t.dtype)):
            a = a.astype(np.dtype(t.dtype))
            saved[i] = (ks, a)
        elif _is_int(a.dtype) and _is_int(np.dtype(t.dtype)) and a.dtype != np.dtype(t.dtype) and a.shape == t.shape:
            raise CheckpointError(
                f"{path}: the integer leaf at key path {kt} ({_describe(a)}) has values outside the range of the "
                f"target's dtype {np.dtype(t.dtype).name}"
            )
        if tuple(a.shape) != tuple(t.shape) or a.dtype != np.dtype(t.dtype):
            raise CheckpointError(
                f"{path}: mismatch at key path {kt}: checkpoint {_describe(a)}, target {_describe(t)}"
            )
        if jax.dtypes.canonicalize_dtype(a.dtype) != a.dtype:
            raise CheckpointError(
                f"{path}: the leaf at key path {kt} is {a.dtype.name}, which jax holds only with x64 "
                "enabled (jax.config.update('jax_enable_x64', True)); load_arrays reads it as numpy"
            )
    if header["treedef"] != str(treedef):
        raise CheckpointError(
            f"{path}: the key paths match but the container types differ:\n"
            f"  checkpoint {header['treedef']}\n  target     {treedef}"
        )

    def place(a, t, meta):
        sharding = getattr(t, "sharding", None)
        if "key_impl" in meta:
            x = jax.random.wrap_key_data(jnp.array(a), impl=meta["key_impl"])
            return jax.device_put(x, sharding) if sharding is not None else x
        x = jax.device_put(a, sharding) if sharding is not None else jnp.array(a)
        if getattr(t, "weak_type", False):  # weak leaves are Python-number scalars in practice
            x = _as_weak(x)
            x = jax.device_put(x, sharding) if sharding is not None else x
        return x

    return jax.tree_util.tree_unflatten(
        treedef, [place(a, t, m) for (_, a), (_, t), m in zip(saved, items, header["leaves"])]
    )
