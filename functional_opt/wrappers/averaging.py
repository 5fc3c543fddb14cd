"""Parameter averaging: an EMA of the parameters, and Lookahead's slow weights."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_opt import _tree
from functional_opt._hparams import check_dtype, check_int, check_number, safe_increment, value_at, zero_count
from functional_opt.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    apply_updates,
    check_transform,
    with_extra_args_support,
)
from functional_opt.wrappers.naming import find_states


def _need_params(params, who):
    if params is None:
        raise ValueError(f"{who} needs params: call update(updates, state, params)")


def _only(states, who):
    if not states:
        raise ValueError(f"this optimizer state holds no {who} state")
    if len(states) > 1:
        raise ValueError(f"this optimizer state holds {len(states)} {who} states; pass the one you mean")
    return states[0]


class EmaParamsState(NamedTuple):
    """State of :func:`ema_params`: the int32 count and the averaged parameters."""

    count: Any
    ema: Any


def ema_params(decay, ema_dtype: Any = None) -> GradientTransformation:
    """Keep an exponential moving average of the parameters (Polyak averaging) in the state.

    Put it **last** in a chain: it passes the updates through unchanged and
    averages the parameters they produce, ``p_new = p + u``::

        ema <- decay * ema + (1 - decay) * (p + u)

    The average starts at the initial parameters (so no bias correction is
    needed). Read it with :func:`get_ema_params` and evaluate the model on
    it. A ``decay`` schedule sees the pre-increment count; a common warm-up
    is ``lambda t: jnp.minimum(0.999, (1 + t) / (10 + t))``.

    Args:
        decay: in ``[0, 1]`` (number, array or schedule).
        ema_dtype: dtype of the average; default the param dtype (use
            ``jnp.float32`` for bf16 models, where ``1 - decay`` is tiny).

    State: :class:`EmaParamsState` ``(count, ema)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.chain(fo.sgd(1.0), fo.ema_params(0.5))
        >>> p = jnp.zeros(1); s = opt.init(p)
        >>> u, s = opt.update(jnp.array([-2.0]), s, p)
        >>> fo.get_ema_params(s)  # 0.5 * 0 + 0.5 * 2
        Array([1.], dtype=float32)

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by
        Averaging", SIAM J. Control Optim. 1992.
    """
    check_number("decay", decay, low=0.0, high=1.0, allow_schedule=True)
    ema_dtype = check_dtype("ema_dtype", ema_dtype)

    def init(params):
        return EmaParamsState(
            count=zero_count(),
            # a copy, never an alias of the params: donating params must not delete the state
            ema=jax.tree.map(lambda p: jnp.array(p, dtype=ema_dtype or jnp.result_type(p), copy=True), params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _need_params(params, "ema_params")
        k = _tree.decay_scalars(decay, state.count)
        new_params = apply_updates(params, updates)  # in the params' dtypes, as the caller will get them

        def leaf(p, m):
            return None, _tree.ema(m, p, k.omb)

        _, (ema,) = _tree.map_moments("ema_params", leaf, new_params, ema=state.ema)
        return updates, EmaParamsState(count=safe_increment(state.count), ema=ema)

    return GradientTransformation(init, update)


def get_ema_params(state: Any) -> Any:
    """The averaged parameters of the (single) :func:`ema_params` inside ``state``."""
    return _only(find_states(state, EmaParamsState), "ema_params").ema


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`.

    ``count``: steps since the last synchronisation (int32, in ``[0, k)``);
    ``slow``: the slow parameters (``None`` when the params are a
    :class:`LookaheadParams`, which carries them); ``fast_state``: the fast
    optimizer's state.
    """

    count: Any
    slow: Any
    fast_state: Any


class LookaheadParams(NamedTuple):
    """optax's params wrapper for :func:`lookahead`: the fast and the slow parameters side by side.

    Compute gradients with ``params.fast``, evaluate with ``params.slow``.
    :func:`lookahead` also works on plain params (the slow weights then live
    in its state); this type is for code written for optax.
    """

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params: Any) -> LookaheadParams:
        """Fast and slow parameters both equal to ``params``."""
        return cls(fast=params, slow=params)


def lookahead(
    fast_optimizer: GradientTransformation, sync_period: int, slow_step_size, reset_state: bool = False
) -> GradientTransformation:
    """Lookahead: ``k`` fast steps forward, then one step of the slow weights towards them.

    Works on plain params: the params you train are the fast weights, and
    the slow weights live in the state (read them with
    :func:`lookahead_slow_params`; evaluate the model on them). Update rule,
    with ``k = sync_period``, ``alpha = slow_step_size``::

        u, fast_state <- fast_optimizer.update(g, fast_state, params)
        if (count + 1) % k == 0:                  (synchronise)
            slow <- slow + alpha * (params + u - slow)
            u <- slow - params                    (the fast weights restart from slow)
        count <- (count + 1) % k

    Conventions: the same trajectory as optax's ``lookahead``, which needs a
    :class:`LookaheadParams` ``(fast, slow)`` params wrapper instead. Given
    a :class:`LookaheadParams` (to ``init`` and ``update``, with gradients
    of ``params.fast``), this one behaves as optax's: the slow weights are
    read from ``params.slow`` and the updates are a :class:`LookaheadParams`
    for both (the state's ``slow`` is then ``None``). The state type differs
    from optax's ``(fast_state, steps_since_sync)``. With ``reset_state``
    the fast optimizer's state is re-initialised at each synchronisation.

    Args:
        fast_optimizer: the inner ("fast") optimizer.
        sync_period: ``k``, an int ``>= 1``.
        slow_step_size: ``alpha`` in ``[0, 1]`` (number or array).
        reset_state: re-initialise the fast state after synchronising.

    State: :class:`LookaheadState` ``(count, slow, fast_state)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> opt = fo.lookahead(fo.sgd(1.0), sync_period=2, slow_step_size=0.5)
        >>> p = jnp.zeros(1); s = opt.init(p)
        >>> for _ in range(2):
        ...     u, s = opt.update(jnp.array([-1.0]), s, p)
        ...     p = fo.apply_updates(p, u)
        >>> p, fo.lookahead_slow_params(s)  # fast reached 2, slow moved halfway
        (Array([1.], dtype=float32), Array([1.], dtype=float32))

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1
        step back", NeurIPS 2019.
    """
    check_transform(fast_optimizer, "fast_optimizer")
    check_int("sync_period", sync_period, low=1)
    check_number("slow_step_size", slow_step_size, low=0.0, high=1.0)
    fast = with_extra_args_support(fast_optimizer)

    def init(params):
        if isinstance(params, LookaheadParams):
            return LookaheadState(count=zero_count(), slow=None, fast_state=fast.init(params.fast))
        slow = jax.tree.map(lambda p: jnp.array(p, copy=True), params)  # a copy, never an alias
        return LookaheadState(count=zero_count(), slow=slow, fast_state=fast.init(params))

    def update(updates, state, params=None, **extra_args):
        _need_params(params, "lookahead")
        paired = isinstance(params, LookaheadParams)
        fast_params, slow = (params.fast, params.slow) if paired else (params, state.slow)
        u, fast_state = fast.update(updates, state.fast_state, fast_params, **extra_args)
        sync = state.count + 1 >= sync_period
        alpha = value_at(slow_step_size, None)

        def leaf(u, slow, p):
            slow_new = _tree.ema(slow, p + u, alpha)  # slow + alpha * (fast - slow)
            if paired:  # the slow weights' own update
                return jnp.where(sync, slow_new - p, u), jnp.where(sync, slow_new - slow, jnp.zeros_like(slow))
            return jnp.where(sync, slow_new - p, u), jnp.where(sync, slow_new, slow)

        new_u, (second,) = _tree.map_moments("lookahead", leaf, u, params=fast_params, slow=slow)
        if reset_state:
            fresh = fast.init(fast_params)
            fast_state = jax.tree.map(lambda cur, new: jnp.where(sync, new, cur), fast_state, fresh)
        count = jnp.where(sync, zero_count(), state.count + 1)
        if paired:
            return LookaheadParams(fast=new_u, slow=second), LookaheadState(count, None, fast_state)
        return new_u, LookaheadState(count=count, slow=second, fast_state=fast_state)

    return GradientTransformationExtraArgs(init, update)


def lookahead_slow_params(state: Any) -> Any:
    """The slow (evaluation) parameters of the (single) :func:`lookahead` inside ``state``.

    ``None`` when the params are a :class:`LookaheadParams` (then read ``params.slow``).
    """
    return _only(find_states(state, LookaheadState), "lookahead").slow
