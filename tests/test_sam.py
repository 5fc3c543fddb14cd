"""SAM against Foret et al.'s Algorithm 1 in numpy float64, ASAM, the two-pass step helper, optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

STEPS = 10
A = {"s": 1.5, "v": np.array([0.5, 2.0, 4.0]), "m": np.linspace(0.2, 3.0, 6).reshape(2, 3)}


def loss(p, x):
    return sum(jnp.sum(A[k] * (p[k] - x) ** 2 + 0.1 * jnp.sin(3 * p[k])) for k in A)


def np_grad(p, x):
    return {k: 2 * A[k] * (p[k] - x) + 0.3 * np.cos(3 * p[k]) for k in A}


def np_sam_momentum(p, lr, mom, rho, adaptive, steps, x=0.3, eps=1e-12):
    buf = {k: 0.0 for k in A}
    for _ in range(steps):
        g = np_grad(p, x)
        if adaptive:
            tg = {k: np.abs(p[k]) * g[k] for k in A}
            n = np.sqrt(sum(np.sum(tg[k] ** 2) for k in A))
            e = {k: rho * p[k] ** 2 * g[k] / (n + eps) for k in A}
        else:
            n = np.sqrt(sum(np.sum(g[k] ** 2) for k in A))
            e = {k: rho * g[k] / (n + eps) for k in A}
        gs = np_grad({k: p[k] + e[k] for k in A}, x)
        buf = {k: mom * buf[k] + gs[k] for k in A}
        p = {k: p[k] - lr * buf[k] for k in A}
    return p


P0 = {"s": np.float64(0.8), "v": np.array([1.0, -0.5, 0.3]), "m": np.linspace(-1, 1, 6).reshape(2, 3)}


@pytest.mark.parametrize("adaptive,rho", [(False, 0.05), (True, 0.5)])
def test_sam_train_step_matches_algorithm(adaptive, rho):
    opt = fo.sam(fo.sgd(0.02, momentum=0.9), rho=rho, adaptive=adaptive)
    step = jax.jit(fo.sam_train_step(loss, opt))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), P0)
    state = opt.init(params)
    for _ in range(STEPS):
        params, state, _ = step(params, state, 0.3)
    ref = np_sam_momentum(P0, 0.02, 0.9, rho, adaptive, STEPS)
    chex.assert_trees_all_close(params, jax.tree.map(np.float32, ref), rtol=2e-5, atol=2e-6)


def test_sam_matches_optax_opaque_mode():
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    rho, lr = 0.05, 0.02
    ours = fo.sam(fo.sgd(lr), rho=rho, eps=0.0)
    ref = contrib.sam(optax.sgd(lr), optax.chain(contrib.normalize(), optax.sgd(rho)), sync_period=2, opaque_mode=True)
    grad_fn = jax.jit(jax.grad(lambda p: loss(p, 0.3)))
    po = pr = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), P0)
    so, sr = ours.init(po), ref.init(pr)
    step_o = jax.jit(lambda g, s, p: ours.update(g, s, p, grad_fn=grad_fn))
    step_r = jax.jit(lambda g, s, p: ref.update(g, s, p, grad_fn=lambda q, i: grad_fn(q)))
    for _ in range(STEPS):
        uo, so = step_o(grad_fn(po), so, po)
        ur, sr = step_r(grad_fn(pr), sr, pr)
        po, pr = fo.apply_updates(po, uo), optax.apply_updates(pr, ur)
    chex.assert_trees_all_close(po, pr, rtol=1e-5, atol=1e-6)


def test_sam_errors_and_zero_gradient():
    opt = fo.sam(fo.sgd(0.1))
    p = jnp.ones(2)
    with pytest.raises(ValueError, match="grad_fn"):
        opt.update(p, opt.init(p), p)
    with pytest.raises(ValueError, match="rho"):
        fo.sam(fo.sgd(0.1), rho=-1.0)
    with pytest.raises(TypeError, match="optimizer"):
        fo.sam(3.0)
    e = fo.sam_perturbation(jnp.zeros(2), p)
    np.testing.assert_array_equal(e, np.zeros(2))


# ---- optax's two-optimizer form: fo.sam(optimizer, adv_optimizer, sync_period, reset_state, opaque_mode, ...) ----

X = np.array([1.0, -1.0, 0.5])
Q0 = {"a": np.array([-1.0, 2.0, 0.0]), "b": np.array([[-0.3, -0.2], [1.5, 1.4]])}  # no gradient near 0
QA = {"a": np.array([1.0, 2.0, 0.5]), "b": np.array([[0.5, 1.5], [1.0, 3.0]])}


def quad_grad(p):  # the gradient of sum(QA * (p - target)**2), target X for "a", 0.5 for "b"
    t = {"a": X, "b": 0.5}
    return jax.tree.map(lambda a, q, x: 2 * a * (q - x), QA, p, t)


def f32(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


# the base and adversarial optimizers, built from a library module (fo or optax)
BASES = {"sgd": lambda lib: lib.sgd(0.05, momentum=0.9), "adam": lambda lib: lib.adam(0.02)}
ADVS = {"sgd": lambda lib: lib.sgd(0.2), "adam": lambda lib: lib.adam(0.02)}


@pytest.mark.parametrize(
    "base,adv,sync_period,opaque_mode,reset_state",
    [
        ("sgd", "sgd", 2, False, True),
        ("adam", "adam", 2, False, False),
        ("sgd", "adam", 3, False, True),
        ("adam", "adam", 3, False, False),
        ("sgd", "sgd", 2, True, True),
        ("adam", "adam", 2, True, False),
        ("sgd", "adam", 3, True, True),
        ("adam", "adam", 3, True, False),
    ],
)
def test_two_optimizer_form_matches_optax_step_by_step(base, adv, sync_period, opaque_mode, reset_state):
    optax = pytest.importorskip("optax")
    contrib = pytest.importorskip("optax.contrib")
    kw = dict(sync_period=sync_period, reset_state=reset_state, opaque_mode=opaque_mode)
    # fo's own sgd is optax's to the bit; adam's float32 rounding differs (~1e-6 in 20 steps), so there the
    # inner optimizers are optax's own objects, and the check isolates the wrapper
    lib = fo if base == adv == "sgd" else optax
    ours = fo.sam(BASES[base](lib), lib.chain(lib.contrib.normalize(), ADVS[adv](lib)), **kw)
    ref = contrib.sam(BASES[base](optax), optax.chain(contrib.normalize(), ADVS[adv](optax)), **kw)
    extra = {"grad_fn": lambda p, i: quad_grad(p)} if opaque_mode else {}

    def stepper(opt, apply):
        @jax.jit
        def step(p, s):
            u, s = opt.update(quad_grad(p), s, p, **extra)
            return apply(p, u), s

        return step

    step_o, step_r = stepper(ours, fo.apply_updates), stepper(ref, optax.apply_updates)
    po = pr = f32(Q0)
    so, sr = ours.init(po), ref.init(pr)
    assert isinstance(so, fo.contrib.SAMState)
    for _ in range(3 * sync_period):  # three outer steps (transparent), or nine (opaque)
        po, so = step_o(po, so)
        pr, sr = step_r(pr, sr)
        chex.assert_trees_all_close(po, pr, rtol=1e-6, atol=1e-6)
        assert int(so.steps_since_sync) == int(sr.steps_since_sync)
        chex.assert_trees_all_close(so.cache, sr.cache, rtol=1e-6, atol=1e-6)
        if lib is optax:
            ours_states, optax_states = (so.opt_state, so.adv_state), (sr.opt_state, sr.adv_state)
            chex.assert_trees_all_close(ours_states, optax_states, rtol=1e-6, atol=1e-6)
    assert fo.contrib.SAMState._fields == contrib.SAMState._fields


@pytest.mark.parametrize("reset_state", [True, False])
def test_transparent_form_against_numpy(reset_state):
    """sync_period 3: two ascent calls (normalized heavy ball), then back to w and an sgd-momentum step."""
    lr, mom, rho, adv_mom = 0.05, 0.9, 0.2, 0.5
    opt = fo.sam(fo.sgd(lr, momentum=mom), fo.chain(fo.normalize(), fo.sgd(rho, momentum=adv_mom)), 3, reset_state)
    step = jax.jit(lambda p, s: (lambda u, s: (fo.apply_updates(p, u), s))(*opt.update(quad_grad(p), s, p)))
    p = f32(Q0)
    s = opt.init(p)

    def np_grad(q):
        return {"a": 2 * QA["a"] * (q["a"] - X), "b": 2 * QA["b"] * (q["b"] - 0.5)}

    w, buf, adv_buf = dict(Q0), {k: 0.0 for k in Q0}, {k: 0.0 for k in Q0}
    for _ in range(2):
        w_adv = dict(w)
        for j in range(2):  # the ascent calls: the params the caller sees are the perturbed ones
            g = np_grad(w_adv)
            n = np.sqrt(sum(np.sum(v**2) for v in g.values()))
            adv_buf = {k: adv_mom * adv_buf[k] + g[k] / n for k in g}
            w_adv = {k: w_adv[k] + rho * adv_buf[k] for k in g}
            p, s = step(p, s)
            chex.assert_trees_all_close(p, f32(w_adv), rtol=1e-5, atol=1e-6)
            assert int(s.steps_since_sync) == j + 1
        g = np_grad(w_adv)
        buf = {k: mom * buf[k] + g[k] for k in g}
        w = {k: w[k] - lr * buf[k] for k in g}
        if reset_state:
            adv_buf = {k: 0.0 for k in Q0}
        p, s = step(p, s)
        chex.assert_trees_all_close(p, f32(w), rtol=1e-5, atol=1e-6)
        assert int(s.steps_since_sync) == 0


def test_one_call_form_is_unchanged():
    """A number (positional or rho=) keeps the one-call form: SamState, and bitwise its composition."""
    grad_fn = quad_grad
    p = f32(Q0)
    g = grad_fn(p)
    base = fo.sgd(0.1, momentum=0.9)
    expect, _ = base.update(grad_fn(fo.apply_updates(p, fo.sam_perturbation(g, p, 0.1))), base.init(p), p)
    for opt in (fo.sam(base, 0.1), fo.sam(base, rho=0.1), fo.sam(base, jnp.asarray(0.1))):
        s = opt.init(p)
        assert isinstance(s, fo.SamState)
        u, s = opt.update(g, s, p, grad_fn=grad_fn)
        jax.tree.map(np.testing.assert_array_equal, u, expect)
    assert isinstance(fo.sam(base).init(p), fo.SamState)


def test_sync_period_one_is_the_outer_optimizer():
    base, adv = fo.sgd(0.1, momentum=0.9), fo.chain(fo.normalize(), fo.sgd(0.5))
    p = f32(Q0)
    for opaque in (False, True):
        opt = fo.sam(base, adv, sync_period=1, opaque_mode=opaque)
        s, s_ref = opt.init(p), base.init(p)
        q = p
        for _ in range(3):
            u, s = opt.update(quad_grad(q), s, q, grad_fn=lambda w, i: quad_grad(w))
            u_ref, s_ref = base.update(quad_grad(q), s_ref, q)
            chex.assert_trees_all_close(u, u_ref, rtol=1e-6, atol=1e-7)
            q = fo.apply_updates(q, u)


def test_opaque_batch_axis_name_averages_the_adversarial_gradients():
    targets = jnp.array([[1.0, 0.0], [-1.0, 2.0]])  # two "devices", one target each
    base, adv = fo.sgd(0.1), fo.chain(fo.normalize(), fo.sgd(0.3))

    def run(axis_name):
        opt = fo.sam(base, adv, sync_period=3, opaque_mode=True, batch_axis_name=axis_name)

        def per_device(x):
            grad = jax.grad(lambda p: jnp.sum((p - x) ** 2))
            p = jnp.array([0.5, 0.5])
            g = jax.lax.pmean(grad(p), "b")
            u, _ = opt.update(g, opt.init(p), p, grad_fn=lambda q, i: grad(q))
            return u

        return jax.jit(jax.vmap(per_device, axis_name="b"))(targets)

    mean_grad = jax.grad(lambda p: jnp.mean(jnp.sum((p - targets) ** 2, axis=1)))
    opt = fo.sam(base, adv, sync_period=3, opaque_mode=True)
    p = jnp.array([0.5, 0.5])
    expect, _ = opt.update(mean_grad(p), opt.init(p), p, grad_fn=lambda q, i: mean_grad(q))
    averaged = run("b")
    np.testing.assert_allclose(averaged, jnp.stack([expect, expect]), rtol=1e-6, atol=1e-7)
    assert not np.allclose(run(None), averaged)  # without the pmean each device ascends its own way


def test_two_optimizer_form_errors():
    base, adv = fo.sgd(0.1), fo.chain(fo.normalize(), fo.sgd(0.1))
    p = jnp.ones(2)
    with pytest.raises(ValueError, match="sync_period"):
        fo.sam(base, adv, sync_period=0)
    with pytest.raises(TypeError, match="sync_period"):
        fo.sam(base, adv, sync_period=2.0)
    with pytest.raises(TypeError, match="reset_state"):
        fo.sam(base, adv, reset_state="yes")
    with pytest.raises(TypeError, match="batch_axis_name"):
        fo.sam(base, adv, opaque_mode=True, batch_axis_name=3)
    for kw in ({"rho": 0.1}, {"adaptive": True}, {"eps": 0.0}):
        with pytest.raises(TypeError, match="rho, adaptive and eps"):
            fo.sam(base, adv, **kw)
    with pytest.raises(TypeError, match="sync_period"):
        fo.sam(base, 0.05, sync_period=3)
    with pytest.raises(TypeError, match="opaque_mode"):
        fo.sam(base, rho=0.05, opaque_mode=True)
    with pytest.raises(TypeError, match="rho given twice"):
        fo.sam(base, 0.1, rho=0.2)
    with pytest.raises(TypeError, match="adv_optimizer"):
        fo.sam(base, lambda count: 0.1)
    opaque = fo.sam(base, adv, opaque_mode=True)
    with pytest.raises(ValueError, match="grad_fn"):
        opaque.update(p, opaque.init(p), p)
    transparent = fo.sam(base, adv)
    with pytest.raises(ValueError, match="params"):
        transparent.update(p, transparent.init(p))
