"""optax 0.2.8's argument names, defaults and state fields for the transforms whose differences were fixed.

Each check reads optax's own signature or state type, so a rename on either side fails here; the values are
tested next to each transform (tests/test_muon.py, test_lion.py, test_clipping.py, ...).
"""

from __future__ import annotations

import inspect

import pytest

import functional_opt as fo

optax = pytest.importorskip("optax")
contrib = pytest.importorskip("optax.contrib")

# (ours, theirs): every parameter of optax's is one of ours, with the same default
PAIRS = [
    (fo.sam, contrib.sam),
    (fo.muon, contrib.muon),
    (fo.scale_by_muon, contrib.scale_by_muon),
    (fo.scale_by_lion, optax.scale_by_lion),
    (fo.adaptive_grad_clip, optax.adaptive_grad_clip),
    (fo.per_example_global_norm_clip, optax.per_example_global_norm_clip),
    (fo.per_example_layer_norm_clip, optax.per_example_layer_norm_clip),
    (fo.unitwise_norm, optax.transforms.unitwise_norm),
    (fo.unitwise_clip, optax.transforms.unitwise_clip),
    (fo.noisy_sgd, optax.noisy_sgd),
    (fo.add_noise, optax.add_noise),
    (fo.scale_by_factored_rms, optax.scale_by_factored_rms),
    (fo.scale_by_ademamix, contrib.scale_by_ademamix),
    (fo.ademamix, contrib.ademamix),
    (fo.adan, optax.adan),
    (fo.apply_every, optax.apply_every),
    (fo.MultiSteps, optax.MultiSteps),
    (fo.warmup_cosine_decay_schedule, optax.warmup_cosine_decay_schedule),
    (fo.cosine_decay_schedule, optax.cosine_decay_schedule),
    (fo.losses.softmax_cross_entropy_with_integer_labels, optax.losses.softmax_cross_entropy_with_integer_labels),
]

# defaults kept different on purpose (see the "Differences from optax" table)
KEPT = {
    ("muon", "eps"),  # the reference's 1e-7 (optax 1e-8)
    ("scale_by_muon", "eps"),
    ("scale_by_muon", "weight_dimension_numbers"),  # None: the default layout, also for ndim > 2
    ("scale_by_factored_rms", "decay_rate_fn"),  # None: the same schedule, formed without cancellation
}


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[t.__name__ for _, t in PAIRS])
def test_optax_parameters_are_accepted_with_optax_defaults(ours, theirs):
    mine = inspect.signature(ours).parameters
    for name, p in inspect.signature(theirs).parameters.items():
        if name == "self":
            continue
        assert name in mine, f"{ours.__name__} lacks optax's argument {name!r}"
        if (ours.__name__, name) in KEPT or p.default is inspect.Parameter.empty:
            continue
        assert mine[name].default == p.default, f"{ours.__name__}({name}=): {mine[name].default!r} vs {p.default!r}"
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert mine[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (ours.__name__, name)


def test_positional_order_follows_optax():
    for ours, theirs in PAIRS:
        positional = [
            n
            for n, p in inspect.signature(theirs).parameters.items()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and n != "self"
        ]
        mine = [n for n in inspect.signature(ours).parameters if n != "self"]
        assert mine[: len(positional)] == positional, ours.__name__


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (fo.ScaleByAdanState, optax.ScaleByAdanState),
        (fo.ScheduleFreeState, contrib.ScheduleFreeState),
        (fo.MultiStepsState, optax.MultiStepsState),
        (fo.ApplyEvery, optax.ApplyEvery),
        (fo.MuonDimensionNumbers, contrib.MuonDimensionNumbers),
    ],
)
def test_state_fields_follow_optax(ours, theirs):
    assert ours._fields == theirs._fields


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("name", ["nadam", "nadamw"])
def test_nadam_nesterov_matches_optax(name, nesterov):
    import jax.numpy as jnp
    import numpy as np

    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    ours, theirs = getattr(fo, name)(1e-2, nesterov=nesterov), getattr(optax, name)(1e-2, nesterov=nesterov)
    s1, s2 = ours.init(params), theirs.init(params)
    for g in ([0.3, -0.1, 2.0], [1.0, 0.5, -0.2], [-0.4, 0.0, 0.7]):
        grads = {"w": jnp.array(g)}
        u1, s1 = ours.update(grads, s1, params)
        u2, s2 = theirs.update(grads, s2, params)
        np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-5, atol=1e-7)
