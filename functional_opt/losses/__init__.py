"""Losses, one value per example (no reduction inside): ``fo.losses`` holds every loss.

It mirrors ``optax.losses`` (the same names, argument names and argument
orders): ``optax.losses.softmax_cross_entropy`` is
``fo.losses.softmax_cross_entropy``. As in optax, each loss is also reachable
at the top level (``fo.softmax_cross_entropy``). Reduce over the batch
yourself: ``jnp.mean(fo.losses.squared_error(p, t))`` is the mean squared
error.

Modules: :mod:`.regression` (squared error, L2, Huber, log-cosh, cosine
similarity and distance) and :mod:`.classification` (softmax and sigmoid
cross entropies, focal, hinge, Kullback-Leibler, label smoothing).
"""

from functional_opt._exports import public_names as _public_names
from functional_opt.losses.classification import (
    hinge_loss as hinge_loss,
)
from functional_opt.losses.classification import (
    kl_divergence as kl_divergence,
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

__all__ = _public_names(globals())
