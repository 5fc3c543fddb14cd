"""NovoGrad: Adam-like scaling with one second moment per layer (leaf)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, concrete_scalar, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation
from functional_opt.flat import check_not_flat


class ScaleByNovogradState(NamedTuple):
    """State of :func:`scale_by_novograd`: count, ``mu`` per entry, ``nu`` one scalar per leaf."""

    count: Any
    mu: Any
    nu: Any


def scale_by_novograd(
    b1=0.9,
    b2=0.25,
    eps=1e-8,
    eps_root=0.0,
    weight_decay=0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Rescale updates with NovoGrad's layer-wise normalisation.

    Update rule per leaf (a leaf is a "layer"), ``||g||`` its Euclidean norm::

        nu <- ||g||**2                                 (first step)
        nu <- b2 * nu + (1 - b2) * ||g||**2            (later steps)
        mu <- b1 * mu + g / (sqrt(nu + eps_root) + eps) + weight_decay * params
        u = mu

    No bias correction and no ``1 - b1`` on the new term: this is the paper's
    Algorithm 1, and optax agrees (torch has no NovoGrad). ``weight_decay`` is
    inside the moment, as in the paper (it is then multiplied by the learning
    rate). Defaults follow optax's transform (``b2=0.25``); the paper's
    experiments tune ``b1`` and ``b2`` per task.

    Args:
        b1: momentum in ``[0, 1]`` (number or array).
        b2: decay of ``nu`` in ``[0, 1]`` (number or array).
        eps: ``>= 0``, outside the square root.
        eps_root: ``>= 0``, inside the square root.
        weight_decay: ``>= 0`` (number or array); needs ``params`` when not 0.
        mu_dtype: dtype of ``mu``; default the param dtype.

    State: :class:`ScaleByNovogradState` ``(count, mu, nu)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> t = fo.scale_by_novograd(eps=0.0)
        >>> u, s = t.update(jnp.array([3.0, 4.0]), t.init(jnp.zeros(2)))
        >>> u  # g / ||g||
        Array([0.6, 0.8], dtype=float32)

    References:
        Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive
        Moments for Training of Deep Networks", arXiv:1905.11286, 2019.
    """
    check_number("b1", b1, low=0.0, high=1.0)
    check_number("b2", b2, low=0.0, high=1.0)
    check_number("eps", eps, low=0.0)
    check_number("eps_root", eps_root, low=0.0)
    check_number("weight_decay", weight_decay, low=0.0)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)
    no_decay = concrete_scalar(weight_decay) == 0.0

    def init(params):
        check_not_flat(params, "scale_by_novograd")
        nu = jax.tree.map(lambda p: jnp.zeros([], jnp.finfo(jnp.result_type(p)).dtype), params)
        return ScaleByNovogradState(count=zero_count(), mu=_tree.zeros_like(params, mu_dtype), nu=nu)

    def update(updates, state, params=None, **extra_args):
        check_not_flat(updates, "scale_by_novograd")
        del extra_args
        _tree.check_same_shapes("scale_by_novograd", "updates", updates, "state.mu", state.mu)  # (nu: one per leaf)
        k1, k2 = _tree.decay_scalars(b1, state.count), _tree.decay_scalars(b2, state.count)
        omb2 = jnp.where(state.count == 0, 1.0, k2.omb)  # the first step takes nu = ||g||**2
        eps_, eps_root_, wd = value_at(eps, None), value_at(eps_root, None), value_at(weight_decay, None)

        def leaf(g, mu, nu, p=None):
            nu = _tree.ema(nu, jnp.sum(_tree.abs_sq(g)), omb2)
            mu = k1.beta * mu + g / (jnp.sqrt(nu + eps_root_) + eps_) + (0 if p is None else wd * p)
            return mu, mu, nu

        u, (mu, nu) = _tree.map_moments(
            "scale_by_novograd",
            leaf,
            updates,
            mu=state.mu,
            nu=state.nu,
            check_shapes=False,
            **({} if no_decay else {"params": params}),
        )
        return u, ScaleByNovogradState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init, update)
