r"""Curvature of a loss ``loss(params, inputs, targets)``: the ``optax.second_order`` namespace.

Hessian-vector products by forward-over-reverse differentiation, the exact
Hessian diagonal, and the diagonal of the observed (empirical) Fisher
information. Vectors over the parameters are flat: ``v`` and the diagonals
have ``ravel(params)``'s length, ordered as ``jax.flatten_util.ravel_pytree``
orders the leaves.

These are small-model tools (``hessian_diag`` costs one Hessian-vector
product per parameter); the optimizers that need curvature at scale
estimate it stochastically (``fo.sophia``'s Hutchinson estimator).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

__all__ = ["fisher_diag", "hessian_diag", "hvp"]

LossFn = Callable[[Any, Any, Any], jax.Array]


def _ravel(tree: Any) -> jax.Array:
    return flatten_util.ravel_pytree(tree)[0]


def hvp(loss: LossFn, v: jax.Array, params: Any, inputs: Any, targets: Any) -> Any:
    r"""The Hessian-vector product :math:`H v`, :math:`H = \nabla^2_\theta\, \ell(\theta, x, y)`.

    Computed as the forward derivative of the gradient along ``v``
    (:math:`\frac{d}{d\epsilon}\nabla\ell(\theta + \epsilon v)`), one
    gradient's cost, never forming :math:`H`.

    Args:
      loss: ``loss(params, inputs, targets) -> scalar``.
      v: a flat vector of ``ravel(params)``'s length.
      params: the parameters :math:`\theta` (any pytree).
      inputs: the inputs :math:`x`.
      targets: the targets :math:`y`.

    Returns:
      :math:`H v` with the structure of ``params`` (as optax's; ravel it
      with ``jax.flatten_util.ravel_pytree`` for a flat vector).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> loss = lambda w, x, y: jnp.sum((x @ w - y) ** 2)  # H = 2 x^T x
      >>> fo.second_order.hvp(loss, jnp.array([1.0, 0.0]), jnp.zeros(2), jnp.eye(2), jnp.zeros(2))
      Array([2., 0.], dtype=float32)

    Same as ``optax.second_order.hvp`` (deprecated there since 0.2.7; kept here, without a warning).

    Reference: Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994.
    """
    _, unravel = flatten_util.ravel_pytree(params)
    return jax.jvp(jax.grad(lambda p: loss(p, inputs, targets)), (params,), (unravel(v),))[1]


def hessian_diag(loss: LossFn, params: Any, inputs: Any, targets: Any) -> jax.Array:
    r"""The diagonal of the Hessian, :math:`\operatorname{diag}(H)_i = e_i^\top H e_i`, as a flat vector.

    One :func:`hvp` per parameter (vmapped over the unit vectors
    :math:`e_i`): exact, for small models.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> loss = lambda w, x, y: jnp.sum((x @ w - y) ** 2)
      >>> fo.second_order.hessian_diag(loss, jnp.zeros(2), jnp.array([[1.0, 2.0]]), jnp.zeros(1))
      Array([2., 8.], dtype=float32)

    Same as ``optax.second_order.hessian_diag``.
    """
    n = _ravel(params).size
    return jax.vmap(lambda e: jnp.vdot(e, _ravel(hvp(loss, e, params, inputs, targets))))(jnp.eye(n))


def fisher_diag(negative_log_likelihood: LossFn, params: Any, inputs: Any, targets: Any) -> jax.Array:
    r"""The diagonal of the observed Fisher information, :math:`F_{ii} = (\partial_i\,\mathrm{NLL}(\theta, x, y))^2`.

    The square of the gradient of the negative log likelihood summed over
    the given batch (not the mean of per-example squared gradients: pass one
    example, or vmap, for those).

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> nll = lambda w, x, y: jnp.sum((x @ w - y) ** 2)
      >>> fo.second_order.fisher_diag(nll, jnp.zeros(2), jnp.array([[1.0, 2.0]]), jnp.ones(1))
      Array([ 4., 16.], dtype=float32)

    Same as ``optax.second_order.fisher_diag``.

    Reference: Martens, "New insights and perspectives on the natural gradient method", JMLR 2020.
    """
    return jnp.square(_ravel(jax.grad(negative_log_likelihood)(params, inputs, targets)))
