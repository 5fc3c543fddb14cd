"""Hutchinson's estimator of the Hessian diagonal as a transformation (optax.contrib's form)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from functional_opt.base import GradientTransformation
from functional_opt.transforms.sophia import hutchinson_diag_hessian


class HutchinsonState(NamedTuple):
    """State of :func:`hutchinson_estimator_diag_hessian` (optax's field): the PRNG key."""

    key: Any


def hutchinson_estimator_diag_hessian(random_seed=None) -> GradientTransformation:
    """A transformation whose output is one Hutchinson sample of the Hessian diagonal.

    Update rule, ``f = obj_fn`` passed to ``update``, ``v`` Rademacher::

        key, sub = split(key)
        u = v * (H_f(params) v)          (E[u] = diag(H_f))

    The incoming updates are ignored. The sample is
    :func:`functional_opt.transforms.sophia.hutchinson_diag_hessian` (the
    estimator ``fo.sophia`` uses).

    Conventions: as ``optax.contrib.hutchinson_estimator_diag_hessian``
    (argument, state field, ``update(updates, state, params, obj_fn=...)``);
    the random signs per leaf are drawn from different sub-keys than optax's,
    so individual samples differ (their distribution is the same).

    Args:
        random_seed: a ``jax.random`` key (default ``jax.random.PRNGKey(0)``).

    State: :class:`HutchinsonState` ``(key,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.hutchinson_estimator_diag_hessian()
        >>> f = lambda p: jnp.sum(jnp.array([1.0, 3.0]) * p**2)
        >>> p = jnp.ones(2)
        >>> t.update(p, t.init(p), p, obj_fn=f)[0]  # a diagonal Hessian: exact
        Array([2., 6.], dtype=float32)

    References:
        Hutchinson, "A stochastic estimator of the trace of the influence
        matrix for Laplacian smoothing splines", 1989.
    """

    def init(params):
        del params
        return HutchinsonState(key=jax.random.PRNGKey(0) if random_seed is None else random_seed)

    def update(updates, state, params=None, *, obj_fn=None, **extra_args):
        del updates, extra_args
        if params is None:
            raise ValueError("hutchinson_estimator_diag_hessian needs params: call update(updates, state, params)")
        if obj_fn is None:
            raise ValueError("hutchinson_estimator_diag_hessian needs obj_fn: call update(..., obj_fn=loss)")
        key, sub = jax.random.split(state.key)
        return hutchinson_diag_hessian(obj_fn, params, sub), HutchinsonState(key=key)

    return GradientTransformation(init, update)
