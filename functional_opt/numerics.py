"""Numerical helpers optax exports at its top level: safe norms, target-network updates, linear algebra.

Each function is re-exported at the top level (``fo.safe_norm``,
``fo.power_iteration``, ...), as in optax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from functional_opt import _tree
from functional_opt._hparams import safe_increment
from functional_opt.tree_utils import tree_add_scale, tree_norm, tree_scale, tree_vdot


def safe_norm(x: Any, min_norm: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> jax.Array:  # noqa: A002
    r""":math:`\max(\|x\|, \text{min\_norm})` with a finite gradient where :math:`\|x\| \le \text{min\_norm}`.

    ``jnp.maximum(jnp.linalg.norm(x), min_norm)`` has a NaN gradient at
    ``x = 0`` (the norm's gradient :math:`x/\|x\|` is evaluated on both
    branches); here the norm branch sees a harmless substitute (ones) where
    the bound is active, so the gradient there is exactly 0. ``ord``,
    ``axis`` and ``keepdims`` are ``jnp.linalg.norm``'s.

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> jax.grad(lambda x: fo.safe_norm(x, 1e-6))(jnp.zeros(3))
      Array([0., 0., 0.], dtype=float32)

    Same as ``optax.safe_norm``.
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    small = norm <= min_norm
    x_safe = jnp.where(small, jnp.ones_like(x), x)
    norm_safe = jnp.linalg.norm(x_safe, ord=ord, axis=axis, keepdims=keepdims)
    if not keepdims:
        small = jnp.squeeze(small, axis=axis)
    return jnp.where(small, min_norm, norm_safe)


def safe_root_mean_squares(x: Any, min_rms: Any) -> jax.Array:
    r""":math:`\max(\sqrt{\operatorname{mean}|x|^2}, \text{min\_rms})`, with a zero gradient where the bound is active.

    Complex-aware (:math:`|x|^2 = x\bar x`). See :func:`safe_norm` for why
    ``jnp.maximum`` alone is not safe.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.safe_root_mean_squares(jnp.array([3.0, 4.0]), 1e-6)
      Array(3.535534, dtype=float32)

    Same as ``optax.safe_root_mean_squares``.
    """
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(_tree.abs_sq(x)))
    small = rms <= min_rms
    x_safe = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, min_rms, jnp.sqrt(jnp.mean(_tree.abs_sq(x_safe))))


def safe_int32_increment(count: Any) -> Any:
    """``count + 1``, saturating at the dtype's maximum (``2**31 - 1`` for int32) instead of wrapping.

    The older name of :func:`functional_opt.safe_increment` (optax keeps
    both); same result.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.safe_int32_increment(jnp.asarray(2**31 - 1, jnp.int32))
      Array(2147483647, dtype=int32)
    """
    return safe_increment(count)


def incremental_update(new_tensors: Any, old_tensors: Any, step_size: Any) -> Any:
    r"""Polyak (moving) averaging of parameters: :math:`\bar\theta \leftarrow \tau\,\theta + (1-\tau)\,\bar\theta`.

    ``new_tensors`` is :math:`\theta`, ``old_tensors`` the average
    :math:`\bar\theta`, ``step_size`` :math:`\tau` (``1`` copies,
    ``0`` keeps). ``None`` leaves stay ``None``. Use it for a target
    network or evaluation weights outside the optimizer; ``fo.ema_params``
    keeps such an average inside the optimizer state.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.incremental_update({"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 0.1)
      {'w': Array([0.1], dtype=float32)}

    Same as ``optax.incremental_update``.

    Reference: Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", SIAM J. Control
    Optim. 1992.
    """
    return jax.tree.map(
        lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
        new_tensors,
        old_tensors,
        is_leaf=lambda x: x is None,
    )


def periodic_update(new_tensors: Any, old_tensors: Any, steps: Any, update_period: Any) -> Any:
    r"""A slow copy refreshed every ``update_period`` steps.

    Returns ``new_tensors`` when ``steps % update_period == 0``, else ``old_tensors``.

    ``steps`` and ``update_period`` are integers (arrays or tracers work:
    the choice is a ``lax.cond``). The target network of DQN and BYOL.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> fo.periodic_update(jnp.array([1.0]), jnp.array([0.0]), steps=4, update_period=2)
      Array([1.], dtype=float32)

    Same as ``optax.periodic_update``.

    References: Mnih et al., "Human-level control through deep reinforcement learning", Nature 2015;
    Grill et al., "Bootstrap your own latent", NeurIPS 2020.
    """
    return lax.cond(jnp.mod(steps, update_period) == 0, lambda: new_tensors, lambda: old_tensors)


def _normalized(v: Any) -> Any:
    return tree_scale(1.0 / tree_norm(v), v)


def power_iteration(
    matrix: Any,
    *,
    v0: Any = None,
    num_iters: Any = 100,
    error_tolerance: Any = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: Any = None,
) -> tuple[Any, Any]:
    r"""The dominant eigenpair :math:`(\lambda, v)` of a matrix (or of a linear map on pytrees) by power iteration.

    Iterates :math:`v \leftarrow Av / \|Av\|`, :math:`\lambda = \langle v, Av\rangle`
    until the relative residual :math:`\|Av - \lambda v\| / |\lambda|` drops
    below ``error_tolerance`` or ``num_iters`` iterations ran (a
    ``lax.while_loop``, so it jits).

    Args:
      matrix: a square ``(n, n)`` array, or a function ``v -> A v`` on
        pytrees (then ``v0`` is required and has its input's structure).
      v0: the starting vector; default for an array: uniform in
        :math:`[-1, 1]^n` drawn with ``key`` (default ``jax.random.PRNGKey(0)``).
      num_iters: the iteration cap.
      error_tolerance: the relative-residual stopping threshold.
      precision: the matmul precision for an array ``matrix``.
      key: the key for the default ``v0``.

    Returns:
      ``(eigenvalue, eigenvector)``, the eigenvector normalized to unit norm.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> lam, v = fo.power_iteration(jnp.array([[2.0, 0.0], [0.0, 1.0]]))
      >>> print(round(float(lam), 4))
      2.0

    Same as ``optax.power_iteration`` (returns ``(eigenvalue, eigenvector)``).

    Reference: Golub & Van Loan, "Matrix Computations", 4th ed., section 8.2.1.
    """
    if callable(matrix):
        if v0 is None:
            raise ValueError("power_iteration: v0 must be given when matrix is a function")
        mvp = matrix
    else:
        matrix = jnp.asarray(matrix)

        def mvp(v):
            return jnp.matmul(matrix, v, precision=precision)

        if v0 is None:
            k = jax.random.PRNGKey(0) if key is None else key
            v0 = jax.random.uniform(k, matrix.shape[-1:], matrix.dtype, minval=-1.0, maxval=1.0)

    def keep_going(carry):
        v, av, lam, i = carry
        residual = tree_norm(tree_add_scale(av, -lam, v))
        return (jnp.abs(residual / lam) >= error_tolerance) & (i < num_iters)

    def step(carry):
        _, av, _, i = carry
        v = _normalized(av)
        av = mvp(v)
        return v, av, tree_vdot(v, av), i + 1

    v = _normalized(v0)
    carry = (v, mvp(v), jnp.asarray(0.0), jnp.asarray(0))
    _, av, lam, _ = lax.while_loop(keep_going, step, carry)
    return lam, _normalized(av)


def matrix_inverse_pth_root(
    matrix: Any,
    p: Any,
    num_iters: Any = 100,
    ridge_epsilon: Any = 1e-6,
    error_tolerance: Any = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.Array]:
    r"""The inverse :math:`p`-th root :math:`(A + \epsilon\,\lambda_{\max} I)^{-1/p}` of a symmetric PSD matrix.

    ``ridge_epsilon`` :math:`\epsilon` is relative to the largest eigenvalue
    :math:`\lambda_{\max}` (floored at 1e-16), as in optax and Shampoo.

    Convention vs optax: optax runs coupled Newton iterations (Higham,
    eq. 7.18) for at most ``num_iters`` steps until
    :math:`\max|M_k - I| <` ``error_tolerance``; this computes the root
    exactly from a symmetric eigendecomposition (``jnp.linalg.eigh``), so
    ``num_iters`` and ``error_tolerance`` are accepted for compatibility and
    not needed. The returned error is the same diagnostic,
    :math:`\max|X^p (A + \epsilon\lambda_{\max} I) - I|` for the result
    :math:`X` (rounding-level here).

    Returns:
      ``(root, error)``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> root, err = fo.matrix_inverse_pth_root(jnp.diag(jnp.array([4.0, 16.0])), 2, ridge_epsilon=0.0)
      >>> jnp.round(jnp.diag(root), 4)
      Array([0.5 , 0.25], dtype=float32)

    Reference: Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018;
    Higham, "Functions of Matrices", SIAM 2008.
    """
    del num_iters, error_tolerance
    a = jnp.asarray(matrix)
    dt = jnp.promote_types(a.dtype, jnp.float32)
    a32 = a.astype(dt)
    n = a.shape[0]
    w, v = jnp.linalg.eigh(a32)
    ridge = ridge_epsilon * jnp.maximum(jnp.max(w), 1e-16)
    w = jnp.maximum(w + ridge, 0.0)
    root = jnp.matmul(v * (w ** (-1.0 / p))[None, :], v.T, precision=precision)
    damped = a32 + ridge * jnp.eye(n, dtype=dt)
    if isinstance(p, int) and p >= 1:  # X^p by repeated products
        root_p = root
        for _ in range(p - 1):
            root_p = jnp.matmul(root_p, root, precision=precision)
    else:
        root_p = jnp.matmul(v * (w**-1.0)[None, :], v.T, precision=precision)
    error = jnp.max(jnp.abs(jnp.matmul(root_p, damped, precision=precision) - jnp.eye(n, dtype=dt)))
    return root.astype(a.dtype), error


class MultiNormalDiagFromLogScale:
    r"""A normal distribution with diagonal covariance, parametrised by mean and log standard deviation.

    ``sample(shape, key)`` draws :math:`\mu + e^{s}\,z`, :math:`z \sim N(0, I)`,
    of shape ``(*shape, *param_shape)``; ``log_prob(x)`` sums the
    per-coordinate log densities over the parameter axes.
    """

    def __init__(self, loc: Any, log_scale: Any):
        self._log_scale = jnp.asarray(log_scale)
        self._scale = jnp.exp(self._log_scale)
        self._mean = jnp.asarray(loc)
        self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

    def sample(self, shape: Sequence[int], key: Any) -> jax.Array:
        z = jax.random.normal(key, (*tuple(shape), *self._param_shape))
        return self._mean + self._scale * z

    def log_prob(self, x: Any) -> jax.Array:
        z = (jnp.asarray(x) - self._mean) / self._scale
        per_coord = -0.5 * z**2 - self._log_scale - 0.5 * jnp.log(2 * jnp.pi)
        axes = tuple(range(-len(self._param_shape), 0))
        return jnp.sum(per_coord, axis=axes)

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> list[jax.Array]:
        return [self._mean, self._log_scale]


def multi_normal(loc: Any, log_scale: Any) -> MultiNormalDiagFromLogScale:
    r"""A diagonal normal :math:`N(\mu, \operatorname{diag}(e^{2s}))`, ``loc`` :math:`\mu`, ``log_scale`` :math:`s`.

    The returned object has ``sample(shape, key)``, ``log_prob(x)``,
    ``log_scale`` and ``params`` (``[loc, log_scale]``), as optax's (used
    for evolution-strategy style gradient estimates).

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> dist = fo.multi_normal(jnp.zeros(2), jnp.zeros(2))
      >>> dist.sample((5,), jax.random.key(0)).shape
      (5, 2)
      >>> print(round(float(dist.log_prob(jnp.zeros(2))), 4))
      -1.8379

    Same as ``optax.multi_normal``.
    """
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)


def nnls(A: Any, b: Any, iters: int, unroll: int | bool = 1, L: Any = None) -> jax.Array:  # noqa: N803
    r"""Non-negative least squares: :math:`\min_{x \ge 0} \|Ax - b\|_2`, by fast projected gradient.

    With :math:`Q = A^\top A`, :math:`q = A^\top b` and :math:`L` an upper
    bound on the spectral radius of :math:`Q` (default
    :math:`\min(\|Q\|_F, \|Q\|_1)`), runs ``iters`` steps of the
    accelerated projected gradient method (a ``lax.scan``):

    .. math::

        x_{k+1} = \max\!\big(0,\ p_k - (Q p_k - q)/L\big),\quad
        c_{k+1} = \tfrac{1 + \sqrt{1 + 4c_k^2}}{2},\quad
        p_{k+1} = x_{k+1} + \tfrac{c_k - 1}{c_{k+1}}(x_{k+1} - x_k),

    from :math:`x_0 = p_0 = 0`, :math:`c_0 = 0`. ``b`` may be a vector
    ``(M,)`` or a matrix ``(M, K)`` (K problems at once). ``unroll`` is
    passed to ``lax.scan``.

    Returns:
      ``x`` of shape ``(N,)`` or ``(N, K)``.

    Examples:
      >>> import jax.numpy as jnp, functional_opt as fo
      >>> x = fo.nnls(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([5.0, 6.0]), 1000)
      >>> print(f"{x[0]:.2f} {x[1]:.2f}")
      0.00 1.70

    Same as ``optax.nnls``.

    Reference: Polyak, "Projected gradient method for non-negative least square", Contemporary Mathematics 636, 2015.
    """
    A, b = jnp.asarray(A), jnp.asarray(b)  # noqa: N806
    if A.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(f"nnls: A must be (M, N) and b (M,) or (M, K); got {A.shape} and {b.shape}")
    Q = A.T @ A  # noqa: N806
    q = A.T @ b
    if L is None:
        L = jnp.minimum(jnp.linalg.norm(Q, "fro"), jnp.linalg.norm(Q, 1)) if Q.size else jnp.asarray(0.0)  # noqa: N806
    L = jnp.where(L == 0, 1.0, L)  # noqa: N806

    def step(carry, _):
        x, p, c = carry
        c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
        x_next = jnp.maximum(p - (Q @ p - q) / L, 0)
        p_next = x_next + (c - 1) / c_next * (x_next - x)
        return (x_next, p_next, c_next), None

    x0 = jnp.zeros((A.shape[1], *b.shape[1:]), b.dtype)
    (x, _, _), _ = lax.scan(step, (x0, x0, jnp.asarray(0.0, b.dtype)), length=iters, unroll=unroll)
    return x
