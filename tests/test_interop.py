"""functional_opt inside flax NNX, flax linen and equinox training code, checked against optax.

The examples (``examples/flax_nnx_digits.py``, ``flax_linen_digits.py``,
``equinox_digits.py``) run in ``--quick`` mode and exit 0 only when their
losses and parameters equal optax.adamw's to ``TOL``. The other tests pin the
pieces a user relies on: ``value=`` forwarded by ``nnx.Optimizer.update`` to
``reduce_on_plateau``; masked weight decay and ``partition`` over NNX state
(paths ending in ``.value``); ``None`` leaves of ``eqx.filter``-ed models.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

pytest.importorskip("sklearn")  # the digits data of the examples
optax = pytest.importorskip("optax")

# flax 0.12.0 (the floor in pyproject) uses jax.array_ref and jax.ArrayRef when flax.nnx is imported, which
# jax 0.8 deprecates (DeprecationWarning on import); later flax releases do not. These two messages are ignored
# here, nothing else.
pytestmark = pytest.mark.filterwarnings(r"ignore:jax\.(array_ref|ArrayRef) is deprecated:DeprecationWarning")

LR, WD = 0.1, 0.5


def _leaves_close(a, b, atol):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb) and la
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


# ---------------------------------------------------------------- the three examples, --quick


@pytest.mark.parametrize(
    "name, framework",
    [
        ("flax_nnx_digits", "flax"),
        ("flax_linen_digits", "flax"),
        ("equinox_digits", "equinox"),
    ],
)
def test_example_quick_matches_optax(name, framework, capsys):
    pytest.importorskip(framework)
    import importlib

    from examples import _digits

    example = importlib.import_module(f"examples.{name}")
    rc = example.main(["--quick"])
    out = capsys.readouterr().out
    assert rc == 0, out  # 0: losses and parameters equal optax.adamw's to the examples' TOL
    assert out.count("test accuracy") == 2 and f"{_digits.QUICK_STEPS} steps" in out
    # 20 steps of a fresh MLP on the digits already learn something (chance is 0.1)
    acc = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if "test accuracy" in line]
    assert acc[0] == pytest.approx(acc[1], abs=1e-3) and acc[0] > 0.5


# ---------------------------------------------------------------- flax NNX


@pytest.fixture(scope="module")
def nnx_example():
    pytest.importorskip("flax")
    from examples import flax_nnx_digits

    return flax_nnx_digits


def test_nnx_optimizer_forwards_value_to_reduce_on_plateau(nnx_example):
    """``optimizer.update(model, grads, value=loss)`` reaches ``reduce_on_plateau``; its scale follows optax's."""
    make_fo = lambda: fo.chain(fo.adam(3e-3), fo.reduce_on_plateau(factor=0.5, patience=2))
    make_optax = lambda: optax.chain(optax.adam(3e-3), optax.contrib.reduce_on_plateau(factor=0.5, patience=2))
    ours, theirs = nnx_example._digits.compare_with_optax(nnx_example.train, make_fo, make_optax, steps=30)
    scale = float(fo.current_hyperparams(ours.opt_state)["plateau_scale"])
    assert scale < 0.1  # the minibatch loss plateaus within 30 steps: several halvings, so value= was read
    assert scale == float(theirs.opt_state[1].scale)
    np.testing.assert_allclose(ours.losses, theirs.losses, rtol=0, atol=1e-5)
    _leaves_close(ours.params, theirs.params, 1e-5)


def _nnx_model_and_grads(nnx_example, zero=False):
    from flax import nnx

    model = nnx_example.MLP(rngs=nnx.Rngs(1), width=8)
    for layer in (model.hidden, model.out):  # nonzero biases, so that decaying them would show
        layer.bias[...] = jnp.full_like(layer.bias[...], 0.5)
    x = jnp.linspace(-1.0, 1.0, 3 * 64, dtype=jnp.float32).reshape(3, 64)
    y = jnp.array([1, 4, 7])
    grads = nnx.grad(lambda m: nnx_example._digits.cross_entropy(m(x), y))(model)
    if zero:
        grads = jax.tree.map(jnp.zeros_like, grads)
    return model, grads


def _nnx_steps(nnx_example, tx, n=2, zero=False):
    from flax import nnx

    model, grads = _nnx_model_and_grads(nnx_example, zero)
    before = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = nnx.jit(lambda model, optimizer, grads: optimizer.update(model, grads))
    for _ in range(n):
        step(model, optimizer, grads)
    return before, nnx.to_pure_dict(nnx.state(model, nnx.Param))


def test_nnx_masked_weight_decay_decays_kernels_only(nnx_example):
    """With zero gradients only the decay acts: kernels shrink by ``1 - lr * wd`` per step, biases stay put."""
    mask = fo.labels_by_regex([(".*bias", False)], default=True)  # NNX paths end in ".value"; the pattern omits it
    before, after = _nnx_steps(nnx_example, fo.adamw(LR, weight_decay=WD, mask=mask), n=2, zero=True)
    for layer in ("hidden", "out"):
        np.testing.assert_allclose(after[layer]["kernel"], before[layer]["kernel"] * (1 - LR * WD) ** 2, rtol=1e-6)
        np.testing.assert_array_equal(after[layer]["bias"], before[layer]["bias"])
    # the same mask with real gradients equals optax.adamw's
    _, ours = _nnx_steps(nnx_example, fo.adamw(LR, weight_decay=WD, mask=mask), n=3)
    _, theirs = _nnx_steps(nnx_example, optax.adamw(LR, weight_decay=WD, mask=mask), n=3)
    # optax's bias corrections 1 - b**t are rounded to float32 (1 - 0.999 is off by 1.3e-5 relative), ours are
    # not: at lr 0.1 the parameters differ by up to ~2e-6
    _leaves_close(ours, theirs, 1e-5)


def test_nnx_partition_by_regex_on_variable_paths(nnx_example):
    """``partition`` by ``labels_by_regex(".*bias")`` over NNX state equals optax.multi_transform with given labels."""
    labels = fo.labels_by_regex({".*bias": "bias"}, default="weights")
    tx = fo.partition({"bias": fo.sgd(LR), "weights": fo.adam(LR)}, labels)
    explicit = {layer: {"bias": "bias", "kernel": "weights"} for layer in ("hidden", "out")}
    before, ours = _nnx_steps(nnx_example, tx, n=2)
    # optax on the plain dict of arrays (no NNX), the independent reference
    from flax import nnx

    _, grads = _nnx_model_and_grads(nnx_example)
    g = nnx.to_pure_dict(nnx.state(grads, nnx.Param))
    p = before
    ref = optax.multi_transform(  # optax.partition from 0.2.5 on; the floor is 0.2.4
        {"bias": optax.sgd(LR), "weights": optax.adam(LR)}, explicit
    )
    s = ref.init(p)
    for _ in range(2):
        u, s = ref.update(g, s, p)
        p = optax.apply_updates(p, u)
    _leaves_close(ours, p, 1e-5)  # optax's float32 bias correction: see the test above
    # the biases took plain sgd steps: exactly lr * g twice
    np.testing.assert_allclose(ours["out"]["bias"], before["out"]["bias"] - 2 * LR * g["out"]["bias"], atol=1e-7)


# ---------------------------------------------------------------- equinox


@pytest.mark.parametrize("which", ["adamw_masked", "sgd_momentum"])
def test_equinox_filtered_none_leaves_match_optax(which):
    """``opt.init/update`` on ``eqx.filter(model, eqx.is_inexact_array)`` (``None`` where the activations were)."""
    eqx = pytest.importorskip("equinox")
    mask = fo.labels_by_regex([(".*bias", False)], default=True)  # paths "layers.0.weight", "layers.0.bias", ...
    ours, theirs = {
        "adamw_masked": (fo.adamw(LR, weight_decay=WD, mask=mask), optax.adamw(LR, weight_decay=WD, mask=mask)),
        "sgd_momentum": (fo.sgd(LR, momentum=0.9, nesterov=True), optax.sgd(LR, momentum=0.9, nesterov=True)),
    }[which]
    model0 = eqx.nn.MLP(4, 3, width_size=5, depth=1, key=jax.random.PRNGKey(0))
    params0 = eqx.filter(model0, eqx.is_inexact_array)
    is_none = lambda x: x is None
    assert any(leaf is None for leaf in jax.tree.leaves(params0, is_leaf=is_none))  # the activation functions
    x = jnp.linspace(-1.0, 1.0, 8, dtype=jnp.float32).reshape(2, 4)

    @eqx.filter_jit
    def step(model, state, opt):
        grads = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(x) ** 2))(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, updates

    runs = []
    for opt in (ours, theirs):
        model, state = model0, opt.init(params0)
        for _ in range(3):
            model, state, updates = step(model, state, opt)
        runs.append((model, state, updates))
    (model, state, updates), (ref_model, _, _) = runs
    # the updates keep the filtered model's structure, None leaves included; non-array leaves are untouched
    assert jax.tree.structure(updates, is_leaf=is_none) == jax.tree.structure(params0, is_leaf=is_none)
    assert model.activation is model0.activation
    moments = [leaf for leaf in jax.tree.leaves(state, is_leaf=is_none) if leaf is None]
    assert moments  # the moments (mu/nu, the momentum trace) carry the None leaves too
    _leaves_close(eqx.filter(model, eqx.is_inexact_array), eqx.filter(ref_model, eqx.is_inexact_array), 1e-5)
    assert float(jnp.max(jnp.abs(model.layers[0].weight - model0.layers[0].weight))) > 1e-2  # it moved
    # fo.apply_updates keeps None leaves None as well, so eqx.combine puts the model back together
    applied = eqx.combine(fo.apply_updates(eqx.filter(model0, eqx.is_inexact_array), updates), model0)
    assert applied.activation is model0.activation


# ---------------------------------------------------------------- the README section


def test_readme_interop_section_runs(capsys):
    """The three snippets of "Using it with flax / equinox" run as written, in one namespace."""
    import pathlib
    import re

    pytest.importorskip("flax")
    pytest.importorskip("equinox")
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    if "<!-- section: interop" not in text:
        pytest.skip("the README's interop section is not merged yet (draft: notes/readme_interop.md)")
    start = text.index("<!-- section: interop")
    end = text.find("<!-- section:", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], flags=re.S)
    assert len(blocks) == 3  # NNX, linen, equinox
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert "plateau scale 1.0" in capsys.readouterr().out
    assert np.isfinite(float(namespace["loss"]))
