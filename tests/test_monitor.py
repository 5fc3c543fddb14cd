"""fo.monitor (both forms), snapshot, measure_with_ema, monitor_metrics and the logger adapters.

Values against numpy float64 written out here (Adam and the norms by hand), optax's documented example
numbers, optax.tree.get on our states; the wrapped updates bit for bit equal to the unwrapped optimizer's.
"""

import functools
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

LR, B1, B2, EPS = 0.05, 0.9, 0.99, 1e-3
PARAMS = {"enc": {"w": jnp.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]])}, "head": jnp.array([0.3, -0.2, 0.1])}
GRADS = [
    {"enc": {"w": jnp.array([[1.0, -2.0, 0.5], [0.1, 0.0, 3.0]])}, "head": jnp.array([0.2, -0.4, 1.0])},
    {"enc": {"w": jnp.array([[-0.5, 1.0, 0.25], [2.0, -1.0, 0.0]])}, "head": jnp.array([1.5, 0.1, -0.3])},
    {"enc": {"w": jnp.array([[0.3, 0.3, -0.3], [1.0, 2.0, -2.0]])}, "head": jnp.array([-0.7, 0.9, 0.05])},
]
LEAVES = {"enc/w": ("enc", "w"), "head": ("head",)}


def get(tree, path):
    for k in path:
        tree = tree[k]
    return np.asarray(tree, np.float64)


def numpy_adam_metrics(steps):
    """Adam in float64 and, after each step, the monitor's metrics: {key: value} per step."""
    p = {k: get(PARAMS, path) for k, path in LEAVES.items()}
    mu = {k: np.zeros_like(v) for k, v in p.items()}
    nu = {k: np.zeros_like(v) for k, v in p.items()}
    out = []
    for t in range(1, steps + 1):
        g = {k: get(GRADS[t - 1], path) for k, path in LEAVES.items()}
        m = {}
        u = {}
        lr_sum, size = 0.0, 0
        for k in p:
            mu[k] = B1 * mu[k] + (1 - B1) * g[k]
            nu[k] = B2 * nu[k] + (1 - B2) * g[k] ** 2
            den = np.sqrt(nu[k] / (1 - B2**t)) + EPS
            u[k] = -LR * (mu[k] / (1 - B1**t)) / den
            m[f"grad_norm/{k}"] = np.linalg.norm(g[k])
            m[f"update_norm/{k}"] = np.linalg.norm(u[k])
            m[f"param_norm/{k}"] = np.linalg.norm(p[k])
            m[f"update_ratio/{k}"] = np.linalg.norm(u[k]) / np.linalg.norm(p[k])
            m[f"nonfinite_grads/{k}"] = 0.0
            m[f"lr_eff/{k}"] = np.mean(LR / den)
            lr_sum += np.sum(LR / den)
            size += den.size
        norm = lambda tree: np.sqrt(sum(np.sum(x**2) for x in tree.values()))  # noqa: E731
        m.update(
            grad_norm=norm(g),
            update_norm=norm(u),
            param_norm=norm(p),
            update_ratio=norm(u) / norm(p),
            nonfinite_grads=0.0,
            lr_eff=lr_sum / size,
        )
        out.append(m)
        p = {k: p[k] + u[k] for k in p}
    return out


def run(opt, steps=3, grads=GRADS, jit=False):
    update = jax.jit(opt.update) if jit else opt.update
    params, state = PARAMS, opt.init(PARAMS)
    history = []
    for g in grads[:steps]:
        u, state = update(g, state, params)
        params = fo.apply_updates(params, u)
        history.append((u, state))
    return history


ADAM = fo.adam(LR, b1=B1, b2=B2, eps=EPS)


@pytest.mark.parametrize(
    "opt",
    [
        fo.monitor(ADAM, learning_rate=LR, b2=B2, eps=EPS),
        fo.monitor(fo.inject_hyperparams(fo.adam)(learning_rate=LR, b1=B1, b2=B2, eps=EPS)),
    ],
    ids=["given", "injected"],
)
def test_adam_metrics_against_numpy(opt):
    want = numpy_adam_metrics(3)
    for (_, state), ref in zip(run(opt), want):
        got = fo.monitor_metrics(state)
        assert set(got) == set(ref)
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=2e-5, err_msg=k)


def bits(tree):
    return [np.asarray(x).view(np.uint32) for x in jax.tree.leaves(tree)]


def test_updates_are_bit_for_bit_the_inner_ones():
    grads = [*GRADS[:2], {"enc": {"w": GRADS[2]["enc"]["w"].at[0, 0].set(jnp.nan)}, "head": GRADS[2]["head"]}]
    for opt in (fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(LR, weight_decay=0.1)),):
        plain = run(opt, grads=grads, jit=True)
        watched = run(fo.monitor(opt), grads=grads, jit=True)
        for (u0, s0), (u1, s1) in zip(plain, watched):
            assert all(np.array_equal(a, b) for a, b in zip(bits(u0), bits(u1)))
            assert all(np.array_equal(a, b) for a, b in zip(bits(s0), bits(s1.inner_state)))


def test_nonfinite_counts_per_leaf_and_total():
    opt = fo.monitor(fo.sgd(0.1))
    g = {"enc": {"w": jnp.array([[jnp.nan, 1.0, jnp.inf], [0.0, -jnp.inf, 1.0]])}, "head": jnp.array([1.0, 2.0, 2.0])}
    _, state = opt.update(g, opt.init(PARAMS), PARAMS)
    m = fo.monitor_metrics(state)
    assert (m["nonfinite_grads/enc/w"], m["nonfinite_grads/head"], m["nonfinite_grads"]) == (3.0, 0.0, 3.0)
    assert m["grad_norm/head"] == 3.0 and np.isnan(m["grad_norm"])
    assert state.metrics["nonfinite_grads"].dtype == jnp.int32
    _, state = opt.update(GRADS[0], state, PARAMS)  # back to finite: the count is 0 again
    assert fo.monitor_metrics(state)["nonfinite_grads"] == 0.0


def test_lr_eff_sources():
    # a schedule given to the monitor is evaluated at the step just taken (0, 1, 2)
    sched = fo.linear_schedule(LR, 0.0, 10)
    sched_adam = fo.adam(sched, b1=B1, b2=B2, eps=EPS)
    state = run(fo.monitor(sched_adam, learning_rate=sched, b2=B2, eps=EPS), steps=2)[-1][1]
    nu = np.asarray(fo.find_states(state, fo.ScaleByAdamState)[0].nu["head"], np.float64)
    want = np.mean(float(sched(1)) / (np.sqrt(nu / (1 - B2**2)) + EPS))
    np.testing.assert_allclose(fo.monitor_metrics(state)["lr_eff/head"], want, rtol=1e-5)
    # a plain Adam whose learning rate the monitor was not given: NaN; no Adam state: no lr_eff
    assert np.isnan(fo.monitor_metrics(run(fo.monitor(ADAM), steps=1)[0][1])["lr_eff"])
    assert not any(k.startswith("lr_eff") for k in fo.monitor_metrics(run(fo.monitor(fo.lion(LR)), steps=1)[0][1]))
    # reduce_on_plateau's scale multiplies the learning rate
    opt = fo.monitor(fo.chain(ADAM, fo.reduce_on_plateau()), learning_rate=LR, b2=B2, eps=EPS)
    s = opt.init(PARAMS)
    s = s._replace(inner_state=(s.inner_state[0], s.inner_state[1]._replace(scale=jnp.asarray(0.5))))
    _, s = opt.update(GRADS[0], s, PARAMS, value=jnp.asarray(1.0))
    np.testing.assert_allclose(fo.monitor_metrics(s)["lr_eff"], 0.5 * numpy_adam_metrics(1)[0]["lr_eff"], rtol=1e-5)


def test_partition_masked_and_chain():
    """Adam on the encoder only: lr_eff for its leaves, NaN for the SGD group; the monitor also works nested."""
    inner = fo.partition({"adam": ADAM, "sgd": fo.sgd(0.1)}, {"enc": "adam", "head": "sgd"})
    m = fo.monitor_metrics(run(fo.monitor(inner, learning_rate=LR, b2=B2, eps=EPS), steps=2)[-1][1])
    want = numpy_adam_metrics(2)[-1]
    np.testing.assert_allclose(m["lr_eff/enc/w"], want["lr_eff/enc/w"], rtol=2e-5)
    np.testing.assert_allclose(m["lr_eff"], want["lr_eff/enc/w"], rtol=2e-5)  # the total: Adam's leaves only
    assert np.isnan(m["lr_eff/head"])
    nested = fo.chain(fo.clip_by_global_norm(10.0), fo.masked(fo.monitor(ADAM), {"enc": True, "head": False}))
    m = fo.monitor_metrics(run(nested, steps=1)[-1][1])
    assert set(m) == {
        f"{k}{leaf}"
        for k in ("grad_norm", "update_norm", "param_norm", "update_ratio", "nonfinite_grads", "lr_eff")
        for leaf in ("", "/enc/w")
    }
    np.testing.assert_allclose(m["grad_norm/enc/w"], numpy_adam_metrics(1)[0]["grad_norm/enc/w"], rtol=1e-6)


def test_per_leaf_false_every_and_no_params():
    ref = numpy_adam_metrics(3)
    hist = run(fo.monitor(ADAM, per_leaf=False, every=2, learning_rate=LR, b2=B2, eps=EPS))
    states = [s for _, s in hist]
    assert states[0].leaf_metrics.values == {} and jax.tree.leaves(states[0].leaf_metrics) == []
    got = [fo.monitor_metrics(s) for s in states]
    assert set(got[0]) == {"grad_norm", "update_norm", "param_norm", "update_ratio", "nonfinite_grads", "lr_eff"}
    for step, measured in ((0, 0), (1, 0), (2, 2)):  # measured on steps 0 and 2; step 1 keeps step 0's values
        for k in got[step]:
            np.testing.assert_allclose(got[step][k], ref[measured][k], rtol=2e-5, err_msg=f"{step} {k}")
    opt = fo.monitor(fo.sgd(0.1))
    _, s = opt.update(GRADS[0], opt.init(PARAMS))  # no params: param norms and ratios are NaN
    m = fo.monitor_metrics(s)
    assert np.isnan(m["param_norm"]) and np.isnan(m["update_ratio/head"]) and m["grad_norm"] > 0


def test_state_is_arrays_with_a_fixed_structure_under_jit_and_vmap():
    opt = fo.monitor(fo.inject_hyperparams(fo.adam)(learning_rate=LR))
    s0 = opt.init(PARAMS)
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(s0))
    # vmap over the injected learning rate (jitted): same structure, lr_eff scales with the rate
    lrs = jnp.array([0.01, 0.02])

    @jax.jit
    def step(lrs):
        states = jax.vmap(lambda lr: fo.set_hyperparam(s0, "learning_rate", lr))(lrs)
        _, states = jax.vmap(lambda st: opt.update(GRADS[0], st, PARAMS))(states)
        return states, jax.vmap(lambda st: fo.monitor_metrics(st, host=False))(states)

    states, metrics = step(lrs)
    assert jax.tree.structure(states) == jax.tree.structure(s0)
    np.testing.assert_allclose(metrics["lr_eff"][1] / metrics["lr_eff"][0], 2.0, rtol=1e-6)
    np.testing.assert_allclose(metrics["grad_norm"], numpy_adam_metrics(1)[0]["grad_norm"], rtol=1e-6)


def test_donated_train_step():
    """A state made by init or by an eager update donates each buffer once (one-leaf tree: total == leaf)."""
    opt = fo.monitor(ADAM)
    step = fo.make_train_step(lambda p, batch: jnp.sum((p - batch) ** 2), opt)
    p = jnp.ones(3)
    s = opt.init(p)
    p, s, _ = step(p, s, jnp.zeros(3))
    _, s = opt.update(jnp.ones(3), s, p)  # eagerly
    p, s, _ = step(p, s, jnp.zeros(3))
    assert fo.monitor_metrics(s)["grad_norm"] > 0


def test_flat_mode_smoke():
    flat_p = fo.flat.flatten_params(PARAMS, bucket_leaves=None)
    opt = fo.monitor(ADAM, learning_rate=LR, b2=B2, eps=EPS)
    s = opt.init(flat_p)
    u, s = jax.jit(opt.update)(fo.flat.flatten_params(GRADS[0], bucket_leaves=None), s, flat_p)
    m = fo.monitor_metrics(s)
    ref = numpy_adam_metrics(1)[0]
    for k in ("grad_norm", "update_norm", "param_norm", "update_ratio"):  # padding is zeros: totals agree
        np.testing.assert_allclose(m[k], ref[k], rtol=2e-5, err_msg=k)
    assert any(k.startswith("grad_norm/") for k in m)  # one entry per buffer


def test_bad_arguments():
    with pytest.raises(TypeError, match="inner"):
        fo.monitor(3)
    with pytest.raises(ValueError, match="every"):
        fo.monitor(ADAM, every=0)
    with pytest.raises(ValueError, match="learning_rate"):
        fo.monitor(ADAM, learning_rate=-1.0)
    with pytest.raises(TypeError, match="per_leaf"):
        fo.monitor(ADAM, per_leaf="yes")
    with pytest.raises(TypeError, match="measure"):
        fo.monitor({"x": 3})


# --- optax's form ---------------------------------------------------------------------------------


def optax_example(lib, monitor_mod, norm):
    """optax.monitor's documented example, run with ``lib`` (fo or optax)."""
    thresh = 1.0
    solver = lib.chain(
        lib.sgd(learning_rate=0.1, momentum=0.9),
        monitor_mod.monitor(
            {
                "norm_before_clip": norm,
                "is_clipped_ema": monitor_mod.measure_with_ema(lambda x: norm(x) > thresh, decay=0.9),
            }
        ),
        lib.clip_by_global_norm(thresh),
    )
    params = jnp.array([1.0, 2.0, 3.0])
    state = solver.init(params)
    out = []
    for _ in range(2):
        updates, state = solver.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        params = lib.apply_updates(params, updates)
        out.append((state, params))
    return out


def test_monitor_dict_form_is_optax_drop_in():
    optax = pytest.importorskip("optax")
    ours = optax_example(fo, fo.transforms, fo.global_norm)
    theirs = optax_example(optax, optax, optax.tree.norm)
    for (s, p), (ts, tp), want in zip(ours, theirs, [(7.48e-01, 0.0), (1.27e00, 5.26e-01)]):
        for name, w in zip(("norm_before_clip", "is_clipped_ema"), want):
            assert float(optax.tree.get(s, name)) == pytest.approx(w, rel=2e-3)
            np.testing.assert_allclose(optax.tree.get(s, name), optax.tree.get(ts, name), rtol=1e-6)
        np.testing.assert_allclose(p, tp, rtol=1e-6)
        assert fo.monitor_metrics(s) == pytest.approx({"norm_before_clip": want[0], "is_clipped_ema": want[1]}, 2e-3)
    assert isinstance(fo.find_states(ours[0][0], fo.MonitorState)[0], fo.MonitorState)


def test_monitor_dict_form_state_structure_is_fixed_and_measures_are_transforms():
    opt = fo.monitor({"n": fo.global_norm, "avg": fo.measure_with_ema(fo.global_norm, 0.5, debias=False)})
    s0 = opt.init(jnp.zeros(3))
    assert float(s0.measurements["n"]) == 0.0
    u, s1 = jax.jit(opt.update)(jnp.full(3, 2.0), s0)
    assert jax.tree.structure(s1) == jax.tree.structure(s0)
    np.testing.assert_array_equal(u, jnp.full(3, 2.0))  # passed through
    _, s2 = opt.update(jnp.zeros(3), s1)
    np.testing.assert_allclose([s2.measurements["avg"], s1.measurements["avg"]], [0.25 * 12**0.5, 0.5 * 12**0.5])


def test_snapshot_and_optax_tree_get():
    optax = pytest.importorskip("optax")
    opt = fo.chain(fo.scale(2.0), fo.snapshot("u", lambda u: jax.tree.map(jnp.sum, u)), fo.scale(-1.0))
    _, s = opt.update(PARAMS, opt.init(PARAMS))
    np.testing.assert_allclose(optax.tree.get(s, "u")["head"], 2 * 0.2)
    m = fo.monitor_metrics(s)
    assert set(m) == {"u/enc/w", "u/head"} and m["u/enc/w"] == pytest.approx(2 * 2.5)


def test_two_monitors_get_prefixed_keys_and_host_false_jits():
    opt = fo.partition({"a": fo.monitor(fo.sgd(0.1)), "b": fo.monitor(fo.sgd(0.2))}, {"enc": "a", "head": "b"})
    _, s = opt.update(GRADS[0], opt.init(PARAMS), PARAMS)
    m = fo.monitor_metrics(s)
    # each group's monitor sees its own leaves: per-leaf keys are unique, the totals get their state's path
    assert {"grad_norm/enc/w", "grad_norm/head", "inner_states/a/inner_state/grad_norm"} <= set(m)
    assert "grad_norm" not in m and len([k for k in m if k.endswith("/update_norm")]) == 2
    np.testing.assert_allclose(m["update_norm/head"], 0.2 * np.linalg.norm(GRADS[0]["head"]), rtol=1e-6)
    arrays = jax.jit(lambda st: fo.monitor_metrics(st, host=False))(s)
    assert set(arrays) == set(m) and all(arrays[k].shape == () for k in arrays)


# --- adapters ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def one_logged_state():
    opt = fo.monitor(fo.inject_hyperparams(fo.adam)(learning_rate=LR, b1=B1, b2=B2, eps=EPS))
    return run(opt, steps=1, jit=False)[0][1]


def read_event_scalars(path):
    """{tag: [(step, value)]} from a TensorBoard event file (TFRecord framing, tensorboardX's protobuf)."""
    from tensorboardX.proto import event_pb2

    out = {}
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack("<Q", data[pos : pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
        pos += 12 + n + 4
        for v in event.summary.value:
            out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_tensorboard_adapter(tmp_path):
    tbx = pytest.importorskip("tensorboardX")
    state = one_logged_state()
    writer = tbx.SummaryWriter(logdir=str(tmp_path))
    written = fo.monitor_to_tensorboard(writer, state, 7)
    writer.close()
    (event_file,) = [os.path.join(tmp_path, f) for f in os.listdir(tmp_path) if "tfevents" in f]
    scalars = read_event_scalars(event_file)
    ref = numpy_adam_metrics(1)[0]
    assert set(scalars) == {"optimizer/" + k for k in ref} == {"optimizer/" + k for k in written}
    for k, want in ref.items():
        ((step, got),) = scalars["optimizer/" + k]
        assert step == 7 and got == pytest.approx(want, rel=2e-5)


def test_mlflow_adapter(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a local file store under tmp_path
    state = one_logged_state()
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run() as active:
        fo.monitor_to_mlflow(state, 3, prefix="opt/")
    client = mlflow.tracking.MlflowClient()
    ref = numpy_adam_metrics(1)[0]
    for k in ("grad_norm/enc/w", "grad_norm", "lr_eff", "update_ratio/head"):
        (metric,) = client.get_metric_history(active.info.run_id, "opt/" + k.replace("/", "."))
        assert metric.step == 3 and metric.value == pytest.approx(ref[k], rel=2e-5)


def test_state_checkpoints(tmp_path):
    opt = fo.monitor(ADAM, learning_rate=LR)
    _, s = opt.update(GRADS[0], opt.init(PARAMS), PARAMS)
    fo.checkpoint.save(tmp_path / "ck", s)
    restored = fo.checkpoint.restore(tmp_path / "ck", opt.init(PARAMS))
    assert jax.tree.structure(restored) == jax.tree.structure(s)
    assert fo.monitor_metrics(restored) == fo.monitor_metrics(s)
