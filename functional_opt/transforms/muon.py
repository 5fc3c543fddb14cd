"""Muon: momentum orthogonalized by a Newton–Schulz iteration."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import (
    check_dtype,
    check_int,
    check_number,
    compute_dtype,
    safe_increment,
    value_at,
    zero_count,
)
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat

#: The quintic coefficients ``(a, b, c)`` of Keller Jordan's reference Muon.
MUON_NS_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz(x, coeffs=MUON_NS_COEFFS, steps: int = 5, eps=1e-7) -> jax.Array:
    """Approximately orthogonalize a matrix with the quintic Newton–Schulz iteration.

    For ``G = U S V^T``, returns roughly ``U S' V^T`` with ``S'`` near 1 (the
    reference coefficients push singular values into about ``[0.7, 1.2]``
    rather than exactly 1, which trains as well and needs only 5 steps)::

        X <- G / (||G||_F + eps)            (transposed first when rows > cols)
        repeat steps times:
            A <- X X^T
            X <- a X + (b A + c A A) X

    Computed in at least float32 (the reference runs it in bfloat16 on GPU)
    and returned in ``x``'s dtype.

    Args:
        x: a 2-D array.
        coeffs: ``(a, b, c)`` numbers or arrays (default the reference's).
        steps: number of iterations, an int ``>= 0``.
        eps: ``>= 0``, added to the Frobenius norm.

    Example:
        >>> import jax.numpy as jnp
        >>> from functional_opt.transforms.muon import newton_schulz
        >>> q = newton_schulz(jnp.array([[3.0, 0.0], [0.0, 0.5]]))
        >>> bool(jnp.all((jnp.diag(q) > 0.6) & (jnp.diag(q) < 1.3)))
        True

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (github.com/KellerJordan/Muon).
    """
    check_int("steps", steps, low=0)
    check_number("eps", eps, low=0.0)
    if len(coeffs) != 3:
        raise ValueError(f"coeffs must be three numbers (a, b, c), got {coeffs!r}")
    if jnp.ndim(x) != 2:
        raise ValueError(f"newton_schulz needs a 2-D array, got shape {jnp.shape(x)}")
    dt = compute_dtype(x.dtype)
    a, b, c = (value_at(k, None).astype(dt) for k in coeffs)
    X = x.astype(dt)
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    X = X / (jnp.sqrt(jnp.sum(_tree.abs_sq(X))) + value_at(eps, None).astype(dt))
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * (A @ A)) @ X
    if transposed:
        X = X.T
    return X.astype(x.dtype)


def _as_matrix(x):
    """View a leaf as ``(fan_in, fan_out) = (prod(shape[:-1]), shape[-1])``."""
    shape = jnp.shape(x)
    if len(shape) < 2:
        raise ValueError(
            f"scale_by_muon needs leaves with ndim >= 2, got shape {shape}; use fo.muon, "
            "which sends the other leaves to its fallback optimizer"
        )
    return jnp.reshape(x, (math.prod(shape[:-1]), shape[-1]))


class ScaleByMuonState(NamedTuple):
    """State of :func:`scale_by_muon`: the int32 count and the momentum buffer."""

    count: Any
    mu: Any


def scale_by_muon(
    beta=0.95,
    ns_coeffs=MUON_NS_COEFFS,
    ns_steps: int = 5,
    eps=1e-7,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """Muon's direction: orthogonalized momentum, scaled for the leaf's shape.

    Update rule for each leaf viewed as a ``(fan_in, fan_out)`` matrix
    (``prod(shape[:-1])`` by ``shape[-1]``, the JAX ``x @ W`` layout)::

        mu <- beta * mu + (1 - beta) * g
        m  =  beta * mu + (1 - beta) * g      (nesterov=True)   or  mu
        u  =  newton_schulz(m, ns_coeffs, ns_steps, eps) * sqrt(max(1, fan_out / fan_in))

    Conventions (reference = Keller Jordan's ``Muon``):

    ==================  =========================  ===========================  ==================
    choice              this library               reference (torch)            optax.contrib.muon
    ==================  =========================  ===========================  ==================
    momentum            lerp, no bias correction   lerp, no bias correction     bias-corrected
    nesterov default    True                       True                         True
    matrix layout       ``(in, out)``              ``(out, in)``                ``(in, out)``
    shape scale         sqrt(max(1, out/in))       sqrt(max(1, out/in))         sqrt(max(1, out/in))
    norm eps            1e-7                       1e-7                         1e-8
    NS precision        >= float32                 bfloat16                     input dtype
    ==================  =========================  ===========================  ==================

    Without Nesterov the bias correction is a positive scalar that the
    normalization removes, so this equals optax up to ``eps``; with Nesterov
    the two differ from the second step on. Every leaf must have ``ndim >= 2``
    (use :func:`functional_opt.muon` to route the others to a fallback).

    Args:
        beta: momentum decay in ``[0, 1)`` (number, array or schedule).
        ns_coeffs: the quintic's ``(a, b, c)``; default ``(3.4445, -4.7750, 2.0315)``.
        ns_steps: Newton–Schulz iterations, an int ``>= 0`` (default 5).
        eps: ``>= 0``, added to the Frobenius norm before the iteration.
        mu_dtype: dtype of the momentum buffer; default the param dtype.
        nesterov: use the Nesterov look-ahead ``beta * mu + (1 - beta) * g``.

    State: :class:`ScaleByMuonState` ``(count, mu)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_muon()
        >>> u, s = t.update(jnp.ones((2, 8)), t.init(jnp.zeros((2, 8))))
        >>> u.shape
        (2, 8)

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024; Bernstein & Newhouse, "Old Optimizer, New Norm: An
        Anthology", arXiv:2409.20325.
    """
    check_number("beta", beta, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_int("ns_steps", ns_steps, low=0)
    check_number("eps", eps, low=0.0)
    if len(ns_coeffs) != 3:
        raise ValueError(f"ns_coeffs must be three numbers (a, b, c), got {ns_coeffs!r}")
    for i, k in enumerate(ns_coeffs):
        check_number(f"ns_coeffs[{i}]", k)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)

    def init(params):
        check_not_flat(params, "scale_by_muon")
        return ScaleByMuonState(count=zero_count(), mu=_tree.zeros_like(params, mu_dtype))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_muon")
        del params, extra_args
        k = _tree.decay_scalars(beta, state.count)

        def leaf(g, mu):
            mu = _tree.ema(mu, g, k.omb)
            m = _tree.ema(mu, g, k.omb) if nesterov else mu
            mat = _as_matrix(m)
            fan_in, fan_out = mat.shape
            u = newton_schulz(mat, ns_coeffs, ns_steps, eps) * math.sqrt(max(1.0, fan_out / fan_in))
            return u.reshape(g.shape), mu

        u, (mu,) = _tree.map_moments("scale_by_muon", leaf, updates, mu=state.mu)
        return u, ScaleByMuonState(count=safe_increment(state.count), mu=mu)

    return GradientTransformation(init, update)
