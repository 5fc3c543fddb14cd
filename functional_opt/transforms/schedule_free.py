"""Schedule-free learning: interpolate between a base iterate ``z`` and its running average ``x``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_number, safe_increment, value_at, zero_count
from functional_opt.base import GradientTransformation


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free`, with ``optax.contrib.ScheduleFreeState``'s fields and values.

    ``b1`` the interpolation coefficient (kept so that
    :func:`schedule_free_eval_params` needs only the state); ``weight_sum``
    the sum of the averaging weights; ``step_count`` the int32 count of
    updates plus one (1 before the first update, as optax's; the step of the
    rule is ``k = step_count - 1``); ``max_lr`` the largest learning rate
    seen; ``base_optimizer_state`` the wrapped optimizer's state; ``z`` the
    base iterate, one array per param.
    """

    b1: Any
    weight_sum: Any
    step_count: Any
    max_lr: Any
    base_optimizer_state: Any
    z: Any


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate,
    b1=0.9,
    weight_lr_power=2.0,
    r=0.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Wrap an optimizer (without momentum) in schedule-free averaging.

    The params the model sees are ``y``; the base optimizer's updates move
    ``z``; ``x`` is the weighted average of the ``z`` iterates, the point to
    evaluate at. With ``k = step_count - 1`` (0 at the first update) and ``gamma_k =
    learning_rate(k)``::

        max_lr  <- max(max_lr, gamma_k)
        w_k      = (k + 1)**r * max_lr**weight_lr_power
        c        = w_k / sum_{i<=k} w_i                    (0 while the sum is 0)
        z_new    = z + base_update(g(y))                   (e.g. z - gamma_k * g for SGD)
        x_new    = (1 - c) * x + c * z_new
        y_new    = b1 * x_new + (1 - b1) * z_new

    Only ``y`` (the params) and ``z`` are stored: eliminating ``x`` gives the
    update ``y_new - y = c * (z - y) + (1 - b1 * (1 - c)) * base_update``, and
    :func:`schedule_free_eval_params` recovers ``x = (y - (1 - b1) z) / b1``.

    Conventions: ``learning_rate`` (a number, array or schedule) is used only
    for the averaging weights; the base optimizer must apply the same rate
    itself, and must not use momentum (``b1`` replaces it). Schedules see the
    pre-increment count ``k = 0, 1, ...`` (the reference's ``k``);
    ``optax.contrib.schedule_free`` evaluates its schedule at ``k + 1``, so a
    constant rate gives identical results and a schedule is shifted by one.

    Args:
        base_optimizer: the optimizer whose updates move ``z``.
        learning_rate: ``>= 0``: the base optimizer's rate (number, array or
            schedule), for the weights.
        b1: interpolation coefficient in ``(0, 1]`` (0.9 in the reference).
        weight_lr_power: ``>= 0``; weights ``max_lr**weight_lr_power``
            down-weight the warmup iterates (2 in the reference).
        r: ``>= 0``, polynomial weighting ``(k + 1)**r`` (0 in the reference).
        state_dtype: dtype of ``z``; default the param dtype.

    State: :class:`ScheduleFreeState`. Needs ``params`` (the current ``y``).

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.schedule_free(fo.sgd(0.5), learning_rate=0.5)
        >>> y = jnp.array([1.0]); s = opt.init(y)
        >>> u, s = opt.update(jnp.array([2.0]), s, y)
        >>> y = fo.apply_updates(y, u); y       # c = 1 at the first step: y = z = 1 - 0.5 * 2
        Array([0.], dtype=float32)
        >>> fo.schedule_free_eval_params(s, y)
        Array([0.], dtype=float32)

    References:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024;
        facebookresearch/schedule_free (reference implementation).
    """
    if not (hasattr(base_optimizer, "init") and hasattr(base_optimizer, "update")):
        raise TypeError(f"base_optimizer must be a GradientTransformation, got {base_optimizer!r}")
    check_number("learning_rate", learning_rate, low=0.0, allow_schedule=True)
    check_number("b1", b1, low=0.0, high=1.0, low_inclusive=False)
    check_number("weight_lr_power", weight_lr_power, low=0.0)
    check_number("r", r, low=0.0)
    state_dtype = check_dtype("state_dtype", state_dtype)

    def init(params):
        z = jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype or jnp.result_type(p), copy=True), params)
        return ScheduleFreeState(
            b1=value_at(b1, None, jnp.float32),
            weight_sum=jnp.zeros([], jnp.float32),
            step_count=safe_increment(zero_count()),
            max_lr=jnp.zeros([], jnp.float32),
            base_optimizer_state=base_optimizer.init(params),
            z=z,
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:  # before the base optimizer's own complaint
            raise ValueError("schedule_free needs params (the current y): call update(updates, state, params)")
        k = state.step_count - 1
        lr = value_at(learning_rate, k, jnp.float32)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = (k.astype(jnp.float32) + 1) ** value_at(r, None, jnp.float32) * max_lr ** value_at(
            weight_lr_power, None, jnp.float32
        )
        weight_sum = state.weight_sum + weight
        c = jnp.where(weight_sum > 0, weight / jnp.where(weight_sum > 0, weight_sum, 1.0), 0.0)
        coef = 1 - state.b1 * (1 - c)
        base_updates, base_state = base_optimizer.update(updates, state.base_optimizer_state, params, **extra_args)

        def leaf(delta, z, y):
            return c * (z - y) + coef * delta, z + delta

        u, (z,) = _tree.map_moments("schedule_free", leaf, base_updates, params=params, z=state.z)
        new_state = ScheduleFreeState(
            b1=state.b1,
            weight_sum=weight_sum,
            step_count=safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )
        return u, new_state

    return GradientTransformation(init, update)


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    """The evaluation point ``x = (y - (1 - b1) * z) / b1`` of a schedule-free state.

    Train (take gradients) at the params ``y``; evaluate (validation loss,
    checkpoints for inference) at ``x``. ``state`` is the optimizer state: a
    :class:`ScheduleFreeState` or any state containing exactly one (e.g. a
    ``chain`` around :func:`schedule_free`). Returned in the params' dtypes.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.schedule_free_sgd(0.1, b1=0.5)
        >>> y = jnp.array([1.0]); s = opt.init(y)
        >>> for _ in range(2):
        ...     u, s = opt.update(2 * y, s, y)   # gradient of y**2
        ...     y = fo.apply_updates(y, u)
        >>> x = fo.schedule_free_eval_params(s, y)
        >>> [round(float(v[0]), 4) for v in (y, x)]
        [0.68, 0.72]

    References:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024.
    """
    found = [
        s
        for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, ScheduleFreeState))
        if isinstance(s, ScheduleFreeState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"schedule_free_eval_params needs a state containing exactly one ScheduleFreeState, found {len(found)}"
        )
    sf = found[0]

    def leaf(y, z):
        return (y - (1 - sf.b1) * z) / sf.b1, z

    x, _ = _tree.map_moments("schedule_free_eval_params", leaf, params, z=sf.z)
    return x
