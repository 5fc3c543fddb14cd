"""One-cycle schedules (Smith's super-convergence policy) and the coupled momentum cycle."""

from __future__ import annotations

from collections.abc import Callable

from functional_opt.schedules._steps import check_steps, check_value, interpolate_segments


def _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor):
    check_steps("transition_steps", transition_steps, low=1)
    if hasattr(transition_steps, "dtype"):
        raise TypeError("transition_steps must be a Python int (it places the phase boundaries)")
    check_value("peak_value", peak_value)
    check_value("pct_start", pct_start, low=0.0, high=1.0)
    check_value("div_factor", div_factor, low=0.0, low_inclusive=False)
    check_value("final_div_factor", final_div_factor, low=0.0, low_inclusive=False)


def linear_onecycle_schedule(
    transition_steps, peak_value, pct_start=0.3, pct_final=0.85, div_factor=25.0, final_div_factor=1e4
) -> Callable:
    """Three linear phases: up to the peak, back down, then an annihilation phase.

    Rule, with ``T = transition_steps``, ``P = peak_value``, ``I = P / div_factor``,
    ``b_1 = int(pct_start T)``, ``b_2 = int(pct_final T)``::

        0   <= count < b_1:  I -> P                  (linear)
        b_1 <= count < b_2:  P -> I
        b_2 <= count < T:    I -> I / final_div_factor
        count >= T:          I / final_div_factor

    Conventions: optax's boundaries (``int(pct * T)``; the peak is reached at
    ``count == b_1``). torch's ``OneCycleLR(three_phase=True)`` instead puts the
    peak at ``pct_start * T - 1`` and mirrors the first phase.

    Args:
        transition_steps: int ``T >= 1``.
        peak_value: number or array.
        pct_start: fraction in ``[0, 1]`` spent rising.
        pct_final: fraction in ``[pct_start, 1]`` at which the descent ends.
        div_factor: ``> 0``; ``init = peak / div_factor``.
        final_div_factor: ``> 0``; ``final = init / final_div_factor``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.linear_onecycle_schedule(100, 1.0, div_factor=10.0, final_div_factor=10.0)
        >>> [round(float(s(c)), 4) for c in (0, 30, 85, 100)]
        [0.1, 1.0, 0.1, 0.01]

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks
        Using Large Learning Rates", 2017; ``optax.linear_onecycle_schedule``.
    """
    _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    check_value("pct_final", pct_final, low=float(pct_start), high=1.0)
    init = peak_value / div_factor
    bounds = [int(pct_start * transition_steps), int(pct_final * transition_steps), transition_steps]
    return interpolate_segments("linear", [init, peak_value, init, init / final_div_factor], bounds)


def cosine_onecycle_schedule(
    transition_steps, peak_value, pct_start=0.3, div_factor=25.0, final_div_factor=1e4
) -> Callable:
    """Half-cosine rise to ``peak_value``, then half-cosine annealing to a tiny value.

    Rule, with ``T = transition_steps``, ``P = peak_value``, ``I = P / div_factor``,
    ``b = int(pct_start T)``, ``cos_interp(a, z, q) = z + (a - z)(1 + cos(pi q)) / 2``::

        0 <= count < b:   cos_interp(I, P, count / b)
        b <= count < T:   cos_interp(P, I / final_div_factor, (count - b) / (T - b))
        count >= T:       I / final_div_factor

    Conventions: optax's boundaries. torch's ``OneCycleLR`` (cos) reaches the
    peak at ``pct_start * total_steps - 1`` and the end at ``total_steps - 1``;
    it equals this schedule for ``total_steps = T + 1`` and
    ``pct_start_torch = (b + 1) / (T + 1)``.

    Args:
        transition_steps: int ``T >= 1``.
        peak_value: number or array.
        pct_start: fraction in ``[0, 1]`` spent rising.
        div_factor: ``> 0``; ``init = peak / div_factor``.
        final_div_factor: ``> 0``; ``final = init / final_div_factor``.

    Examples:
        >>> import functional_opt as fo
        >>> s = fo.cosine_onecycle_schedule(100, 1.0, div_factor=10.0, final_div_factor=10.0)
        >>> [round(float(s(c)), 4) for c in (0, 15, 30, 100)]
        [0.1, 0.55, 1.0, 0.01]

    References:
        Smith & Topin, 2017; ``optax.cosine_onecycle_schedule``;
        ``torch.optim.lr_scheduler.OneCycleLR``.
    """
    _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    init = peak_value / div_factor
    bounds = [int(pct_start * transition_steps), transition_steps]
    return interpolate_segments("cosine", [init, peak_value, init / final_div_factor], bounds)


def onecycle_schedules(
    transition_steps,
    peak_value,
    pct_start=0.3,
    div_factor=25.0,
    final_div_factor=1e4,
    base_momentum=0.85,
    max_momentum=0.95,
    interpolate_type="cosine",
):
    """One-cycle learning rate *and* the coupled inverse momentum cycle.

    Returns ``(learning_rate, momentum)``, two schedules sharing the boundary
    ``b = int(pct_start T)``: while the learning rate rises ``I -> P`` the
    momentum falls ``max_momentum -> base_momentum``; while the rate anneals
    ``P -> I / final_div_factor`` the momentum climbs back to ``max_momentum``
    (both by ``interpolate_type``: ``'cosine'`` as :func:`cosine_onecycle_schedule`,
    or ``'linear'``, torch's ``anneal_strategy='linear'``). Feed them to
    ``sgd(learning_rate, momentum=momentum)`` or to Adam's ``b1``.

    Conventions: as :func:`cosine_onecycle_schedule`; torch's ``OneCycleLR``
    (``cycle_momentum=True``) gives the same pair for ``total_steps = T + 1``
    and ``pct_start_torch = (b + 1) / (T + 1)``.

    Args:
        transition_steps, peak_value, pct_start, div_factor, final_div_factor:
            as in :func:`cosine_onecycle_schedule`.
        base_momentum: momentum at the learning-rate peak, in ``[0, 1]``.
        max_momentum: momentum at both ends, in ``[0, 1]``.
        interpolate_type: ``'cosine'`` or ``'linear'``.

    Examples:
        >>> import functional_opt as fo
        >>> lr, mom = fo.onecycle_schedules(100, 1.0)
        >>> [(round(float(lr(c)), 3), round(float(mom(c)), 3)) for c in (0, 30, 100)]
        [(0.04, 0.95), (1.0, 0.85), (0.0, 0.95)]

    References:
        Smith, "A disciplined approach to neural network hyper-parameters:
        Part 1", 2018 (cyclical momentum); ``torch.optim.lr_scheduler.OneCycleLR``.
    """
    _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    check_value("base_momentum", base_momentum, low=0.0, high=1.0)
    check_value("max_momentum", max_momentum, low=0.0, high=1.0)
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError(f"interpolate_type must be 'linear' or 'cosine', got {interpolate_type!r}")
    init = peak_value / div_factor
    bounds = [int(pct_start * transition_steps), transition_steps]
    learning_rate = interpolate_segments(interpolate_type, [init, peak_value, init / final_div_factor], bounds)
    momentum = interpolate_segments(interpolate_type, [max_momentum, base_momentum, max_momentum], bounds)
    return learning_rate, momentum
