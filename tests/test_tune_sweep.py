"""sweep: one compiled vmapped program equal to K x S sequential runs; chunks, devices, errors, reports."""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo
from functional_opt import tune

STEPS = 12
X = jax.random.normal(jax.random.key(42), (16, 3))
Y = X @ jnp.array([1.0, -2.0, 0.5]) + 0.3


def make_train_fn(counter=None):
    """A tiny linear regression trained with Adam for STEPS steps; returns the loss curve and the final loss."""

    def train_fn(hp, key):
        if counter is not None:
            counter.append(1)  # runs once per trace
        params = {"w": 0.1 * jax.random.normal(key, (3,)), "b": jnp.zeros(())}
        opt = fo.adam(hp["lr"], b1=hp["b1"])

        def loss_fn(p):
            return jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)

        def step(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p)
            u, s = opt.update(g, s, p)
            return (fo.apply_updates(p, u), s), loss

        (params, _), curve = jax.lax.scan(step, (params, opt.init(params)), None, length=STEPS)
        return {"curve": curve, "final": loss_fn(params)}

    return train_fn


CONFIGS = tune.grid(lr=[0.3, 0.03], b1=[0.9, 0.5])


def sequential(train_fn, configs, keys):
    """K x S separate runs, one jitted program with array hyperparameters."""
    run = jax.jit(train_fn)
    k_total = next(iter(configs.values())).shape[0]
    out = [[run({n: v[k] for n, v in configs.items()}, s) for s in keys] for k in range(k_total)]
    return {m: np.array([[np.asarray(o[m]) for o in row] for row in out]) for m in out[0][0]}


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_sweep_equals_sequential_runs(chunk_size):
    key = jax.random.key(7)
    counter = []
    r = tune.sweep(make_train_fn(counter), CONFIGS, seeds=2, key=key, chunk_size=chunk_size)
    assert len(counter) == 1  # one trace (so one compilation), whatever the number of chunks
    expected = sequential(make_train_fn(), CONFIGS, jax.random.split(key, 2))
    assert r.metrics["curve"].shape == (4, 2, STEPS) and r.metrics["final"].shape == (4, 2)
    for m in ("curve", "final"):
        np.testing.assert_allclose(r.metrics[m], expected[m], rtol=1e-5, atol=1e-6)
    assert r.seeds == 2 and r.num_configs == 4
    np.testing.assert_array_equal(r.configs["lr"], np.asarray(CONFIGS["lr"]))


def test_one_compilation_for_many_chunks():
    counter = []
    configs = tune.grid(lr=[0.3, 0.1, 0.03, 0.01, 0.003], b1=[0.9])
    r = tune.sweep(make_train_fn(counter), configs, chunk_size=2)  # 3 chunks, the last padded
    assert len(counter) == 1
    assert r.metrics["final"].shape == (5, 1)
    expected = sequential(make_train_fn(), configs, jax.random.split(jax.random.key(0), 1))
    np.testing.assert_allclose(r.metrics["final"], expected["final"], rtol=1e-5, atol=1e-6)


def test_static_hyperparameter_error_names_it():
    def train_fn(hp, key):
        w = jnp.zeros(int(hp["width"]))  # a shape from a swept value: cannot be traced
        return {"loss": hp["lr"] * jnp.sum(w)}

    with pytest.raises(tune.StaticHyperparameterError, match=r"'width'.*static value") as info:
        tune.sweep(train_fn, tune.grid(lr=[0.1, 0.2], width=[2, 3]))
    assert "'lr'" not in str(info.value)

    def loop_fn(hp, key):
        x = hp["lr"]
        for _ in range(hp["steps"]):
            x = x * 0.5
        return {"loss": x}

    with pytest.raises(tune.StaticHyperparameterError, match="'steps'"):
        tune.sweep(loop_fn, {"lr": [0.1], "steps": [3]})

    def branch_fn(hp, key):
        if hp["warmup"] > 0:  # a Python branch on a swept value
            return {"loss": hp["lr"] * 2.0}
        return {"loss": hp["lr"]}

    with pytest.raises(tune.StaticHyperparameterError, match="'warmup'") as info:
        tune.sweep(branch_fn, tune.grid(lr=[0.1], warmup=[0, 5]))
    assert "'lr'" not in str(info.value)


def test_other_errors_in_train_fn_propagate_unchanged():
    def bad(hp, key):
        return {"loss": jnp.ones(3) @ jnp.ones(4) * hp["lr"]}

    with pytest.raises(TypeError, match="dot_general") as info:
        tune.sweep(bad, {"lr": [0.1]})
    assert not isinstance(info.value, tune.StaticHyperparameterError)


def test_bad_arguments():
    f = lambda hp, key: {"loss": hp["lr"]}
    with pytest.raises(ValueError, match="seeds"):
        tune.sweep(f, {"lr": [0.1]}, seeds=0)
    with pytest.raises(ValueError, match="chunk_size"):
        tune.sweep(f, {"lr": [0.1]}, chunk_size=0)
    with pytest.raises(ValueError, match="lengths differ"):
        tune.sweep(f, {"lr": [0.1, 0.2], "wd": [0.0]})
    with pytest.raises(TypeError, match="dict of metrics"):
        tune.sweep(lambda hp, key: hp["lr"], {"lr": [0.1]})
    with pytest.raises(TypeError, match="compiler_options"):
        tune.sweep(f, {"lr": [0.1]}, compiler_options=[("xla_backend_optimization_level", 0)])
    with pytest.raises(TypeError, match="compiler_options"):
        tune.sweep(f, {"lr": [0.1]}, compiler_options={"xla_backend_optimization_level": [0]})


def test_one_xla_compilation_per_sweep_and_compiler_options_keep_results():
    """The seed keys are split inside the program: one XLA compilation in all; FAST_COMPILE changes speed only."""
    from functional_opt.tune.sweep import FAST_COMPILE

    compiles = []

    def on_event(event, duration_secs, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(1)

    key = jax.random.key(11)
    jax.monitoring.register_event_duration_secs_listener(on_event)
    try:
        r = tune.sweep(make_train_fn(), CONFIGS, seeds=2, key=key, compiler_options=FAST_COMPILE)
    finally:
        jax.monitoring.unregister_event_duration_listener(on_event)
    assert len(compiles) == 1
    expected = sequential(make_train_fn(), CONFIGS, jax.random.split(key, 2))
    for m in ("curve", "final"):
        np.testing.assert_allclose(r.metrics[m], expected[m], rtol=1e-5, atol=1e-6)


def noisy_quadratic(hp, key):
    """loss = (lr - 0.1)^2 + 0.01 * noise (seed dependent), acc = -loss."""
    loss = (hp["lr"] - 0.1) ** 2 + 0.01 * jax.random.normal(key)
    return {"loss": loss, "acc": -loss, "curve": loss * jnp.arange(1.0, 4.0)}


def test_best_table_records():
    configs = tune.grid(lr=[1.0, 0.1, 0.5], wd=[0.0])
    r = tune.sweep(noisy_quadratic, configs, seeds=3, key=jax.random.key(1))
    mean = r.metrics["loss"].mean(axis=1)
    best = r.best("loss")
    assert best.index == 1 and best.config == {"lr": 0.1, "wd": 0.0}
    assert best.value == pytest.approx(mean[1])
    assert r.best("acc", mode="max").index == 1
    assert r.best("loss", mode="max").index == 0
    assert r.best("loss", reduce="min").value == pytest.approx(r.metrics["loss"][1].min())
    assert r.best("curve").value == pytest.approx(r.metrics["curve"][1, :, -1].mean())  # a curve: its last value
    with pytest.raises(ValueError, match="mode"):
        r.best("loss", mode="lowest")
    with pytest.raises(KeyError, match="unknown metric"):
        r.best("nope")

    lines = r.table("loss").splitlines()
    assert lines[0].split() == ["rank", "lr", "wd", "loss"]
    assert [ln.split()[1] for ln in lines[1:]] == ["0.1", "0.5", "1"]  # best first
    std = r.metrics["loss"][1].std(ddof=1)
    assert f"{mean[1]:.4g} ± {std:.2g}" in lines[1]
    assert len(r.table("loss", top=2).splitlines()) == 3

    recs = r.to_records()
    assert len(recs) == 9
    assert recs[4] == {
        "lr": 0.1,
        "wd": 0.0,
        "config": 1,
        "seed": 1,
        "loss": pytest.approx(float(r.metrics["loss"][1, 1])),
        "acc": pytest.approx(float(r.metrics["acc"][1, 1])),
        "curve": pytest.approx(r.metrics["curve"][1, 1].tolist()),
    }


def test_nonfinite_runs_rank_last():
    r = tune.sweep(lambda hp, key: {"loss": jnp.log(hp["x"])}, {"x": [-1.0, 2.0, 3.0]})
    assert r.best("loss").index == 1 and r.best("loss", mode="max").index == 2


def test_plots_write_pngs(tmp_path):
    r = tune.sweep(make_train_fn(), CONFIGS, seeds=2)
    for path in (
        r.plot_curves("curve", str(tmp_path / "curves.png")),
        r.plot_heatmap("final", "lr", "b1", str(tmp_path / "heat.png")),
    ):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="curve"):
        r.plot_curves("final", str(tmp_path / "x.png"))
    with pytest.raises(KeyError, match="unknown hyperparameter"):
        r.plot_heatmap("final", "lr", "eps", str(tmp_path / "x.png"))


SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from functional_opt import tune
    from tests.test_tune_sweep import make_train_fn, sequential
    assert len(jax.local_devices()) == 8
    configs = tune.grid(lr=[0.3, 0.1, 0.03], b1=[0.9, 0.5])  # K = 6, padded to 8 per chunk
    counter = []
    r = tune.sweep(make_train_fn(counter), configs, seeds=2, chunk_size=4)  # rounded up to 8
    assert r.devices == 8 and len(counter) == 1
    expected = sequential(make_train_fn(), configs, jax.random.split(jax.random.key(0), 2))
    np.testing.assert_allclose(r.metrics["curve"], expected["curve"], rtol=1e-5, atol=1e-6)
    print("OK")
    """
)


def test_sweep_sharded_over_8_simulated_devices(devices8):
    assert devices8.run(SHARDED_SCRIPT).strip().endswith("OK")


def test_changing_hyperparameters_never_recompiles():
    params = {"w": jnp.ones((3,)), "b": jnp.zeros(())}
    traces = []

    @jax.jit
    def step(params, state, lr, b1, wd):
        traces.append(1)
        opt = fo.adamw(lr, b1=b1, weight_decay=wd)
        g = jax.grad(lambda p: jnp.sum((X @ p["w"] + p["b"] - Y) ** 2))(params)
        u, state = opt.update(g, state, params)
        return fo.apply_updates(params, u), state

    state = fo.adamw(0.1).init(params)
    for lr, b1, wd in zip([0.1, 0.03, 0.01, 3e-3, 1e-3], [0.9, 0.8, 0.95, 0.5, 0.99], [0.0, 1e-4, 1e-3, 1e-2, 0.1]):
        new_params, _ = step(params, state, jnp.float32(lr), jnp.float32(b1), jnp.float32(wd))
        assert np.isfinite(np.asarray(new_params["w"])).all()
    assert len(traces) == 1
    assert step._cache_size() == 1
