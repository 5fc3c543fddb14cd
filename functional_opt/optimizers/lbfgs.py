"""L-BFGS: the quasi-Newton direction, the descent sign, and a line search, as one ``chain``.

The update rule and its conventions live on the transforms
(:func:`functional_opt.scale_by_lbfgs`,
:func:`functional_opt.scale_by_zoom_linesearch`).
"""

from __future__ import annotations

from functional_opt._hparams import ScalarOrSchedule
from functional_opt.base import GradientTransformation, chain, check_transform, identity
from functional_opt.transforms.lbfgs import scale_by_lbfgs
from functional_opt.transforms.linesearch import scale_by_zoom_linesearch
from functional_opt.transforms.scaling import scale_by_learning_rate


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = scale_by_zoom_linesearch(  # noqa: B008 (optax's default)
        max_linesearch_steps=20, initial_guess_strategy="one"
    ),
) -> GradientTransformation:
    r"""L-BFGS with a strong Wolfe line search (for deterministic objectives).

    ``chain(scale_by_lbfgs(memory_size, scale_init_precond),
    scale_by_learning_rate(learning_rate or 1.0), linesearch)``: the
    quasi-Newton direction ``H_k g_k`` (:func:`scale_by_lbfgs`), negated
    (and scaled by ``learning_rate`` when given), then a step size found by
    ``linesearch`` along it, so ``w_{k+1} = w_k - eta_k H_k g_k``. The
    default line search is :func:`scale_by_zoom_linesearch` with
    ``max_linesearch_steps=20, initial_guess_strategy="one"`` (strong Wolfe,
    ``c1 = 1e-4``, ``c2 = 0.9``); ``linesearch=None`` takes the step
    ``learning_rate * H_k g_k`` as it is.

    ``update(grad, state, params, *, value, grad, value_fn, **extra_args)``
    as optax's: the line search needs the objective ``value_fn``, its value
    and gradient at ``params`` (``value=None``/``grad=None``: computed), and
    any extra keyword arguments of ``value_fn``. The loop, which evaluates
    the objective once per accepted point (the line search's last
    evaluation is reused)::

        value_and_grad = fo.value_and_grad_from_state(f)
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
        params = fo.apply_updates(params, updates)

    Conventions: optax's arguments, defaults and iterates. The sign flip is
    :func:`scale_by_learning_rate`'s (with ``learning_rate=None`` it is
    ``scale_by_learning_rate(1.0)``, where optax multiplies by minus one; the
    state then holds its step count). Compared with scipy's
    ``minimize(method="L-BFGS-B")``: the same two-loop direction and
    ``gamma_k`` and the same Wolfe constants, but scipy's line search is
    More & Thuente's (dcsrch), its first step is ``1/||g_0||`` (here
    ``min(1, 1/||g_0||)``), and its memory defaults to 10 (``maxcor``) as
    here; iterates differ after the first few steps, convergence rates
    match.

    Args:
        learning_rate: ``None`` (the line search alone sets the step), or a
            number ``>= 0``, an array or a schedule scaling the direction
            before the line search.
        memory_size: int ``>= 1``, see :func:`scale_by_lbfgs`.
        scale_init_precond: see :func:`scale_by_lbfgs`.
        linesearch: a line search transform
            (:func:`scale_by_zoom_linesearch`,
            :func:`scale_by_backtracking_linesearch`) or ``None``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> f = lambda w: jnp.sum((w - jnp.arange(3.0)) ** 2)
        >>> opt = fo.lbfgs()
        >>> w = jnp.zeros(3)
        >>> state = opt.init(w)
        >>> value_and_grad = fo.value_and_grad_from_state(f)
        >>> for _ in range(3):
        ...     value, grad = value_and_grad(w, state=state)
        ...     updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
        ...     w = fo.apply_updates(w, updates)
        >>> w.round(4)
        Array([0., 1., 2.], dtype=float32)

    References:
        Liu & Nocedal, "On the limited memory BFGS method for large scale
        optimization", Math. Programming 45, 1989. Nocedal & Wright,
        *Numerical Optimization*, 2nd ed., Springer 2006, Algorithms 7.4,
        7.5, 3.5 and 3.6. optax.lbfgs.
    """
    if linesearch is None:
        linesearch = identity()
    check_transform(linesearch, "linesearch")
    return chain(
        scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
        linesearch,
    )
