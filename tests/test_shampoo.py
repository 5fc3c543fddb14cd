"""Shampoo against the paper's rule (per-axis inverse roots) in numpy float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

STEPS = 10


def np_inv_root(s, power, eps):
    lam, vec = np.linalg.eigh(s)
    lam = np.maximum(lam, max(eps, 1e-6 * lam[-1]))
    return (vec * lam ** (-power)) @ vec.T


def np_shampoo(gs, eps, freq, max_dim):
    """Gupta et al. Algorithm 2: H_i += G_(i) G_(i)^T, G x_i H_i^{-1/(2k)}; roots refreshed every freq steps."""
    shape = np.shape(gs[0]) or (1,)
    axes = [i for i, d in enumerate(shape) if d <= max_dim]
    stats = {i: eps * np.eye(shape[i]) for i in axes}
    roots = {}
    out = []
    for c, g in enumerate(gs):
        x = np.asarray(g, np.float64).reshape(shape)
        for i in axes:
            xi = np.moveaxis(x, i, 0).reshape(shape[i], -1)
            stats[i] = stats[i] + xi @ xi.T
        if c % freq == 0:
            roots = {i: np_inv_root(stats[i], 1 / (2 * len(axes)), eps) for i in axes}
        for i in axes:
            x = np.moveaxis(np.tensordot(roots[i], x, axes=(1, i)), 0, i)
        out.append(x.reshape(np.shape(g)))
    return out


@pytest.mark.parametrize("freq,max_dim", [(1, 1024), (3, 1024), (2, 3)])
def test_scale_by_shampoo_matches_paper(freq, max_dim):
    rng = np.random.default_rng(freq + max_dim)
    gs = [
        {"s": rng.normal(), "v": rng.normal(size=3), "m": rng.normal(size=(2, 4)), "t": rng.normal(size=(2, 3, 2))}
        for _ in range(STEPS)
    ]
    eps = 1e-2
    t = fo.scale_by_shampoo(eps, precondition_frequency=freq, max_preconditioner_dim=max_dim)
    state = t.init(jax.tree.map(lambda x: jnp.zeros(np.shape(x)), gs[0]))
    step = jax.jit(t.update)
    refs = {k: np_shampoo([g[k] for g in gs], eps, freq, max_dim) for k in gs[0]}
    for i, g in enumerate(gs):
        u, state = step(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state)
        for k in g:
            np.testing.assert_allclose(u[k], refs[k][i], rtol=2e-3, atol=2e-4, err_msg=f"{k} step {i}")
    # memory: a (2, 4) matrix keeps 2x2 and 4x4 statistics and roots
    expected = [(2, 2), (4, 4)] if max_dim > 3 else [(2, 2)]  # an axis of size 4 > 3 gets no factor
    assert [s.shape for s in state.stats["m"]] == expected


def test_shampoo_optimizer_matches_reference_with_momentum():
    rng = np.random.default_rng(5)
    gs = [rng.normal(size=(3, 2)) for _ in range(STEPS)]
    opt = fo.shampoo(0.1, eps=1e-2, momentum=0.5)
    p = jnp.zeros((3, 2))
    state = opt.init(p)
    step = jax.jit(opt.update)
    ref_dirs = np_shampoo(gs, 1e-2, 1, 1024)
    buf, pref = 0.0, np.zeros((3, 2))
    for i, g in enumerate(gs):
        u, state = step(jnp.asarray(g, jnp.float32), state, p)
        p = fo.apply_updates(p, u)
        buf = 0.5 * buf + ref_dirs[i]
        pref = pref - 0.1 * buf
    np.testing.assert_allclose(p, pref, rtol=2e-3, atol=2e-4)


def test_shampoo_validation():
    with pytest.raises(ValueError, match="eps"):
        fo.scale_by_shampoo(eps=0.0)
    with pytest.raises(ValueError, match="precondition_frequency"):
        fo.scale_by_shampoo(precondition_frequency=0)
