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
from functional_opt.optimizers.contrib_extra import acprop as acprop
from functional_opt.optimizers.contrib_extra import cocob as cocob
from functional_opt.optimizers.contrib_extra import dog as dog
from functional_opt.optimizers.contrib_extra import dowg as dowg
from functional_opt.optimizers.contrib_extra import dpsgd as dpsgd
from functional_opt.optimizers.contrib_extra import madgrad as madgrad
from functional_opt.optimizers.contrib_extra import simplified_ademamix as simplified_ademamix
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
from functional_opt.sam import SAMState as SAMState
from functional_opt.sam import sam as sam
from functional_opt.transforms.acprop import scale_by_acprop as scale_by_acprop
from functional_opt.transforms.ademamix import (
    ScaleByAdemamixState as ScaleByAdemamixState,
)
from functional_opt.transforms.ademamix import (
    scale_by_ademamix as scale_by_ademamix,
)
from functional_opt.transforms.adopt import scale_by_adopt as scale_by_adopt
from functional_opt.transforms.cocob import COCOBState as COCOBState
from functional_opt.transforms.cocob import scale_by_cocob as scale_by_cocob
from functional_opt.transforms.complex_split import SplitRealAndImaginaryState as SplitRealAndImaginaryState
from functional_opt.transforms.complex_split import split_real_and_imaginary as split_real_and_imaginary
from functional_opt.transforms.dadapt import DAdaptAdamWState as DAdaptAdamWState
from functional_opt.transforms.dog import DoGState as DoGState
from functional_opt.transforms.dog import DoWGState as DoWGState
from functional_opt.transforms.galore import GaLoreDimensionNumbers as GaLoreDimensionNumbers
from functional_opt.transforms.galore import GaLoreState as GaLoreState
from functional_opt.transforms.galore import galore as galore
from functional_opt.transforms.galore import scale_by_galore as scale_by_galore
from functional_opt.transforms.hutchinson import HutchinsonState as HutchinsonState
from functional_opt.transforms.hutchinson import hutchinson_estimator_diag_hessian as hutchinson_estimator_diag_hessian
from functional_opt.transforms.madgrad import MadgradState as MadgradState
from functional_opt.transforms.madgrad import scale_by_madgrad as scale_by_madgrad
from functional_opt.transforms.mechanic import MechanicState as MechanicState
from functional_opt.transforms.mechanic import mechanize as mechanize
from functional_opt.transforms.momo import MomoAdamState as MomoAdamState
from functional_opt.transforms.momo import MomoState as MomoState
from functional_opt.transforms.momo import momo as momo
from functional_opt.transforms.momo import momo_adam as momo_adam
from functional_opt.transforms.muon import MuonDimensionNumbers as MuonDimensionNumbers
from functional_opt.transforms.muon import scale_by_muon as scale_by_muon
from functional_opt.transforms.normalize import NormalizeState as NormalizeState
from functional_opt.transforms.normalize import normalize as normalize
from functional_opt.transforms.plateau import (
    ReduceLROnPlateauState as ReduceLROnPlateauState,
)
from functional_opt.transforms.plateau import (
    reduce_on_plateau as reduce_on_plateau,
)
from functional_opt.transforms.privacy import DifferentiallyPrivateAggregateState as DifferentiallyPrivateAggregateState
from functional_opt.transforms.privacy import differentially_private_aggregate as differentially_private_aggregate
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
from functional_opt.transforms.simplified_ademamix import (
    ScaleBySimplifiedAdEMAMixState as ScaleBySimplifiedAdEMAMixState,
)
from functional_opt.transforms.simplified_ademamix import scale_by_simplified_ademamix as scale_by_simplified_ademamix

__all__ = _public_names(globals())
