r"""Differentiable approximations of non-differentiable functions by random perturbation: ``optax.perturbations``.

:func:`make_perturbed_fun` turns :math:`f` into the smoothed
:math:`f_\sigma(x) = \mathbb{E}_{z\sim\mu}\, f(x + \sigma z)`, estimated by
Monte Carlo, whose derivatives (of any order, through JAX autodiff) are
unbiased estimates of :math:`f_\sigma`'s. :class:`Gumbel` and
:class:`Normal` are the noise distributions :math:`\mu`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from functional_opt.tree_utils import tree_add_scale, tree_random_like, tree_scale, tree_sum

__all__ = ["Gumbel", "Normal", "make_perturbed_fun"]


class Normal:
    r"""The standard normal noise :math:`z \sim N(0, 1)`: ``sample`` draws, ``log_prob`` is :math:`-z^2/2` (+ const).

    Examples:
      >>> import jax, functional_opt as fo
      >>> fo.perturbations.Normal().sample(jax.random.key(0), (3,)).shape
      (3,)
    """

    def sample(self, key: Any, sample_shape: tuple[int, ...] = (), dtype: Any = float) -> jax.Array:
        return jax.random.normal(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        return -0.5 * inputs**2


class Gumbel:
    r"""The standard Gumbel noise: ``sample`` draws, ``log_prob`` is :math:`-z - e^{-z}`.

    Examples:
      >>> import jax, functional_opt as fo
      >>> fo.perturbations.Gumbel().sample(jax.random.key(0), (2, 2)).shape
      (2, 2)
    """

    def sample(self, key: Any, sample_shape: tuple[int, ...] = (), dtype: Any = float) -> jax.Array:
        return jax.random.gumbel(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        return -inputs - jnp.exp(-inputs)


def _magic_box(x: jax.Array) -> jax.Array:
    """1 in value, ``x``'s derivatives in gradient (DiCE): ``exp(x - stop_gradient(x))``."""
    return jnp.exp(x - jax.lax.stop_gradient(x))


def make_perturbed_fun(
    fun: Callable[[Any], Any],
    num_samples: int = 1000,
    sigma: Any = 0.1,
    noise: Any = Gumbel(),  # noqa: B008  (optax's default: a stateless distribution object)
    use_baseline: bool = True,
) -> Callable[[Any, Any], Any]:
    r"""A stochastic, differentiable stand-in ``g(key, x)`` for :math:`f_\sigma(x) = \mathbb{E}_z f(x + \sigma z)`.

    With :math:`y_s = x + \sigma z_s` (``num_samples`` draws from
    ``noise``, each leaf of ``x`` perturbed) the estimate is

    .. math::

        g(x) = \frac1S \sum_s \Big[ f(y_s)\, \square_s + (1 - \square_s)\, b \Big],\qquad
        \square_s = \exp\big(\ell_s - \bot(\ell_s)\big),\ \ell_s = \log\mu\big((y_s - x)/\sigma\big),

    where :math:`\bot` stops gradients and :math:`b = f(x)` is a baseline
    (``use_baseline``; 0 otherwise). Its value is the plain Monte-Carlo
    mean; its derivatives with respect to ``x`` are the score-function
    (REINFORCE) estimates, so ``f`` itself is only evaluated, never
    differentiated. ``fun`` maps a pytree to a pytree of arrays.

    Returns:
      ``g(key, x)`` with ``fun``'s output structure.

    Examples:
      >>> import jax, jax.numpy as jnp, functional_opt as fo
      >>> g = fo.perturbations.make_perturbed_fun(lambda x: jnp.sum(jnp.maximum(x, 0.0)), 2000, 0.1)
      >>> grad = jax.grad(g, argnums=1)(jax.random.key(0), jnp.zeros(3))
      >>> bool(jnp.all((grad > 0.4) & (grad < 0.9)))
      True

    Same as ``optax.perturbations.make_perturbed_fun`` (same draws for a given key).

    References: Berthet et al., "Learning with Differentiable Perturbed Optimizers", NeurIPS 2020;
    Foerster et al., "DiCE: The Infinitely Differentiable Monte Carlo Estimator", ICML 2018.
    """

    def estimate(key: Any, x: Any) -> Any:
        baseline = fun(jax.lax.stop_gradient(x)) if use_baseline else None

        def one_sample(k, x, baseline):
            z = tree_random_like(k, x, sampler=noise.sample)
            y = jax.lax.stop_gradient(jax.tree.map(lambda a, b: a + sigma * b, x, z))
            z = jax.tree.map(lambda a, b: (b - a) / sigma, x, y)  # = z in value, depends on x for the score
            box = _magic_box(tree_sum(jax.tree.map(noise.log_prob, z)))
            out = tree_scale(box, fun(y))
            return tree_add_scale(out, 1 - box, baseline) if use_baseline else out

        outs = jax.vmap(one_sample, in_axes=(0, None, None))(jax.random.split(key, num_samples), x, baseline)
        return jax.tree.map(lambda o: jnp.mean(o, axis=0), outs)

    return estimate
