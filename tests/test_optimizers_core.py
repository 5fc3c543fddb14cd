"""The tutorial's four optimizers against their formulas in numpy float64,
optax's sgd/adam/adamw/rmsprop differentially, and convergence checks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from tests.helpers import run_golden

STEPS = 12
SHAPES = {"scalar": (), "vector": (5,), "matrix": (3, 4)}


def init_np():
    rng = np.random.default_rng(0)
    return {k: rng.normal(size=s) for k, s in SHAPES.items()}


def grad_np(params, t):
    # gradient of sum(0.5 * c * p**2) plus a deterministic, step-dependent drift
    return {k: (i + 1.0) * p + 0.3 * np.sin(t + i) for i, (k, p) in enumerate(sorted(params.items()))}


def run_ours(opt, steps=STEPS):
    """The params after ``steps`` jitted steps on this module's gradient oracle."""
    return run_golden(opt, init_np(), steps, grad_fn=grad_np)[0][-1]


def lr_const(t):
    return 0.05


def lr_sched(t):
    return 0.1 * 0.8**t


def schedule_jax(count):
    return 0.1 * 0.8 ** count.astype(jnp.float32)


@pytest.mark.parametrize("scheduled", [False, True])
def test_gradient_descent_formula(scheduled):
    lr = lr_sched if scheduled else lr_const
    theta = init_np()
    for t in range(STEPS):
        g = grad_np(theta, t)
        theta = {k: theta[k] - lr(t) * g[k] for k in theta}  # theta <- theta - eta * grad
    ours = run_ours(fo.gradient_descent(schedule_jax if scheduled else 0.05))
    chex.assert_trees_all_close(ours, theta, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scheduled", [False, True])
def test_momentum_formula_learning_rate_inside(scheduled):
    lr = lr_sched if scheduled else lr_const
    gamma = 0.9
    theta = init_np()
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    for t in range(STEPS):
        g = grad_np(theta, t)
        v = {k: gamma * v[k] + lr(t) * g[k] for k in theta}  # v_t = gamma v_{t-1} + eta g_t
        theta = {k: theta[k] - v[k] for k in theta}  # theta_{t+1} = theta_t - v_t
    ours = run_ours(fo.momentum(schedule_jax if scheduled else 0.05, decay=gamma))
    chex.assert_trees_all_close(ours, theta, rtol=1e-5, atol=1e-6)


def test_momentum_differs_from_sgd_under_a_schedule():
    a = run_ours(fo.momentum(schedule_jax, decay=0.9))
    b = run_ours(fo.sgd(schedule_jax, momentum=0.9))
    assert max(np.abs(a[k] - b[k]).max() for k in a) > 1e-3
    # ...and equals it with a constant learning rate
    chex.assert_trees_all_close(run_ours(fo.momentum(0.05)), run_ours(fo.sgd(0.05, momentum=0.9)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scheduled", [False, True])
def test_rmsprop_formula(scheduled):
    lr = lr_sched if scheduled else lr_const
    beta, eps = 0.9, 1e-8
    theta = init_np()
    eg2 = {k: np.zeros_like(x) for k, x in theta.items()}
    for t in range(STEPS):
        g = grad_np(theta, t)
        eg2 = {k: beta * eg2[k] + (1 - beta) * g[k] ** 2 for k in theta}
        theta = {k: theta[k] - lr(t) / np.sqrt(eg2[k] + eps) * g[k] for k in theta}
    ours = run_ours(fo.rmsprop(schedule_jax if scheduled else 0.05, decay=beta, eps=eps))
    chex.assert_trees_all_close(ours, theta, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheduled", [False, True])
def test_adam_formula(scheduled):
    lr = lr_sched if scheduled else lr_const
    b1, b2, eps = 0.9, 0.999, 1e-8
    theta = init_np()
    m = {k: np.zeros_like(x) for k, x in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    for t in range(1, STEPS + 1):
        g = grad_np(theta, t - 1)
        m = {k: b1 * m[k] + (1 - b1) * g[k] for k in theta}
        v = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in theta}
        m_hat = {k: m[k] / (1 - b1**t) for k in theta}
        v_hat = {k: v[k] / (1 - b2**t) for k in theta}
        theta = {k: theta[k] - lr(t - 1) / (np.sqrt(v_hat[k]) + eps) * m_hat[k] for k in theta}
    ours = run_ours(fo.adam(schedule_jax if scheduled else 0.05, b1=b1, b2=b2, eps=eps))
    chex.assert_trees_all_close(ours, theta, rtol=1e-5, atol=1e-5)


def test_adamw_formula():
    b1, b2, eps, wd, lr = 0.9, 0.99, 1e-8, 0.1, 0.05
    theta = init_np()
    m = {k: np.zeros_like(x) for k, x in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    for t in range(1, STEPS + 1):
        g = grad_np(theta, t - 1)
        m = {k: b1 * m[k] + (1 - b1) * g[k] for k in theta}
        v = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in theta}
        theta = {
            k: theta[k] - lr * ((m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) + wd * theta[k])
            for k in theta
        }
    ours = run_ours(fo.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=wd))
    chex.assert_trees_all_close(ours, theta, rtol=1e-5, atol=1e-5)


def test_sgd_nesterov_formula():
    mu, lr = 0.9, 0.05
    theta = init_np()
    buf = {k: np.zeros_like(x) for k, x in theta.items()}
    for t in range(STEPS):
        g = grad_np(theta, t)
        buf = {k: mu * buf[k] + g[k] for k in theta}
        theta = {k: theta[k] - lr * (g[k] + mu * buf[k]) for k in theta}
    chex.assert_trees_all_close(run_ours(fo.sgd(lr, momentum=mu, nesterov=True)), theta, rtol=1e-5, atol=1e-6)


# --- differential against optax (same conventions), 50 steps ---


def _trajectory(opt, apply, steps=50):
    params = {k: jnp.asarray(x, jnp.float32) for k, x in init_np().items()}
    state = opt.init(params)
    step = jax.jit(lambda p, s, g: opt.update(g, s, p))
    for t in range(steps):
        g = {k: jnp.asarray(x, jnp.float32) for k, x in grad_np(jax.tree.map(np.asarray, params), t).items()}
        u, state = step(params, state, g)
        params = apply(params, u)
    return params


@pytest.mark.parametrize(
    "name, ours, theirs",
    [
        ("sgd", lambda o: fo.sgd(0.01), lambda o: o.sgd(0.01)),
        ("sgd_momentum", lambda o: fo.sgd(0.01, momentum=0.9), lambda o: o.sgd(0.01, momentum=0.9)),
        ("sgd_nesterov", lambda o: fo.sgd(0.01, 0.9, True), lambda o: o.sgd(0.01, 0.9, True)),
        ("adam", lambda o: fo.adam(1e-3), lambda o: o.adam(1e-3)),
        ("adam_nesterov", lambda o: fo.adam(1e-3, nesterov=True), lambda o: o.adam(1e-3, nesterov=True)),
        ("adamw", lambda o: fo.adamw(1e-3, weight_decay=0.1), lambda o: o.adamw(1e-3, weight_decay=0.1)),
        ("rmsprop", lambda o: fo.rmsprop(1e-3), lambda o: o.rmsprop(1e-3)),
        (
            "rmsprop_centered_momentum",
            lambda o: fo.rmsprop(1e-3, centered=True, momentum=0.9),
            lambda o: o.rmsprop(1e-3, centered=True, momentum=0.9),
        ),
    ],
)
def test_matches_optax(name, ours, theirs):
    optax = pytest.importorskip("optax")
    a = _trajectory(ours(optax), fo.apply_updates)
    b = _trajectory(theirs(optax), optax.apply_updates)
    # 1e-6 absolute over 50 steps. optax forms 1 - b2 in float32 (1.3e-5 relative
    # error), so for the Adam family the learning rate is kept small enough that
    # this known optax rounding stays below the tolerance.
    chex.assert_trees_all_close(a, b, atol=1e-6, rtol=0)


# --- convergence ---


def _minimize(opt, loss, x0, steps):
    state = opt.init(x0)

    def body(carry, _):
        x, s = carry
        g = jax.grad(loss)(x)
        u, s = opt.update(g, s, x)
        return (fo.apply_updates(x, u), s), None

    (x, _), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))((x0, state))
    return x


def bowl(x):
    return 0.5 * jnp.sum(jnp.array([1.0, 10.0]) * (x - jnp.array([1.0, -2.0])) ** 2)


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize(
    "opt",
    [
        fo.gradient_descent(0.1),
        fo.momentum(0.05),
        fo.rmsprop(0.01),
        fo.adam(0.05),
        fo.sgd(0.05, 0.9, True),
        fo.adamw(0.05, weight_decay=0.0),
    ],
    ids=["gd", "momentum", "rmsprop", "adam", "nesterov", "adamw"],
)
def test_quadratic_bowl(opt):
    x = _minimize(opt, bowl, jnp.zeros(2), 1000)
    np.testing.assert_allclose(np.asarray(x), [1.0, -2.0], atol=2e-2)


@pytest.mark.parametrize(
    "opt, steps",
    [(fo.adam(0.02), 5000), (fo.momentum(2e-4, 0.9), 20000), (fo.rmsprop(1e-3), 10000)],
    ids=["adam", "momentum", "rmsprop"],
)
def test_rosenbrock(opt, steps):
    x = _minimize(opt, rosenbrock, jnp.array([-1.2, 1.0]), steps)
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], atol=5e-2)


# --- masks: optax's prefix semantics ---


def test_adamw_prefix_mask_equals_masked():
    p = {"enc": {"w": jnp.full((2, 3), 2.0), "b": jnp.ones(3)}, "head": {"w": jnp.full((3,), -1.0)}}
    g = jax.tree.map(lambda x: 0.5 * jnp.ones_like(x), p)
    prefix = {"enc": False, "head": True}
    ours = fo.adamw(0.1, weight_decay=0.5, mask=prefix)
    ref = fo.chain(fo.scale_by_adam(), fo.masked(fo.add_decayed_weights(0.5), prefix), fo.scale_by_learning_rate(0.1))
    u, _ = ours.update(g, ours.init(p), p)
    chex.assert_trees_all_close(u, ref.update(g, ref.init(p), p)[0])
    assert not np.allclose(u["head"]["w"], fo.adam(0.1).update(g["head"]["w"], fo.adam(0.1).init(p["head"]["w"]))[0])
