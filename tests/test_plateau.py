"""reduce_on_plateau against an independent Python reference, torch's ReduceLROnPlateau and optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import run_scan

# a loss that improves, stalls, improves a little, then stalls for long
LOSSES = np.concatenate(
    [np.linspace(2.0, 1.0, 8), np.full(6, 1.0), [0.9, 0.95, 0.9], np.full(20, 0.9), [0.5], np.full(15, 0.6)]
)
PARAMS = {"s": jnp.zeros(()), "v": jnp.zeros(3), "m": jnp.zeros((2, 3)), "none": None}


def reference(losses, factor, patience, rtol, atol, cooldown, acc, min_scale):
    """The rule written out in Python floats: the scale after each update."""
    scale, best, plateau, cd, buf, out = 1.0, float("inf"), 0, 0, [], []
    for v in losses:
        buf.append(float(v))
        if len(buf) == acc:
            avg = sum(buf) / acc
            buf = []
            if avg < (1 - rtol) * best - atol:
                best, plateau = avg, 0
            else:
                plateau += 1
            if cd > 0:
                cd, plateau = cd - 1, 0
            elif plateau >= patience:
                scale, plateau, cd = max(scale * factor, min_scale), 0, cooldown
        out.append(scale)
    return np.array(out)


def scales_and_updates(transform, losses, params=PARAMS):
    """Unit gradients and one loss per step, in one scan: the scale after each update, and the updates."""
    ones = jax.tree.map(jnp.ones_like, params)
    states, updates = run_scan(transform, params, [ones] * len(losses), losses)
    return states.scale, updates


@pytest.mark.parametrize(
    "kw",
    [
        dict(factor=0.5, patience=3, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1, min_scale=0.0),
        dict(factor=0.3, patience=2, rtol=0.0, atol=0.02, cooldown=4, accumulation_size=1, min_scale=0.05),
        dict(factor=0.5, patience=2, rtol=1e-3, atol=0.0, cooldown=1, accumulation_size=3, min_scale=0.0),
    ],
)
def test_matches_reference_and_scales_every_leaf(kw):
    scales, updates = scales_and_updates(fo.reduce_on_plateau(**kw), LOSSES)
    want = reference(
        LOSSES,
        kw["factor"],
        kw["patience"],
        kw["rtol"],
        kw["atol"],
        kw["cooldown"],
        kw["accumulation_size"],
        kw["min_scale"],
    )
    assert want.min() < 1.0  # the sequence does trigger reductions
    np.testing.assert_allclose(np.asarray(scales), want, rtol=1e-6)
    assert updates["none"] is None
    chex.assert_trees_all_close(updates["m"], jnp.broadcast_to(want[:, None, None], (len(LOSSES), 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("threshold_mode, cooldown", [("rel", 0), ("abs", 3)])
def test_matches_torch_reduce_lr_on_plateau(threshold_mode, cooldown):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode="min",
        factor=0.5,
        patience=2,
        threshold=0.01,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=0.01,
        eps=0.0,
    )
    want = []
    for v in LOSSES:
        sched.step(float(v))
        want.append(opt.param_groups[0]["lr"])
    rtol, atol = (0.01, 0.0) if threshold_mode == "rel" else (0.0, 0.01)
    # torch's patience p = p + 1 bad evaluations here
    scales, _ = scales_and_updates(
        fo.reduce_on_plateau(0.5, patience=3, rtol=rtol, atol=atol, cooldown=cooldown, min_scale=0.01), LOSSES
    )
    np.testing.assert_allclose(np.asarray(scales), np.array(want), rtol=1e-6)


def test_matches_optax_contrib():
    optax = pytest.importorskip("optax")
    kw = dict(factor=0.5, patience=2, rtol=1e-3, atol=0.0, cooldown=1, accumulation_size=3, min_scale=0.1)
    theirs = optax.contrib.reduce_on_plateau(**kw)
    state = theirs.init(PARAMS)
    grads = {"s": jnp.ones(()), "v": jnp.ones(3), "m": jnp.ones((2, 3))}
    want = []
    update = jax.jit(theirs.update)
    for v in LOSSES:
        _, state = update(grads, state, value=jnp.float32(v))
        want.append(float(state.scale))
    scales, _ = scales_and_updates(fo.reduce_on_plateau(**kw), LOSSES)
    np.testing.assert_allclose(np.asarray(scales), want, rtol=1e-6)


def test_state_is_arrays_and_hyperparameters_vmap():
    t = fo.reduce_on_plateau(factor=jnp.float32(0.5), patience=jnp.int32(2))
    state = t.init(PARAMS)
    assert all(isinstance(x, jax.Array) and x.shape == () for x in jax.tree.leaves(state))
    assert state.scale.dtype == jnp.float32 and state.count.dtype == jnp.int32

    def final_scale(factor, patience):
        s, _ = scales_and_updates(
            fo.reduce_on_plateau(factor=factor, patience=patience), LOSSES[:20], {"v": jnp.zeros(2)}
        )
        return s[-1]

    got = jax.vmap(final_scale)(jnp.array([0.5, 0.1]), jnp.array([2, 2]))
    want = [reference(LOSSES[:20], f, 2, 1e-4, 0.0, 0, 1, 0.0)[-1] for f in (0.5, 0.1)]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_bf16_updates_keep_their_dtype_and_chain_with_an_optimizer():
    opt = fo.chain(fo.adam(1e-2), fo.reduce_on_plateau(patience=1, factor=0.5))
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    state = opt.init(params)
    u, state = opt.update({"w": jnp.ones(4, jnp.bfloat16)}, state, params, value=jnp.float32(1.0))
    assert u["w"].dtype == jnp.bfloat16
    assert state[1].scale.dtype == jnp.float32


def test_missing_value_and_bad_arguments():
    t = fo.reduce_on_plateau()
    with pytest.raises(TypeError, match="value=loss"):
        t.update(jnp.ones(2), t.init(jnp.zeros(2)))
    for kw, name in [
        (dict(factor=1.0), "factor"),
        (dict(factor=0.0), "factor"),
        (dict(patience=0), "patience"),
        (dict(rtol=-1e-3), "rtol"),
        (dict(atol=-1.0), "atol"),
        (dict(rtol=0.0, atol=0.0), "rtol"),
        (dict(cooldown=-1), "cooldown"),
        (dict(accumulation_size=0), "accumulation_size"),
        (dict(min_scale=-0.1), "min_scale"),
    ]:
        with pytest.raises(ValueError, match=name):
            fo.reduce_on_plateau(**kw)
