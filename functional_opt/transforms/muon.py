"""Muon: momentum orthogonalized by a Newton–Schulz iteration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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

#: Named coefficient sets (optax's presets): ``"standard"`` (the reference's,
#: repeated every step) and ``"dion"`` (five per-step triples, Ahn et al. 2025).
NS_COEFFS_PRESETS: dict[str, Any] = {
    "standard": MUON_NS_COEFFS,
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a leaf form Muon's matrix: ``x @ W`` with ``W`` of shape ``(reduction, output)``.

    ``reduction_axis`` and ``output_axis`` are an int or a sequence of ints
    (negative counts from the end); their sizes multiply into the matrix's
    rows and columns. Every other axis is a batch axis: each slice along it
    is orthogonalized on its own. The default ``(0, 1)`` is a 2-D weight.
    The same type as ``optax.contrib.MuonDimensionNumbers``.

    Examples:
        >>> from functional_opt.transforms.muon import MuonDimensionNumbers
        >>> MuonDimensionNumbers(reduction_axis=(0, 1), output_axis=2)
        MuonDimensionNumbers(reduction_axis=(0, 1), output_axis=2)
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


def _coeff_rows(coeffs: Any, steps: int, where: str = "ns_coeffs") -> list:
    """The per-step ``(a, b, c)`` triples: one triple repeated ``steps`` times, or one row per step."""
    if isinstance(coeffs, str):
        if coeffs not in NS_COEFFS_PRESETS:
            raise ValueError(f"{where}: unknown preset {coeffs!r}; known: {sorted(NS_COEFFS_PRESETS)}")
        coeffs = NS_COEFFS_PRESETS[coeffs]
    ndim = np.ndim(coeffs) if not isinstance(coeffs, (list, tuple)) else (2 if np.ndim(coeffs[0]) else 1)
    rows = [coeffs] if ndim == 1 else list(coeffs)
    if not rows or ndim > 2 or any(len(r) != 3 for r in rows):
        raise ValueError(f"{where} must be three numbers (a, b, c) or a sequence of such triples, got {coeffs!r}")
    for i, r in enumerate(rows):
        for j, k in enumerate(r):
            check_number(f"{where}[{i}][{j}]" if ndim == 2 else f"{where}[{j}]", k)
    if ndim == 1:
        return rows * steps
    if len(rows) > steps:
        raise ValueError(f"{where}: {len(rows)} per-step triples but only ns_steps={steps} steps")
    return rows


def _check_preconditioning(preconditioning: str) -> None:
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(f"preconditioning must be one of {PRECONDITIONINGS}, got {preconditioning!r}")


def _orthogonalize(X: jax.Array, rows: list, preconditioning: str, eps: Any) -> jax.Array:
    """Newton–Schulz on one matrix already in its compute dtype (complex-aware: ``X X^H``)."""
    transposed = X.shape[0] > X.shape[1]
    if transposed:  # f(X^T)^T = f(X): iterate on the wide side
        X = X.T
    if preconditioning == "frobenius":
        X = X / (jnp.sqrt(jnp.sum(_tree.abs_sq(X))) + eps)
    elif preconditioning == "spectral":
        X = X / (jnp.linalg.norm(X, ord=2) + eps)
    for i, (a, b, c) in enumerate(rows):
        A = X @ X.conj().T  # Hermitian: X X^T would diverge on complex inputs
        if i == 0 and preconditioning == "aol":  # rows scaled by 1/sqrt(sum_j |A_ij|)
            s = jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.abs(A), axis=-1), eps))[:, None]
            X, A = X * s, A * s * s.T
        elif i == 0 and preconditioning == "schatten":  # scaled by 1/||X||_S4 = 1/sqrt(||A||_F)
            s = jax.lax.rsqrt(jnp.maximum(jnp.sqrt(jnp.sum(_tree.abs_sq(A))), eps))
            X, A = X * s, A * (s * s)
        X = a * X + (b * A + c * (A @ A)) @ X
    return X.T if transposed else X


def newton_schulz(
    x, coeffs=MUON_NS_COEFFS, steps: int = 5, eps=1e-7, *, preconditioning: str = "frobenius"
) -> jax.Array:
    """Approximately orthogonalize a matrix with the quintic Newton–Schulz iteration.

    For ``G = U S V^H``, returns roughly ``U S' V^H`` with ``S'`` near 1 (the
    reference coefficients push singular values into about ``[0.7, 1.2]``
    rather than exactly 1, which trains as well and needs only 5 steps)::

        X <- G / (||G||_F + eps)            (transposed first when rows > cols)
        repeat for each step's (a, b, c):
            A <- X X^H
            X <- a X + (b A + c A A) X

    ``X^H`` is the conjugate transpose, so complex matrices work (``X X^T``
    is not Hermitian and diverges). ``preconditioning`` replaces the first
    normalization: ``"spectral"`` divides by ``||G||_2 + eps``; ``"aol"``
    scales the rows by ``1 / sqrt(sum_j |A_ij|)`` inside the first step
    (Boissin et al. 2025); ``"schatten"`` divides by the Schatten-4 norm
    ``sqrt(||A||_F)`` inside the first step (Grishina et al. 2025); these
    two clip their denominators at ``eps``.

    Computed in at least float32 (the reference runs it in bfloat16 on GPU)
    and returned in ``x``'s dtype.

    Args:
        x: a 2-D array.
        coeffs: ``(a, b, c)`` numbers or arrays (default the reference's),
            used every step; or a sequence of at most ``steps`` such triples,
            one per step; or a preset name, ``"standard"`` or ``"dion"``.
        steps: number of iterations, an int ``>= 0`` (the length of
            ``coeffs`` when it is a sequence of triples).
        eps: ``>= 0``, added to the norm.
        preconditioning: ``"frobenius"`` (default), ``"spectral"``, ``"aol"`` or ``"schatten"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from functional_opt.transforms.muon import newton_schulz
        >>> q = newton_schulz(jnp.array([[3.0, 0.0], [0.0, 0.5]]))
        >>> bool(jnp.all((jnp.diag(q) > 0.6) & (jnp.diag(q) < 1.3)))
        True

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (github.com/KellerJordan/Muon); optax.contrib's
        ``orthogonalize_via_newton_schulz``.
    """
    check_int("steps", steps, low=0)
    check_number("eps", eps, low=0.0)
    _check_preconditioning(preconditioning)
    rows = _coeff_rows(coeffs, steps, "coeffs")
    if jnp.ndim(x) != 2:
        raise ValueError(f"newton_schulz needs a 2-D array, got shape {jnp.shape(x)}")
    dt = compute_dtype(x.dtype)
    real = jnp.finfo(dt).dtype
    rows = [tuple(value_at(k, None).astype(real) for k in r) for r in rows]
    X = _orthogonalize(x.astype(dt), rows, preconditioning, value_at(eps, None).astype(real))
    return X.astype(x.dtype)


class _Spec:
    """An opaque box for one leaf's dimension numbers, so tree utilities do not flatten the NamedTuple."""

    def __init__(self, value):
        self.value = value


def _is_spec_leaf(x: Any) -> bool:
    return x is None or isinstance(x, MuonDimensionNumbers)


def leaf_dimension_numbers(where: str, spec: Any, tree: Any) -> list:
    """One ``MuonDimensionNumbers`` (or ``None``) per leaf of ``tree``, aligned with ``jax.tree.leaves(tree)``.

    ``spec`` is ``None`` (every leaf ``None``), one ``MuonDimensionNumbers``
    for every leaf, a tree of them (``None`` entries allowed) with ``tree``'s
    structure or a prefix of it, or a function of ``tree`` returning one.
    Leaves are matched by key path, so ``tree`` may be a masked copy of the
    params whose masked-out leaves are empty subtrees.
    """
    if spec is None:
        return [None] * len(jax.tree.leaves(tree))
    if callable(spec) and not isinstance(spec, MuonDimensionNumbers):
        spec = spec(tree)
    entries = jax.tree_util.tree_flatten_with_path(spec, is_leaf=_is_spec_leaf)[0]
    for path, v in entries:
        if not _is_spec_leaf(v):
            raise TypeError(
                f"{where}: weight dimension numbers must be MuonDimensionNumbers or None, "
                f"got {v!r} at {jax.tree_util.keystr(path)}"
            )
    out = []
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        match = [v for p, v in entries if tuple(path[: len(p)]) == tuple(p)]
        if len(match) != 1:
            raise ValueError(
                f"{where}: the weight dimension numbers must be a tree with the params' structure or a "
                f"prefix of it; no single entry for the leaf at {jax.tree_util.keystr(path)}"
            )
        out.append(match[0])
    return out


def _axes(dims: MuonDimensionNumbers, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(batch, reduction, output)`` axes of a leaf of rank ``ndim``; checks they are disjoint."""

    def norm(a):
        return tuple(int(i) % ndim for i in ((a,) if isinstance(a, int) else a))

    red, out = norm(dims.reduction_axis), norm(dims.output_axis)
    if set(red) & set(out) or not red or not out:
        raise ValueError(f"MuonDimensionNumbers: reduction and output axes must be disjoint and non-empty, got {dims}")
    return tuple(i for i in range(ndim) if i not in red + out), red, out


class ScaleByMuonState(NamedTuple):
    """State of :func:`scale_by_muon`: the int32 count and the momentum buffer."""

    count: Any
    mu: Any


def scale_by_muon(
    ns_coeffs=MUON_NS_COEFFS,
    ns_steps: int = 5,
    beta=0.95,
    eps=1e-7,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
    consistent_rms: Any = None,
) -> GradientTransformation:
    """Muon's direction: orthogonalized momentum, scaled for the leaf's shape.

    Update rule for each leaf viewed as a ``(fan_in, fan_out)`` matrix (see
    ``weight_dimension_numbers``; by default ``prod(shape[:-1])`` by
    ``shape[-1]``, the JAX ``x @ W`` layout)::

        mu <- beta * mu + (1 - beta) * g
        m  =  beta * mu + (1 - beta) * g      (nesterov=True)   or  mu
        Q  =  newton_schulz(m, ns_coeffs, ns_steps, eps, preconditioning)
        Q  <- Re<m, Q> * Q                    (adaptive=True; <m, Q> = sum(conj(m) * Q))
        u  =  Q * sqrt(max(1, fan_out / fan_in))          (consistent_rms=None)
           or Q * sqrt(max(fan_in, fan_out)) * consistent_rms

    Complex leaves are orthogonalized with the conjugate transpose (see
    :func:`newton_schulz`).

    Conventions (reference = Keller Jordan's ``Muon``):

    ==================  =========================  ===========================  ==================
    choice              this library               reference (torch)            optax.contrib.muon
    ==================  =========================  ===========================  ==================
    momentum            lerp, no bias correction   lerp, no bias correction     bias-corrected
    nesterov default    True                       True                         True
    matrix layout       ``(in, out)``              ``(out, in)``                ``(in, out)``
    shape scale         here                       here                         ``scale_by_shape``
    norm eps            1e-7                       1e-7                         1e-8
    NS precision        >= float32                 bfloat16                     input dtype
    adaptive scale      ``Re<m, Q>``               (none)                       ``<m, Q>``
    ==================  =========================  ===========================  ==================

    Without Nesterov and ``adaptive`` the bias correction is a positive
    scalar that the normalization removes, so this equals optax up to
    ``eps``; with Nesterov the two differ from the second step on, and with
    ``adaptive`` by the factor ``1 - beta**t``. optax splits the shape scale
    into ``scale_by_shape``; here it is part of this transform.

    Args:
        ns_coeffs: the quintic's ``(a, b, c)``, default ``(3.4445, -4.7750,
            2.0315)``; or one triple per step; or ``"standard"``/``"dion"``.
        ns_steps: Newton–Schulz iterations, an int ``>= 0`` (default 5).
        beta: momentum decay in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, added to the norm before the iteration.
        mu_dtype: dtype of the momentum buffer; default the param dtype.
        nesterov: use the Nesterov look-ahead ``beta * mu + (1 - beta) * g``.
        adaptive: scale by the dual norm ``Re<m, Q>`` (Bernstein & Newhouse).
        preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``
            (see :func:`newton_schulz`).
        weight_dimension_numbers: a :class:`MuonDimensionNumbers`, a tree of
            them (params' structure or a prefix of it), or a function of the
            updates returning one; ``None`` (also as an entry) means the
            default layout above. Axes not named are batch axes.
        consistent_rms: ``None`` or a number ``>= 0`` (Liu et al.'s 0.2
            matches AdamW's update RMS).

    State: :class:`ScaleByMuonState` ``(count, mu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_muon()
        >>> u, s = t.update(jnp.ones((2, 8)), t.init(jnp.zeros((2, 8))))
        >>> u.shape
        (2, 8)

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024; Bernstein & Newhouse, "Old Optimizer, New Norm: An
        Anthology", arXiv:2409.20325; Liu et al., "Muon is Scalable for LLM
        Training", arXiv:2502.16982.
    """
    check_number("beta", beta, low=0.0, high=1.0, high_inclusive=False, allow_schedule=True)
    check_int("ns_steps", ns_steps, low=0)
    check_number("eps", eps, low=0.0)
    _check_preconditioning(preconditioning)
    rows = _coeff_rows(ns_coeffs, ns_steps)
    if consistent_rms is not None:
        check_number("consistent_rms", consistent_rms, low=0.0, allow_schedule=True)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)

    def init(params):
        check_not_flat(params, "scale_by_muon")
        return ScaleByMuonState(count=zero_count(), mu=_tree.zeros_like(params, mu_dtype))

    def orthogonalized(m, dims, count):
        """``u`` for one leaf ``m`` (compute dtype) laid out by ``dims``."""
        if m.ndim < 2:
            raise ValueError(
                f"scale_by_muon needs leaves with ndim >= 2, got shape {m.shape}; use fo.muon, "
                "which sends the other leaves to its fallback optimizer"
            )
        if dims is None:
            dims = MuonDimensionNumbers(tuple(range(m.ndim - 1)), m.ndim - 1)
        batch, red, out = _axes(dims, m.ndim)
        perm = batch + red + out
        sizes = [tuple(m.shape[i] for i in ax) for ax in (batch, red, out)]
        fan_in, fan_out = math.prod(sizes[1]), math.prod(sizes[2])
        real = jnp.finfo(m.dtype).dtype
        k = [tuple(value_at(c, None).astype(real) for c in r) for r in rows]
        mats = jnp.transpose(m, perm).reshape(math.prod(sizes[0]), fan_in, fan_out)
        Q = jax.vmap(lambda x: _orthogonalize(x, k, preconditioning, value_at(eps, None).astype(real)))(mats)
        Q = Q.reshape(sizes[0] + sizes[1] + sizes[2]).transpose(np.argsort(perm))
        if adaptive:
            Q = jnp.real(jnp.sum(jnp.conj(m) * Q)).astype(real) * Q
        if consistent_rms is None:
            scale = math.sqrt(max(1.0, fan_out / fan_in))
            return Q * scale
        return Q * (math.sqrt(max(fan_in, fan_out)) * value_at(consistent_rms, count).astype(real))

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_muon")
        del params, extra_args
        if not jax.tree.leaves(updates):  # nothing routed here (e.g. a partition with no matrix leaves)
            return updates, ScaleByMuonState(count=safe_increment(state.count), mu=state.mu)
        k = _tree.decay_scalars(beta, state.count)

        def leaf(g, mu):
            mu = _tree.ema(mu, g, k.omb)
            m = _tree.ema(mu, g, k.omb) if nesterov else mu
            return None, mu, m

        _, (mu, m) = _tree.map_moments("scale_by_muon", leaf, updates, mu=state.mu)
        dims = leaf_dimension_numbers("scale_by_muon", weight_dimension_numbers, updates)
        treedef = jax.tree.structure(updates)
        u = [
            orthogonalized(mi, d, state.count).astype(g.dtype)
            for mi, d, g in zip(treedef.flatten_up_to(m), dims, treedef.flatten_up_to(updates))
        ]
        return treedef.unflatten(u), ScaleByMuonState(count=safe_increment(state.count), mu=mu)

    return GradientTransformation(init, update)
