"""Cosine schedules: cosine decay, warmup-cosine, SGDR, cosine warm restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import INT32_MAX, check_int
from functional_opt.schedules._steps import as_float, check_steps, check_value, is_int, steps_in
from functional_opt.schedules.basic import linear_schedule
from functional_opt.schedules.combine import join_schedules


def _check_length(name: str, value, *, low: int) -> None:
    """A schedule length: a Python int ``>= low`` of any size (the decay may outlast the int32 count), or an array."""
    if hasattr(value, "dtype") and not isinstance(value, np.generic):
        return
    check_int(name, value, low=low)


def _half_cosine(t, period):
    if is_int(period):  # a Python int may exceed int32: divide by a float
        period = float(period)
    return 0.5 * (1 + jnp.cos(jnp.pi * (t / period)))


def cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0) -> Callable:
    """Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps``.

    Rule, with ``I = init_value``, ``T = decay_steps``, ``p = exponent``::

        c = (1 + cos(pi * min(count, T) / T)) / 2
        value = I * ((1 - alpha) * c ** p + alpha)

    Conventions: optax's. Equal to torch's ``CosineAnnealingLR(T_max=T,
    eta_min=alpha * I)`` for ``count <= T`` (torch keeps following the cosine
    back up after ``T``; here the value stays at ``alpha * I``).

    Args:
        init_value: number or array.
        decay_steps: int ``T >= 1``; may exceed ``2**31 - 1`` (the schedule
            then stops where the int32 count saturates, as optax's).
        alpha: the final multiplier (number or array, ``>= 0``).
        exponent: ``p >= 0``, sharpens (``> 1``) or flattens the decay.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.cosine_decay_schedule(1.0, decay_steps=10, alpha=0.1)
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 50)]
        [1.0, 0.55, 0.1, 0.1]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017; ``optax.cosine_decay_schedule``.
    """
    check_value("init_value", init_value)
    _check_length("decay_steps", decay_steps, low=1)
    check_value("alpha", alpha, low=0.0)
    check_value("exponent", exponent, low=0.0)

    def schedule(count):
        c = _half_cosine(steps_in(count, 0, decay_steps), decay_steps)
        return init_value * ((1 - alpha) * c ** as_float(exponent) + alpha)

    return schedule


def warmup_cosine_decay_schedule(
    init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0
) -> Callable:
    """Linear warmup to ``peak_value``, then cosine decay to ``end_value``.

    Rule, with ``W = warmup_steps`` and ``T = decay_steps`` (the *total*
    length, warmup included)::

        value = I + (P - I) * count / W                           for count < W
        value = E + (P - E) * c ** p,  c = (1 + cos(pi * min(count - W, T - W) / (T - W))) / 2

    Conventions: optax's (``decay_steps`` includes the warmup, the peak is
    reached at ``count == W``). Written without ``end_value / peak_value``, so
    ``peak_value`` may be a traced array; ``peak_value == 0`` gives 0 after
    the warmup whatever ``end_value``, as optax (whose ``end_value /
    peak_value`` it replaces by 0).

    Args:
        init_value, peak_value, end_value: numbers or arrays.
        warmup_steps: int ``W >= 0``.
        decay_steps: int ``T > W``.
        exponent: ``p >= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=30)
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 20, 30, 99)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD", 2017 (warmup);
        Loshchilov & Hutter, ICLR 2017 (cosine); ``optax.warmup_cosine_decay_schedule``.
    """
    for name, v in (("init_value", init_value), ("peak_value", peak_value), ("end_value", end_value)):
        check_value(name, v)
    check_value("exponent", exponent, low=0.0)
    check_steps("warmup_steps", warmup_steps, low=0)
    _check_length("decay_steps", decay_steps, low=1)
    if is_int(warmup_steps) and is_int(decay_steps) and decay_steps <= warmup_steps:
        raise ValueError(f"decay_steps (the total length) must be > warmup_steps={warmup_steps}, got {decay_steps}")
    cosine_steps = decay_steps - warmup_steps

    def cosine(count):
        c = _half_cosine(steps_in(count, 0, cosine_steps), cosine_steps)
        value = end_value + (peak_value - end_value) * c ** as_float(exponent)
        if isinstance(peak_value, (int, float)):
            return value * 0 if peak_value == 0 else value
        return jnp.where(jnp.asarray(peak_value) == 0, 0.0, value)

    if is_int(warmup_steps) and warmup_steps == 0:
        return cosine
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), cosine], [warmup_steps])


def sgdr_schedule(cosine_kwargs: Iterable[dict]) -> Callable:
    """SGD with warm restarts, one explicitly listed cycle per dict.

    Rule: ``join_schedules([warmup_cosine_decay_schedule(**kw_i)], ...)`` with
    the cycles back to back: cycle ``i`` starts at the sum of the previous
    ``decay_steps``. For restarts with a geometric period and no list, see
    :func:`cosine_restarts_schedule`.

    Args:
        cosine_kwargs: a non-empty iterable of dicts of
            :func:`warmup_cosine_decay_schedule` arguments.

    Examples:
        >>> import functional_opt as fo
        >>> kw = dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=10)
        >>> s = fo.sgdr_schedule([kw, kw])
        >>> [round(float(s(c)), 4) for c in (0, 5, 9, 10, 15)]
        [1.0, 0.5, 0.0245, 1.0, 0.5]

    References:
        Loshchilov & Hutter, ICLR 2017; ``optax.sgdr_schedule``.
    """
    cosine_kwargs = list(cosine_kwargs)
    if not cosine_kwargs:
        raise ValueError("sgdr_schedule needs at least one cycle, got an empty cosine_kwargs")
    schedules, boundaries, step = [], [], 0
    for kw in cosine_kwargs:
        schedules.append(warmup_cosine_decay_schedule(**kw))
        step += kw["decay_steps"]
        boundaries.append(step)
    return join_schedules(schedules, boundaries[:-1])


def _cycle_table(decay_steps: int, t_mult: float):
    """Starts and lengths of the cycles ``T_0 * t_mult**k`` that begin before ``2**31``."""
    starts: list[float] = []
    periods: list[float] = []
    s, p = 0.0, float(decay_steps)
    while s <= INT32_MAX and len(starts) < 4096:
        starts.append(s)
        periods.append(p)
        s, p = s + p, p * t_mult
    if s <= INT32_MAX:
        return None
    return np.asarray(starts), np.asarray(periods)


def cosine_restarts_schedule(init_value, decay_steps, t_mult=1, alpha=0.0, m_mult=1.0) -> Callable:
    """Cosine annealing with warm restarts, cycle ``k`` lasting ``decay_steps * t_mult**k``.

    Rule, with ``T_0 = decay_steps``, cycle ``k`` starting at
    ``S_k = T_0 (t_mult**k - 1) / (t_mult - 1)`` (``k T_0`` when ``t_mult = 1``)
    and ``tau = count - S_k`` the steps into it::

        value = I * ((1 - alpha) * m_mult**k * (1 + cos(pi * tau / (T_0 t_mult**k))) / 2 + alpha)

    Conventions: with ``m_mult = 1`` this is torch's
    ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min=alpha * I)``; with
    ``m_mult < 1`` each restart's peak shrinks, as Keras'
    ``CosineDecayRestarts``. No list of cycles is needed (contrast
    :func:`sgdr_schedule`). The cycle index is computed exactly for integer
    counts from a table of cycle starts when ``t_mult`` is a number (torch
    requires an integer; any real ``>= 1`` works here), in float32 when it is
    an array.

    Args:
        init_value: number or array.
        decay_steps: int ``T_0 >= 1``, the first period.
        t_mult: period multiplier ``>= 1`` (number or array).
        alpha: floor multiplier ``>= 0``.
        m_mult: peak multiplier per restart, ``>= 0``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.cosine_restarts_schedule(1.0, decay_steps=10, t_mult=2)
        >>> [round(float(s(c)), 4) for c in (0, 5, 10, 20, 30, 70)]
        [1.0, 0.5, 1.0, 0.5, 1.0, 1.0]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017; ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``.
    """
    check_value("init_value", init_value)
    check_steps("decay_steps", decay_steps, low=1)
    check_value("t_mult", t_mult, low=1.0)
    check_value("alpha", alpha, low=0.0)
    check_value("m_mult", m_mult, low=0.0)
    table = None
    if is_int(decay_steps) and not hasattr(t_mult, "dtype") and t_mult != 1:
        table = _cycle_table(decay_steps, float(t_mult))
    integral = table is not None and np.all(table[0] == np.round(table[0]))

    def schedule(count):
        count = jnp.maximum(jnp.asarray(count), 0)
        integer_count = jnp.issubdtype(count.dtype, jnp.integer)
        if is_int(decay_steps) and not hasattr(t_mult, "dtype") and t_mult == 1 and integer_count:
            k = count // decay_steps
            tau = as_float(count - k * decay_steps)
            period = jnp.asarray(float(decay_steps), jnp.float32)
            k = as_float(k)
        elif table is not None:
            starts, periods = table
            if integral and integer_count:
                int_starts = jnp.asarray(starts.astype(np.int64), count.dtype)
                idx = jnp.searchsorted(int_starts, count, side="right", method="compare_all") - 1
                tau = as_float(count - int_starts[idx])
            else:
                t = as_float(count)
                st = jnp.asarray(starts, t.dtype)
                idx = jnp.searchsorted(st, t, side="right", method="compare_all") - 1
                tau = t - st[idx]
            period = jnp.asarray(periods, jnp.float32)[idx]
            k = as_float(idx)
        else:
            t = as_float(count)
            m = as_float(t_mult)
            geometric = m > 1
            ms = jnp.where(geometric, m, 2.0)

            def start(k):
                return jnp.where(geometric, decay_steps * (ms**k - 1) / (ms - 1), decay_steps * k)

            k = jnp.where(
                geometric, jnp.floor(jnp.log1p(t / decay_steps * (ms - 1)) / jnp.log(ms)), jnp.floor(t / decay_steps)
            )
            k = jnp.where(start(k) > t, k - 1, k)
            k = jnp.where(start(k + 1) <= t, k + 1, k)
            tau = t - start(k)
            period = decay_steps * jnp.where(geometric, ms**k, 1.0)
        peak = jnp.power(as_float(m_mult), k)
        return init_value * ((1 - alpha) * peak * _half_cosine(tau, period) + alpha)

    return schedule
