"""Losses, one value per example (no reduction inside): ``fo.losses`` holds every loss.

It mirrors ``optax.losses`` (the same names, argument names and argument
orders): ``optax.losses.softmax_cross_entropy`` is
``fo.losses.softmax_cross_entropy``. As in optax, each loss is also reachable
at the top level (``fo.softmax_cross_entropy``). Reduce over the batch
yourself: ``jnp.mean(fo.losses.squared_error(p, t))`` is the mean squared
error.

Modules: :mod:`.regression` (squared error, L2, Huber, log-cosh, cosine
similarity and distance), :mod:`.classification` (softmax and sigmoid
cross entropies, poly-1, focal, hinge, Kullback-Leibler, label smoothing),
:mod:`.divergence` (KL with log targets, generalized KL), :mod:`.margin`
(perceptron, multiclass hinge), :mod:`.sparsemax` (sparsemax and
Fenchel-Young losses), :mod:`.ctc` (connectionist temporal
classification), :mod:`.segmentation` (Dice family), :mod:`.ranking`
(listwise softmax) and :mod:`.contrastive` (NT-Xent, triplet margin).
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.losses.classification import (
    hinge_loss as hinge_loss,
)
from functional_opt.losses.classification import (
    kl_divergence as kl_divergence,
)
from functional_opt.losses.classification import (
    poly_loss_cross_entropy as poly_loss_cross_entropy,
)
from functional_opt.losses.classification import (
    safe_softmax_cross_entropy as safe_softmax_cross_entropy,
)
from functional_opt.losses.classification import (
    sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy,
)
from functional_opt.losses.classification import (
    sigmoid_focal_loss as sigmoid_focal_loss,
)
from functional_opt.losses.classification import (
    smooth_labels as smooth_labels,
)
from functional_opt.losses.classification import (
    softmax_cross_entropy as softmax_cross_entropy,
)
from functional_opt.losses.classification import (
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)
from functional_opt.losses.contrastive import (
    ntxent as ntxent,
)
from functional_opt.losses.contrastive import (
    triplet_margin_loss as triplet_margin_loss,
)
from functional_opt.losses.ctc import (
    ctc_loss as ctc_loss,
)
from functional_opt.losses.ctc import (
    ctc_loss_with_forward_probs as ctc_loss_with_forward_probs,
)
from functional_opt.losses.divergence import (
    convex_kl_divergence as convex_kl_divergence,
)
from functional_opt.losses.divergence import (
    generalized_kl_divergence as generalized_kl_divergence,
)
from functional_opt.losses.divergence import (
    kl_divergence_with_log_targets as kl_divergence_with_log_targets,
)
from functional_opt.losses.margin import (
    multiclass_hinge_loss as multiclass_hinge_loss,
)
from functional_opt.losses.margin import (
    multiclass_perceptron_loss as multiclass_perceptron_loss,
)
from functional_opt.losses.margin import (
    perceptron_loss as perceptron_loss,
)
from functional_opt.losses.ranking import (
    ranking_softmax_loss as ranking_softmax_loss,
)
from functional_opt.losses.regression import (
    cosine_distance as cosine_distance,
)
from functional_opt.losses.regression import (
    cosine_similarity as cosine_similarity,
)
from functional_opt.losses.regression import (
    huber_loss as huber_loss,
)
from functional_opt.losses.regression import (
    l2_loss as l2_loss,
)
from functional_opt.losses.regression import (
    log_cosh as log_cosh,
)
from functional_opt.losses.regression import (
    squared_error as squared_error,
)
from functional_opt.losses.segmentation import (
    binary_dice_loss as binary_dice_loss,
)
from functional_opt.losses.segmentation import (
    dice_loss as dice_loss,
)
from functional_opt.losses.segmentation import (
    multiclass_generalized_dice_loss as multiclass_generalized_dice_loss,
)
from functional_opt.losses.sparsemax import (
    make_fenchel_young_loss as make_fenchel_young_loss,
)
from functional_opt.losses.sparsemax import (
    multiclass_sparsemax_loss as multiclass_sparsemax_loss,
)
from functional_opt.losses.sparsemax import (
    sparsemax_loss as sparsemax_loss,
)

__all__ = _public_names(globals())
