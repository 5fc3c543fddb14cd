"""Run a real-valued transformation on complex parameters by splitting them into (real, imaginary) pairs."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt.base import GradientTransformation, check_transform, with_extra_args_support


class SplitRealAndImaginaryArrays(NamedTuple):
    """A complex array as its two real parts (a pytree node, so an inner transform sees two leaves)."""

    real: Any
    imaginary: Any


class SplitRealAndImaginaryState(NamedTuple):
    """State of :func:`split_real_and_imaginary` (optax's field): the inner state over the split tree."""

    inner_state: Any


def _split(x):
    if x is not None and jnp.iscomplexobj(x):
        return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x))
    return x


def _merge(x):
    if isinstance(x, SplitRealAndImaginaryArrays):
        return jax.lax.complex(x.real, x.imaginary)
    return x


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    """Apply ``inner`` to complex leaves as independent real and imaginary parts.

    Each complex leaf ``z = x + i y`` becomes the pair ``(x, y)`` before
    ``inner`` sees the updates, params and state, and the pair of updates
    ``(u_x, u_y)`` comes back as ``u_x + i u_y``. Real leaves pass through.
    This is the "two real parameters" view of a complex one (e.g. Adam's
    second moment then has separate ``x`` and ``y`` entries instead of
    ``|z|**2``).

    Conventions: as ``optax.contrib.split_real_and_imaginary`` (state
    ``SplitRealAndImaginaryState(inner_state)``); extra arguments
    (``value=``, ...) are forwarded to ``inner`` when it accepts them.

    Args:
        inner: the transformation to run on the real pairs.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.split_real_and_imaginary(fo.scale_by_sign())
        >>> t.update(jnp.array([3.0 - 0.5j]), t.init(jnp.zeros(1, jnp.complex64)))[0]
        Array([1.-1.j], dtype=complex64)

    References:
        optax.contrib.split_real_and_imaginary.
    """
    check_transform(inner, "inner")
    inner = with_extra_args_support(inner)

    def init(params):
        return SplitRealAndImaginaryState(inner.init(jax.tree.map(_split, params)))

    def update(updates, state, params=None, **extra_args):
        split_u = jax.tree.map(_split, updates)
        split_p = None if params is None else jax.tree.map(_split, params)
        u, inner_state = inner.update(split_u, state.inner_state, split_p, **extra_args)
        u = jax.tree.map(_merge, u, is_leaf=lambda x: isinstance(x, SplitRealAndImaginaryArrays))
        return u, SplitRealAndImaginaryState(inner_state)

    return GradientTransformation(init, update)
