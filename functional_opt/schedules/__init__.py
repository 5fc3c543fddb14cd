"""Schedules: pure functions ``count -> value``; ``fo.schedules`` holds every schedule.

It mirrors ``optax.schedules`` (the same names and arguments where optax has
the schedule, ``inject_hyperparams`` included) and adds the schedules optax
lacks. As in optax, each name is also reachable at the top level
(``fo.cosine_decay_schedule``).

Every schedule maps an int32 step count (a scalar or an array of counts) to
a value of at least float32 precision. An optimizer passes its pre-increment
count, so the first update sees ``count = 0``. Counts up to ``2**31 - 1``
never overflow: step differences are formed in integer arithmetic.

Modules, by concept:

* :mod:`.basic`: constant, linear, polynomial, exponential, step and
  inverse-time decay; linear warmup then constant or exponential decay.
* :mod:`.piecewise`: piecewise constant, piecewise linear/cosine interpolation.
* :mod:`.cosine`: cosine decay, warmup-cosine, SGDR, cosine warm restarts.
* :mod:`.onecycle`: one-cycle learning rate (and its momentum cycle).
* :mod:`.cyclic`: cyclical (triangular) learning rates.
* :mod:`.warmup_stable_decay`: warmup-stable-decay (WSD).
* :mod:`.inverse_sqrt`: linear warmup then ``1 / sqrt(count)`` decay.
* :mod:`.combine`: ``join_schedules``, ``multiply_schedules``.

AdEMAMix's warmups of ``alpha`` and ``b3`` live with their optimizer, and
``inject_hyperparams`` (with its stateful schedules) with the wrappers; they
are listed here too.
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.base import Schedule as Schedule
from functional_opt.schedules.basic import (
    constant_schedule as constant_schedule,
)
from functional_opt.schedules.basic import (
    exponential_decay as exponential_decay,
)
from functional_opt.schedules.basic import (
    inverse_time_decay as inverse_time_decay,
)
from functional_opt.schedules.basic import (
    linear_schedule as linear_schedule,
)
from functional_opt.schedules.basic import (
    polynomial_schedule as polynomial_schedule,
)
from functional_opt.schedules.basic import (
    step_decay_schedule as step_decay_schedule,
)
from functional_opt.schedules.basic import (
    warmup_constant_schedule as warmup_constant_schedule,
)
from functional_opt.schedules.basic import (
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)
from functional_opt.schedules.combine import (
    join_schedules as join_schedules,
)
from functional_opt.schedules.combine import (
    multiply_schedules as multiply_schedules,
)
from functional_opt.schedules.cosine import (
    cosine_decay_schedule as cosine_decay_schedule,
)
from functional_opt.schedules.cosine import (
    cosine_restarts_schedule as cosine_restarts_schedule,
)
from functional_opt.schedules.cosine import (
    sgdr_schedule as sgdr_schedule,
)
from functional_opt.schedules.cosine import (
    warmup_cosine_decay_schedule as warmup_cosine_decay_schedule,
)
from functional_opt.schedules.cyclic import cyclic_schedule as cyclic_schedule
from functional_opt.schedules.inverse_sqrt import inverse_sqrt_schedule as inverse_sqrt_schedule
from functional_opt.schedules.onecycle import (
    cosine_onecycle_schedule as cosine_onecycle_schedule,
)
from functional_opt.schedules.onecycle import (
    linear_onecycle_schedule as linear_onecycle_schedule,
)
from functional_opt.schedules.onecycle import (
    onecycle_schedules as onecycle_schedules,
)
from functional_opt.schedules.piecewise import (
    piecewise_constant_schedule as piecewise_constant_schedule,
)
from functional_opt.schedules.piecewise import (
    piecewise_interpolate_schedule as piecewise_interpolate_schedule,
)
from functional_opt.schedules.warmup_stable_decay import (
    warmup_stable_decay_schedule as warmup_stable_decay_schedule,
)
from functional_opt.transforms.ademamix import (
    ademamix_alpha_schedule as ademamix_alpha_schedule,
)
from functional_opt.transforms.ademamix import (
    ademamix_b3_schedule as ademamix_b3_schedule,
)
from functional_opt.wrappers.hyperparams import (
    InjectHyperparamsState as InjectHyperparamsState,
)
from functional_opt.wrappers.hyperparams import (
    InjectStatefulHyperparamsState as InjectStatefulHyperparamsState,
)
from functional_opt.wrappers.hyperparams import (
    StatefulSchedule as StatefulSchedule,
)
from functional_opt.wrappers.hyperparams import (
    WrappedSchedule as WrappedSchedule,
)
from functional_opt.wrappers.hyperparams import (
    inject_hyperparams as inject_hyperparams,
)
from functional_opt.wrappers.hyperparams import (
    inject_stateful_hyperparams as inject_stateful_hyperparams,
)

__all__ = _public_names(globals())
