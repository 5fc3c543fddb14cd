"""Cross-cutting rules every transform obeys, checked over all of them at once.

* A gradient whose shape differs from the state's raises a ``ValueError``
  naming the transform and the key path (it must never broadcast silently).
* The state has one structure whether a hyperparameter is a constant or a
  schedule, so a checkpoint restores across that change.
* The sign flip of descent lives only in ``scale_by_learning_rate``.
"""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.registry import REGISTRY

# every transform that keeps per-parameter state, with the arguments it needs
STATEFUL = {
    "trace": lambda: fo.trace(0.9),
    "ema": lambda: fo.ema(0.9),
    "scale_by_adam": lambda: fo.scale_by_adam(),
    "scale_by_adamax": lambda: fo.scale_by_adamax(),
    "scale_by_amsgrad": lambda: fo.scale_by_amsgrad(),
    "scale_by_radam": lambda: fo.scale_by_radam(),
    "scale_by_nadam": lambda: fo.scale_by_nadam(),
    "scale_by_belief": lambda: fo.scale_by_belief(),
    "scale_by_yogi": lambda: fo.scale_by_yogi(),
    "scale_by_adan": lambda: fo.scale_by_adan(),
    "scale_by_ademamix": lambda: fo.scale_by_ademamix(),
    "scale_by_adopt": lambda: fo.scale_by_adopt(),
    "scale_by_lion": lambda: fo.scale_by_lion(),
    "scale_by_adadelta": lambda: fo.scale_by_adadelta(),
    "scale_by_rss": lambda: fo.scale_by_rss(),
    "scale_by_rms": lambda: fo.scale_by_rms(),
    "scale_by_rms_centered": lambda: fo.scale_by_rms(centered=True),
    "scale_by_muon": lambda: fo.scale_by_muon(),
    "scale_by_sophia": lambda: fo.scale_by_sophia(),
    "scale_by_novograd": lambda: fo.scale_by_novograd(),
    "scale_by_rprop": lambda: fo.scale_by_rprop(0.1),
    "scale_by_prodigy": lambda: fo.scale_by_prodigy(),
    "scale_by_dadapt_adamw": lambda: fo.scale_by_dadapt_adamw(),
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_gradient_shaped_unlike_the_state_raises(name):
    tx = STATEFUL[name]()
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    with pytest.raises(ValueError, match=r"shape mismatch at key path \['w'\]"):
        tx.update({"w": jnp.ones(1)}, state, params)


def _abstract_state(opt, params):
    return jax.eval_shape(opt.init, params)


def _same_layout(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert (x.shape, x.dtype) == (y.shape, y.dtype)


PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_state_layout_is_the_same_for_constant_and_scheduled_learning_rate(name):
    make = REGISTRY[name].make
    _same_layout(_abstract_state(make(1e-2), PARAMS), _abstract_state(make(lambda count: 1e-2), PARAMS))


SCHEDULABLE = {
    "trace": lambda h: fo.trace(h),
    "ema": lambda h: fo.ema(h),
    "add_decayed_weights": lambda h: fo.add_decayed_weights(h),
    "scale_by_adam_b1": lambda h: fo.scale_by_adam(b1=h),
    "scale_by_learning_rate": lambda h: fo.scale_by_learning_rate(h),
    "adamw_weight_decay": lambda h: fo.adamw(1e-3, weight_decay=h),
    "sgd_momentum": lambda h: fo.sgd(1e-2, momentum=h),
}


@pytest.mark.parametrize("name", sorted(SCHEDULABLE))
def test_state_layout_is_the_same_for_constant_and_scheduled_hyperparameter(name):
    make = SCHEDULABLE[name]
    _same_layout(_abstract_state(make(0.5), PARAMS), _abstract_state(make(lambda count: 0.5), PARAMS))


def test_checkpoint_saved_with_constant_restores_after_switching_to_schedule(tmp_path):
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    const = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(1e-3, weight_decay=1e-2))
    state = const.init(PARAMS)
    _, state = const.update(grads, state, PARAMS)
    path = tmp_path / "opt_state.npz"
    fo.checkpoint.save(path, state)

    sched = fo.chain(
        fo.clip_by_global_norm(1.0), fo.adamw(fo.warmup_cosine_decay_schedule(0.0, 1e-3, 5, 50), weight_decay=1e-2)
    )
    restored = fo.checkpoint.restore(path, sched.init(PARAMS))
    for x, y in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    u, _ = sched.update(grads, restored, PARAMS)  # and it keeps training from there
    assert jax.tree.structure(u) == jax.tree.structure(PARAMS)


def test_no_sign_flip_outside_scale_by_learning_rate():
    root = pathlib.Path(fo.__file__).parent
    offenders = []
    for path in sorted([*root.glob("optimizers/*.py"), *root.glob("transforms/*.py")]):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bscale\(\s*-", line) and not line.lstrip().startswith((">>>", "#")):
                offenders.append(f"{path.name}:{i}: {line.strip()}")
    assert not offenders, "sign flips outside scale_by_learning_rate:\n" + "\n".join(offenders)
