"""``fo.contrib`` mirrors ``optax.contrib``: the optimizers optax keeps there that this library implements.

``optax.contrib.muon`` is ``fo.contrib.muon``, ``optax.contrib.prodigy`` is
``fo.contrib.prodigy``, and so on. Here they are first-class: each is also at
the top level (``fo.muon``), which is where the rest of the library and its
documentation import them from. The arguments follow optax's names; where a
convention or the state differs, the object's docstring says so.
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.optimizers.adam_variants import ademamix as ademamix
from functional_opt.optimizers.adam_variants import adopt as adopt
from functional_opt.optimizers.lr_free import dadapt_adamw as dadapt_adamw
from functional_opt.optimizers.lr_free import prodigy as prodigy
from functional_opt.optimizers.muon import muon as muon
from functional_opt.optimizers.schedule_free import (
    schedule_free_adamw as schedule_free_adamw,
)
from functional_opt.optimizers.schedule_free import (
    schedule_free_sgd as schedule_free_sgd,
)
from functional_opt.optimizers.second_order import sophia as sophia
from functional_opt.sam import sam as sam
from functional_opt.transforms.ademamix import (
    ScaleByAdemamixState as ScaleByAdemamixState,
)
from functional_opt.transforms.ademamix import (
    scale_by_ademamix as scale_by_ademamix,
)
from functional_opt.transforms.adopt import scale_by_adopt as scale_by_adopt
from functional_opt.transforms.dadapt import DAdaptAdamWState as DAdaptAdamWState
from functional_opt.transforms.muon import MuonDimensionNumbers as MuonDimensionNumbers
from functional_opt.transforms.muon import scale_by_muon as scale_by_muon
from functional_opt.transforms.plateau import (
    ReduceLROnPlateauState as ReduceLROnPlateauState,
)
from functional_opt.transforms.plateau import (
    reduce_on_plateau as reduce_on_plateau,
)
from functional_opt.transforms.prodigy import ProdigyState as ProdigyState
from functional_opt.transforms.schedule_free import (
    ScheduleFreeState as ScheduleFreeState,
)
from functional_opt.transforms.schedule_free import (
    schedule_free as schedule_free,
)
from functional_opt.transforms.schedule_free import (
    schedule_free_eval_params as schedule_free_eval_params,
)

__all__ = _public_names(globals())
