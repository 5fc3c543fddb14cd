"""Scale the gradient that flows back through a value, leaving the value unchanged."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from functional_opt._hparams import check_number, concrete_scalar


@jax.custom_vjp
def _scaled(inputs, scale):
    return inputs


def _scaled_fwd(inputs, scale):
    return inputs, scale


def _scaled_bwd(scale, ct):
    return jax.tree.map(lambda c: c * jnp.asarray(scale).astype(c.dtype), ct), None


_scaled.defvjp(_scaled_fwd, _scaled_bwd)


def scale_gradient(inputs: Any, scale) -> Any:
    """Identity on the forward pass; multiplies the gradient by ``scale`` on the backward pass.

    Rule, for ``y = scale_gradient(x, s)``::

        y = x                   (forward)
        dL/dx = s * dL/dy       (backward)

    A loss-side helper (not a gradient transformation): it damps or amplifies
    the gradient reaching one part of a model, e.g. a shared trunk or a
    target network. ``scale = 0`` is ``jax.lax.stop_gradient`` and
    ``scale = 1`` returns ``inputs`` itself (both decided only for a
    concrete Python number).

    Conventions: as optax's ``scale_gradient``. ``scale`` gets no gradient.

    Args:
        inputs: an array or a pytree of arrays.
        scale: the factor on the backward pass (a number or an array scalar).

    Returns:
        ``inputs`` (same values), with the scaled backward gradient.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import functional_opt as fo
        >>> float(jax.grad(lambda x: 3.0 * fo.scale_gradient(x, 0.5))(1.0))
        1.5

    References:
        optax.scale_gradient.
    """
    check_number("scale", scale)
    s = concrete_scalar(scale)
    if s == 1.0:
        return inputs
    if s == 0.0:
        return jax.lax.stop_gradient(inputs)
    return _scaled(inputs, scale)
