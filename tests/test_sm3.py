"""SM3: numpy float64 reference with explicit row/column covers; optax; memory."""

import functools
import itertools

import numpy as np
import pytest

import functional_opt as fo
from tests import helpers as U

LR, MOM, EPS = 0.05, 0.875, 1e-8


@functools.cache
def ours():
    return U.run_noisy(fo.sm3(LR, momentum=MOM), 50)


def reference():
    """SM3-II with covers {rows, columns} for the matrix, singletons for the vector."""
    acc = {"s": 0.0, "v": np.zeros(3), "m_rows": np.zeros(2), "m_cols": np.zeros(3)}
    mom = U.zeros()

    def step(p, g, t):
        p = dict(p)
        nu_s = acc["s"] + g["s"] ** 2
        acc["s"] = nu_s
        nu_v = acc["v"] + g["v"] ** 2
        acc["v"] = nu_v
        nu_m = np.zeros((2, 3))
        for i, j in itertools.product(range(2), range(3)):
            nu_m[i, j] = min(acc["m_rows"][i], acc["m_cols"][j]) + g["m"][i, j] ** 2
        acc["m_rows"] = nu_m.max(axis=1)
        acc["m_cols"] = nu_m.max(axis=0)
        for k, nu in (("s", nu_s), ("v", nu_v), ("m", nu_m)):
            mom[k] = MOM * mom[k] + (1 - MOM) * g[k] / np.sqrt(nu + EPS)
            p[k] = p[k] - LR * mom[k]
        return p

    return step


def test_golden():
    U.assert_close(ours()[:12], U.run_reference(reference(), 12))


def test_memory_is_one_vector_per_axis():
    state = fo.scale_by_sm3().init({"w": np.zeros((4, 5, 6), np.float32), "s": np.float32(1.0)})
    assert [m.shape for m in state.mu["w"]] == [(4,), (5,), (6,)]
    assert [m.shape for m in state.mu["s"]] == [()]


def test_matches_optax():
    optax = pytest.importorskip("optax")
    # optax's SM3 fails on scalar leaves: compare on the vector and the matrix only
    import jax
    import jax.numpy as jnp

    params = {"v": jnp.asarray(U.params0()["v"], jnp.float32), "m": jnp.asarray(U.params0()["m"], jnp.float32)}
    grads = [{k: jnp.asarray(U.grad(U.params0(), t)[k], jnp.float32) for k in ("v", "m")} for t in range(50)]
    ours_opt, theirs_opt = fo.sm3(LR, momentum=MOM), optax.sm3(LR, momentum=MOM)
    s1, s2 = ours_opt.init(params), theirs_opt.init(params)
    up1, up2 = jax.jit(ours_opt.update), jax.jit(theirs_opt.update)
    for g in grads:
        u1, s1 = up1(g, s1, params)
        u2, s2 = up2(g, s2, params)
        np.testing.assert_allclose(u1["m"], u2["m"], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(u1["v"], u2["v"], rtol=1e-6, atol=1e-8)
