"""ADOPT: Adam with the second moment taken before the current gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_moment_args, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScaleByAdoptState(NamedTuple):
    """State of :func:`scale_by_adopt`: the int32 count and the two moments."""

    count: Any
    mu: Any
    nu: Any


def default_clip(count):
    """ADOPT's default clip value ``count**0.25`` (the 0-based count, as the reference)."""
    return jnp.asarray(count, jnp.float32) ** 0.25


def scale_by_adopt(
    b1=0.9,
    b2=0.9999,
    eps=1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn=default_clip,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with ADOPT: normalize by the *previous* second moment.

    Update rule, ``c = count`` (0-based)::

        c == 0:  nu <- g**2;  u = 0                       (initialization step)
        c >= 1:  r   = clip(g / max(sqrt(nu), eps), -clip_value_fn(c), clip_value_fn(c))
                 mu <- b1 * mu + (1 - b1) * r
                 u   = mu        (nesterov: b1 * mu + (1 - b1) * r)
                 nu <- b2 * nu + (1 - b2) * g**2          (after it was used)

    Conventions: the same as the official implementation (iShohei220/adopt,
    clipped version of Nov. 2024, ``clip = step**0.25`` with the 0-based step)
    and ``optax.contrib.scale_by_adopt``; no bias correction; ``eps`` is a
    floor on ``sqrt(nu)``, not an addend. The first call only records ``g**2``
    and returns a zero update, exactly as the reference skips its first
    parameter update. For complex parameters ``g**2`` is ``|g|**2`` and the
    real and imaginary parts of ``r`` are clipped separately.

    Args:
        b1: momentum decay in ``[0, 1)`` (number, array or schedule).
        b2: second-moment decay in ``[0, 1)`` (number, array or schedule).
        eps: ``>= 0``, floor on ``sqrt(nu)``.
        mu_dtype: dtype of ``mu``; default the param dtype.
        nesterov: Nesterov look-ahead (as optax).
        use_clipping: clip the normalized gradient (the reference's default).
        clip_value_fn: ``count -> clip value`` (default ``count**0.25``).
        nu_dtype: dtype of ``nu``; default the param's real dtype. The update
            is computed in at least float32 whatever the stored dtypes.

    State: :class:`ScaleByAdoptState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_adopt()
        >>> s = t.init(jnp.zeros(2))
        >>> u, s = t.update(jnp.array([2.0, -1.0]), s)   # records nu only
        >>> u, s = t.update(jnp.array([2.0, -1.0]), s)
        >>> u.round(4)  # 0.1 * clip(g / |g|, 1)
        Array([ 0.1, -0.1], dtype=float32)

    References:
        Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any beta_2
        with the Optimal Rate", NeurIPS 2024 (arXiv:2411.02853).
    """
    mu_dtype, nu_dtype = check_moment_args(b1, b2, eps, mu_dtype, nu_dtype)
    if use_clipping and not callable(clip_value_fn):
        raise TypeError(f"clip_value_fn must be a callable count -> value, got {clip_value_fn!r}")

    def init(params):
        return ScaleByAdoptState(
            count=zero_count(), mu=_tree.zeros_like(params, mu_dtype), nu=_tree.real_dtype_zeros(params, nu_dtype)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        started = state.count > 0
        omb1 = jnp.where(started, k1.omb, 0.0)  # the first call keeps mu = 0 ...
        omb2 = jnp.where(started, k2.omb, 1.0)  # ... and sets nu = g**2
        eps_ = value_at(eps, None)
        clip = value_at(clip_value_fn, state.count) if use_clipping else None

        def clipped(r):  # a complex r has its real and imaginary parts clipped
            if jnp.iscomplexobj(r):
                return jax.lax.complex(clipped(r.real), clipped(r.imag))
            assert clip is not None
            return jnp.clip(r, -clip, clip)

        def leaf(g, mu, nu):
            r = g / jnp.maximum(jnp.sqrt(nu), eps_)
            if clip is not None:
                r = clipped(r)
            r = jnp.where(started, r, 0.0)
            mu = _tree.ema(mu, r, omb1)
            u = k1.beta * mu + omb1 * r if nesterov else mu
            nu = _tree.ema(nu, _tree.abs_sq(g), omb2)
            return u, mu, nu

        u, (mu, nu) = _tree.map_moments("scale_by_adopt", leaf, updates, mu=state.mu, nu=state.nu)
        return u, ScaleByAdoptState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
