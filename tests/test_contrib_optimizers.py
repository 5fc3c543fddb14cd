"""optax's remaining optimizers (optimistic descent, MADGRAD, simplified AdEMAMix, ACProp, COCOB, DoG, DoWG,
MoMo, Mechanic, DP aggregation, ...): each against optax 0.2.8 over a few steps, and the rules against a numpy
float64 transcription of the paper's equations for the first steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

optax = pytest.importorskip("optax")

W = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[0.3, -0.7], [1.5, 0.2]])}
C = {"a": jnp.array([0.2, 0.1, -0.3]), "b": jnp.array([[-0.5, 0.4], [0.0, 1.0]])}
P0 = {"a": jnp.array([0.5, 1.0, -1.0]), "b": jnp.array([[1.0, 0.0], [-0.5, 2.0]])}
STEPS = 5


def loss(p):
    # a quadratic plus a quartic term, so gradients are not linear in the params
    return sum(jnp.sum(W[k] ** 2 * (p[k] - C[k]) ** 2 + 0.1 * (p[k] - C[k]) ** 4) for k in p)


def run(opt, needs_value=False, params=P0):
    def body(carry, _):
        p, s = carry
        v, g = jax.value_and_grad(loss)(p)
        extra = {"value": v} if needs_value else {}
        u, s = opt.update(g, s, p, **extra)
        return (jax.tree.map(lambda a, b: a + b, p, u), s), p

    (p, _), trail = jax.lax.scan(body, (params, opt.init(params)), None, length=STEPS)
    return trail, p


def max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _deprecated_optimistic_adam(lib, *a, **k):
    """``lib.optimistic_adam(*a, **k)``: deprecated in both libraries, with the same message."""
    with pytest.warns(DeprecationWarning, match="use `optimistic_adam_v2` instead"):
        return lib.optimistic_adam(*a, **k)


# name -> (ours, optax's, needs value=)
PAIRS = {
    "optimistic_gradient_descent": (
        lambda: fo.optimistic_gradient_descent(0.05, alpha=1.0, beta=0.5),
        lambda: optax.optimistic_gradient_descent(0.05, alpha=1.0, beta=0.5),
        False,
    ),
    "optimistic_adam_v2": (
        lambda: fo.optimistic_adam_v2(0.05, alpha=0.5, beta=1.0),
        lambda: optax.optimistic_adam_v2(0.05, alpha=0.5, beta=1.0),
        False,
    ),
    "optimistic_adam": (
        lambda: _deprecated_optimistic_adam(fo, 0.05, 0.02),
        lambda: _deprecated_optimistic_adam(optax, 0.05, 0.02),
        False,
    ),
    "madgrad": (
        lambda: fo.madgrad(0.05, weight_decay=0.01),
        lambda: optax.contrib.madgrad(0.05, weight_decay=0.01),
        False,
    ),
    "simplified_ademamix": (
        lambda: fo.simplified_ademamix(0.05, alpha=2.0, weight_decay=0.01),
        lambda: optax.contrib.simplified_ademamix(0.05, alpha=2.0, weight_decay=0.01),
        False,
    ),
    "acprop": (lambda: fo.acprop(0.05, eps=1e-8), lambda: optax.contrib.acprop(0.05, eps=1e-8), False),
    "cocob": (lambda: fo.cocob(weight_decay=0.01), lambda: optax.contrib.cocob(weight_decay=0.01), False),
    "dog_lr": (
        lambda: fo.dog(0.5, init_step=("learning_rate", 0.1), weight_decay=0.01),
        lambda: optax.contrib.dog(0.5, init_step=("learning_rate", 0.1), weight_decay=0.01),
        False,
    ),
    "dowg": (lambda: fo.dowg(), lambda: optax.contrib.dowg(), False),
    "momo": (lambda: fo.momo(0.5), lambda: optax.contrib.momo(0.5), True),
    "momo_adaptive": (
        lambda: fo.momo(0.5, weight_decay=0.1, adapt_lower_bound=True),
        lambda: optax.contrib.momo(0.5, weight_decay=0.1, adapt_lower_bound=True),
        True,
    ),
    "momo_adam": (lambda: fo.momo_adam(0.1), lambda: optax.contrib.momo_adam(0.1), True),
    "momo_adam_adaptive": (
        lambda: fo.momo_adam(0.1, weight_decay=0.1, adapt_lower_bound=True),
        lambda: optax.contrib.momo_adam(0.1, weight_decay=0.1, adapt_lower_bound=True),
        True,
    ),
    "mechanize": (
        lambda: fo.mechanize(fo.adam(0.1)),
        lambda: optax.contrib.mechanize(optax.adam(0.1)),
        False,
    ),
    "normalize": (
        lambda: fo.chain(fo.normalize(), fo.scale_by_learning_rate(0.1)),
        lambda: optax.chain(optax.contrib.normalize(), optax.scale_by_learning_rate(0.1)),
        False,
    ),
    "galore": (
        lambda: fo.galore(0.05, rank=1, update_proj_gap=2, weight_decay=0.01),
        lambda: optax.contrib.galore(0.05, rank=1, update_proj_gap=2, weight_decay=0.01),
        False,
    ),
    "scale_by_distance_over_gradients": (
        lambda: fo.chain(fo.scale_by_distance_over_gradients(reps_rel=1e-2), fo.scale_by_learning_rate(1.0)),
        lambda: optax.chain(optax.scale_by_distance_over_gradients(reps_rel=1e-2), optax.scale_by_learning_rate(1.0)),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_optax(name):
    ours, theirs, needs_value = PAIRS[name]
    trail_a, end_a = jax.jit(lambda: run(ours(), needs_value))()
    trail_b, end_b = jax.jit(lambda: run(theirs(), needs_value))()
    # rtol: optax forms Adam-style bias corrections as 1 - b**t in float32 (this library with expm1), and
    # MoMo-Adam's Polyak step amplifies that rounding
    rtol = 1e-4 if name.startswith("momo_adam") else 1e-5
    for x, y in zip(jax.tree.leaves((trail_a, end_a)), jax.tree.leaves((trail_b, end_b))):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-6, err_msg=name)
    assert max_diff(end_a, P0) > 5e-7, "the optimizer must move the params"  # (DoG, Mechanic start tiny)


def test_states_have_optax_field_names():
    p = {"w": jnp.ones(2)}
    pairs = [
        (fo.scale_by_madgrad(0.1), optax.contrib.scale_by_madgrad(0.1)),
        (fo.scale_by_cocob(), optax.contrib.scale_by_cocob()),
        (fo.scale_by_simplified_ademamix(), optax.contrib.scale_by_simplified_ademamix()),
        (fo.scale_by_acprop(), optax.contrib.scale_by_acprop()),
        (fo.scale_by_optimistic_gradient(), optax.scale_by_optimistic_gradient()),
        (fo.momo(), optax.contrib.momo()),
        (fo.momo_adam(), optax.contrib.momo_adam()),
        (fo.mechanize(fo.sgd(0.1)), optax.contrib.mechanize(optax.sgd(0.1))),
        (fo.normalize(), optax.contrib.normalize()),
        (fo.hutchinson_estimator_diag_hessian(), optax.contrib.hutchinson_estimator_diag_hessian()),
        (
            fo.differentially_private_aggregate(1.0, 1.0, key=0),
            optax.contrib.differentially_private_aggregate(1.0, 1.0, key=0),
        ),
        (fo.split_real_and_imaginary(fo.sgd(0.1)), optax.contrib.split_real_and_imaginary(optax.sgd(0.1))),
    ]
    for ours, theirs in pairs:
        a, b = ours.init(p), theirs.init(p)
        assert a._fields == b._fields
        assert type(a).__name__ == type(b).__name__ or type(b).__name__ == "EmptyState"  # optax's NormalizeState
    assert fo.dog().init(p)[1]._fields == optax.contrib.DoGState._fields
    assert fo.dowg().init(p)[1]._fields == optax.contrib.DoWGState._fields


def test_split_real_and_imaginary_matches_optax_on_complex_params():
    p = {"z": jnp.array([1.0 + 2.0j, -0.5 + 0.1j]), "r": jnp.array([0.5])}
    g = {"z": jnp.array([0.3 - 1.0j, 2.0 + 0.5j]), "r": jnp.array([-1.0])}
    ours = fo.split_real_and_imaginary(fo.adam(0.1))
    theirs = optax.contrib.split_real_and_imaginary(optax.adam(0.1))
    sa, sb = ours.init(p), theirs.init(p)
    for _ in range(2):
        ua, sa = ours.update(g, sa, p)
        ub, sb = theirs.update(g, sb, p)
        assert max_diff(ua, ub) < 3e-6
        g = jax.tree.map(lambda x: 0.5 * x + 0.1, g)
    assert ua["z"].dtype == jnp.complex64
    # each part is treated as its own real coordinate: the first Adam step is -lr * sign per part
    first, _ = ours.update(g, ours.init(p), p)
    np.testing.assert_allclose(first["z"], -0.1 * (np.sign(g["z"].real) + 1j * np.sign(g["z"].imag)), atol=1e-6)


def test_differentially_private_aggregate_matches_optax_noise_and_clipping():
    per_example = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]), "b": jnp.array([[1.0], [2.0], [0.5]])}
    p = {"w": jnp.zeros(2), "b": jnp.zeros(1)}
    ours = fo.differentially_private_aggregate(1.0, 1.5, key=3)
    theirs = optax.contrib.differentially_private_aggregate(1.0, 1.5, key=3)
    sa, sb = ours.init(p), theirs.init(p)
    for _ in range(2):  # the same noise draws from the same key
        ua, sa = ours.update(per_example, sa, p)
        ub, sb = theirs.update(per_example, sb, p)
        assert max_diff(ua, ub) < 1e-6
    # without noise: clip each example's global norm to 1, sum, divide by the batch size (numpy)
    g = {k: np.asarray(v, np.float64) for k, v in per_example.items()}
    norms = np.sqrt(sum(np.sum(x.reshape(3, -1) ** 2, axis=1) for x in g.values()))
    f = np.minimum(1.0, 1.0 / np.where(norms == 0, 1.0, norms))
    t = fo.differentially_private_aggregate(1.0, 0.0)
    u, _ = t.update(per_example, t.init(p), p)
    for k in g:
        np.testing.assert_allclose(u[k], np.tensordot(f, g[k], axes=1) / 3, atol=1e-6)
    d = fo.dpsgd(0.1, 1.0, 0.0, seed=0, momentum=0.9)
    ud, _ = d.update(per_example, d.init(p), p)
    np.testing.assert_allclose(ud["w"], -0.1 * np.tensordot(f, g["w"], axes=1) / 3, atol=1e-6)


def test_hutchinson_estimator_is_exact_for_a_diagonal_hessian():
    f = lambda p: jnp.sum(jnp.array([1.0, 3.0, 0.5]) * p["x"] ** 2) + jnp.sum(jnp.cosh(p["y"]))
    p = {"x": jnp.array([1.0, 2.0, -1.0]), "y": jnp.array([0.3, -0.2])}
    t = fo.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(1))
    u, s = t.update(p, t.init(p), p, obj_fn=f)
    np.testing.assert_allclose(u["x"], [2.0, 6.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(u["y"], np.cosh([0.3, -0.2]), rtol=1e-6)
    assert not np.array_equal(s.key, jax.random.PRNGKey(1))
    with pytest.raises(ValueError, match="obj_fn"):
        t.update(p, t.init(p), p)


# ---------- numpy float64 references of the equations, first steps, one array ----------

G_SEQ = np.array([[0.5, -1.0, 2.0], [0.7, -0.2, 1.0], [-0.3, 0.4, 0.1]])
X0 = np.array([0.1, -0.2, 0.3])


def _drive(opt, *, params_free=False, value=None):
    """Feed G_SEQ (independent of the params) and return the params after each step."""
    x = jnp.asarray(X0, jnp.float32)
    s = opt.init(x)
    out = []
    for i, g in enumerate(G_SEQ):
        extra = {} if value is None else {"value": value[i]}
        u, s = opt.update(jnp.asarray(g, jnp.float32), s, x, **extra)
        x = x + u
        out.append(np.asarray(x, np.float64))
    return np.array(out)


def test_optimistic_gradient_descent_formula():
    lr, a, b = 0.1, 1.0, 0.5
    x, prev, ref = X0.copy(), G_SEQ[0], []
    for g in G_SEQ:
        x = x - lr * ((a + b) * g - b * prev)
        prev = g
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.optimistic_gradient_descent(lr, a, b)), ref, atol=1e-6)


def test_madgrad_formula():
    lr, mom, eps = 0.1, 0.9, 1e-6
    x, G, s, ref = X0.copy(), np.zeros(3), np.zeros(3), []
    for k, g in enumerate(G_SEQ):
        lam = (lr + eps) * np.sqrt(k + 1)
        G, s = G + lam * g**2, s + lam * g
        z = X0 - s / (np.cbrt(G) + eps)
        x = (1 - mom) * z + mom * x
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.madgrad(lr)), ref, atol=1e-6)


def test_simplified_ademamix_formula():
    lr, b1, b2, alpha, eps = 0.1, 0.99, 0.95, 2.0, 1e-8
    x, m, n, ref = X0.copy(), np.zeros(3), np.zeros(3), []
    for k, g in enumerate(G_SEQ, 1):
        m, n = b1 * m + g, b2 * n + (1 - b2) * g**2
        x = x - lr * (m + alpha * g) / (np.sqrt(n / (1 - b2**k)) + eps)
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.simplified_ademamix(lr, alpha=alpha)), ref, atol=1e-5)


def test_acprop_formula():
    lr, b1, b2, eps, eps_root = 0.1, 0.9, 0.999, 1e-8, 1e-16
    x, m, s, ref = X0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(G_SEQ):
        s_hat = np.ones(3) if t == 0 else s / (1 - b2**t)
        x = x - lr * g / (np.sqrt(s_hat) + eps)
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        m = b1 * m + (1 - b1) * g
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.acprop(lr, eps=eps)), ref, atol=1e-5)


def test_cocob_formula():
    alpha, eps = 100.0, 1e-8
    x, L, G, R, theta, ref = X0.copy(), np.full(3, eps), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in G_SEQ:
        L, G = np.maximum(L, np.abs(g)), G + np.abs(g)
        R = np.maximum(R - g * (x - X0), 0)
        theta = theta - g
        x = X0 + theta / (L * np.maximum(G + L, alpha * L)) * (L + R)
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.cocob()), ref, atol=1e-6)


def test_dog_and_dowg_formulas():
    x, r, G, ref = X0.copy(), 1e-3 * (1 + np.linalg.norm(X0)), 0.0, []
    for g in G_SEQ:
        r = max(r, np.linalg.norm(x - X0))
        G += np.sum(g**2)
        x = x - r / np.sqrt(G + 1e-8) * g
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.dog(init_step=("heuristic", 1e-3))), ref, rtol=1e-5, atol=1e-7)
    x, r2, v, ref = X0.copy(), 1e-2, 0.0, []
    for g in G_SEQ:
        r2 = max(r2, np.sum((x - X0) ** 2))
        v += r2 * np.sum(g**2)
        x = x - r2 / (np.sqrt(v) + 1e-4) * g
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.dowg(init_estim_sq_dist=1e-2)), ref, rtol=1e-5, atol=1e-7)


def test_momo_formula():
    lr, beta, lb = 1.0, 0.9, 0.0
    values = np.array([2.0, 1.5, 1.0])
    x, d, fbar, gamma, ref = X0.copy(), np.zeros(3), 0.0, 0.0, []
    for k, (g, f) in enumerate(zip(G_SEQ, values)):
        rho = 0.0 if k == 0 else beta
        fbar = rho * fbar + (1 - rho) * f
        d = rho * d + (1 - rho) * g
        gamma = rho * gamma + (1 - rho) * g @ x
        h = fbar - lb - gamma + d @ x
        tau = min(lr, max(h, 0.0) / (d @ d))
        x = x - tau * d
        ref.append(x.copy())
    np.testing.assert_allclose(_drive(fo.momo(lr, beta), value=values), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="loss"):
        fo.momo().update(jnp.ones(1), fo.momo().init(jnp.ones(1)), jnp.ones(1))


def test_galore_projects_to_the_top_singular_vectors():
    g = np.array([[0.5, -1.0, 2.0], [0.7, -0.2, 1.0], [-0.3, 0.4, 0.1], [1.0, 0.0, -0.5]])
    U, S, Vt = np.linalg.svd(g, full_matrices=False)
    P = U[:, :2]  # 4 >= 3: left projector, rank 2
    t = fo.scale_by_galore(rank=2, scale=0.5, base_optimizer=fo.identity())
    x = jnp.zeros((4, 3))
    u, s = t.update(jnp.asarray(g, jnp.float32), t.init(x))
    np.testing.assert_allclose(u, 0.5 * P @ P.T @ g, atol=1e-5)
    assert s.projector.shape == (4, 2)
    # 3-D weight with explicit dimension numbers: rows = axes (0, 2), columns = axis 1; a right projector
    dims = fo.GaLoreDimensionNumbers(reduction_axis=(0, 2), output_axis=1)
    w = np.arange(12.0).reshape(1, 6, 2) % 5 - 2
    t = fo.scale_by_galore(rank=1, base_optimizer=fo.identity(), weight_dimension_numbers=dims)
    u, s = t.update(jnp.asarray(w, jnp.float32), t.init(jnp.zeros((1, 6, 2))))
    m = w.transpose(0, 2, 1).reshape(2, 6)
    _, _, Vt = np.linalg.svd(m, full_matrices=False)
    ref = (m @ Vt[:1].T @ Vt[:1]).reshape(1, 2, 6).transpose(0, 2, 1)
    np.testing.assert_allclose(u, ref, atol=1e-5)
    assert s.projector.shape == (6, 1)
    with pytest.raises(ValueError, match="rank"):
        fo.scale_by_galore(rank=0)


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="momentum"):
        fo.madgrad(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="init_step"):
        fo.dog(init_step=("nonsense", 1.0))
    with pytest.raises(ValueError, match="alpha"):
        fo.cocob(alpha=-1.0)
    with pytest.raises(ValueError, match="schedule"):
        _deprecated_optimistic_adam(fo, lambda c: 0.1)
    with pytest.raises(ValueError, match="b2"):
        fo.scale_by_simplified_ademamix(b2=1.0)


def test_contrib_mirror():
    for name in ("madgrad", "cocob", "dog", "dowg", "momo", "momo_adam", "mechanize", "acprop", "normalize", "dpsgd"):
        assert getattr(fo.contrib, name) is getattr(fo, name)
