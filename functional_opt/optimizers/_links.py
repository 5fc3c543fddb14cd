"""Private helper of the named optimizers: the chain links several of them build the same way."""

from __future__ import annotations

from typing import Any

from functional_opt._hparams import check_number
from functional_opt.base import GradientTransformation, chain, identity
from functional_opt.transforms.momentum import trace
from functional_opt.transforms.scaling import scale_by_learning_rate
from functional_opt.transforms.weight_decay import add_decayed_weights


def with_decoupled_decay(direction, learning_rate, weight_decay, mask) -> GradientTransformation:
    """``chain(direction, add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``.

    AdamW's construction: ``u = -eta * (direction + weight_decay * params)``,
    the decay decoupled from the direction and multiplied by the learning rate.
    """
    return chain(direction, add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))


def optional_trace(momentum, nesterov: bool, accumulator_dtype: Any = None) -> GradientTransformation:
    """``trace(momentum, nesterov, accumulator_dtype)``, or ``identity()`` when ``momentum`` is ``None``.

    A number is checked to lie in ``[0, 1]`` under the optimizer's name for it, ``momentum``.
    """
    if momentum is None:
        return identity()
    check_number("momentum", momentum, low=0.0, high=1.0, allow_schedule=True)
    return trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
