"""Optimizer state follows the params' sharding from ``init`` on.

Each test's code runs in the child process with 8 simulated CPU devices that
``tests/conftest.py`` (the ``devices8`` fixture) starts once per pytest process
(jax fixes its device count at start-up, so this session's single device
cannot be split). The code prints every failed check before exiting 1.

To keep the time low, every optimizer of the registry is traced into one
``jax.jit`` program per phase (init, sharded update, unsharded update): XLA
compiles one large program much faster than 64 small ones.
"""

from __future__ import annotations


def test_registry_state_follows_param_sharding(devices8):
    """Every registry optimizer: eager and jitted init, and one jitted update, keep each param's sharding.

    Only state leaves with their param's shape are checked against it (factored or per-axis statistics
    of other shapes are the partitioner's choice); scalar leaves (counts) must be replicated. The
    sharded run equals the unsharded one to 1e-6.
    """
    devices8.run(
        """
        import sys

        import jax
        import jax.numpy as jnp
        import numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        import functional_opt as fo
        from tests.registry import REGISTRY

        assert jax.device_count() == 8
        mesh = Mesh(np.array(jax.devices()), ("data",))
        specs = {"w": P("data", None), "b": P()}
        rng = np.random.default_rng(0)
        host_p = {"w": rng.normal(size=(64, 16)).astype(np.float32), "b": rng.normal(size=(16,)).astype(np.float32)}
        host_g = {"w": rng.normal(size=(64, 16)).astype(np.float32), "b": rng.normal(size=(16,)).astype(np.float32)}

        def shard(t):
            return {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in t.items()}

        sp, sg = shard(host_p), shard(host_g)
        up, ug = jax.tree.map(jnp.asarray, host_p), jax.tree.map(jnp.asarray, host_g)
        assert not sp["w"].sharding.is_fully_replicated and up["w"].sharding.num_devices == 1
        bad = []

        def check(name, what, tree):
            for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
                if not isinstance(x, jax.Array):
                    continue
                where = f"{name} {what} {jax.tree_util.keystr(path)}"
                key = next((k for k in sp if jax.tree_util.keystr(path).endswith(f"[{k!r}]")), None)
                if key is not None and x.shape == sp[key].shape:
                    if not x.sharding.is_equivalent_to(sp[key].sharding, x.ndim):
                        bad.append(f"{where}: {x.sharding} is not the param's {sp[key].sharding}")
                elif x.ndim == 0 and not (x.sharding.is_fully_replicated and x.sharding.is_fully_addressable):
                    bad.append(f"{where}: scalar not replicated: {x.sharding}")

        names = sorted(REGISTRY)
        opts = {n: REGISTRY[n].make(1e-3) for n in names}
        for n in names:
            check(n, "eager init", opts[n].init(sp))
        init_all = jax.jit(lambda p: {n: opts[n].init(p) for n in names})
        states = init_all(sp)
        for n in names:
            check(n, "jit init", states[n])

        @jax.jit
        def step(g, s, p):
            return {n: opts[n].update(g, s[n], p, **REGISTRY[n].extra) for n in names}

        out = step(sg, states, sp)
        ref = step(ug, init_all(up), up)
        for n in names:
            check(n, "update", out[n][1])
            check(n, "updates", out[n][0])
            for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(out[n])[0], jax.tree.leaves(ref[n])):
                try:
                    # MoMo's lower bound comes from inner products over the whole tree, summed in another
                    # order across shards: float32 rounding of a cancelling sum (measured 1e-4 relative)
                    rtol = 1e-3 if n in ("momo", "momo_adam") else 1e-6
                    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-6)
                except AssertionError as e:
                    bad.append(f"{n} sharded != unsharded at {jax.tree_util.keystr(path)}: {e}")

        # a bare ShapeDtypeStruct with a sharding (init outside eval_shape): concrete zeros with that sharding
        spec = NamedSharding(mesh, P("data", None))
        s = fo.adam(1e-3).init({"w": jax.ShapeDtypeStruct((64, 16), jnp.float32, sharding=spec)})
        assert s[0].mu["w"].sharding.is_equivalent_to(spec, 2), s[0].mu["w"].sharding
        assert float(jnp.abs(s[0].nu["w"]).sum()) == 0.0
        s = fo.adam(1e-3).init({"w": jax.ShapeDtypeStruct((3,), jnp.float32)})  # without a sharding
        assert s[0].mu["w"].shape == (3,)

        # complex params: a complex first moment and a real second moment, both with the param's sharding
        cp = {"w": jax.device_put(jnp.ones((64, 16), jnp.complex64), spec)}
        for what, s in [("eager", fo.adam(1e-3).init(cp)), ("jit", jax.jit(fo.adam(1e-3).init)(cp))]:
            mu, nu = s[0].mu["w"], s[0].nu["w"]
            assert mu.dtype == jnp.complex64 and nu.dtype == jnp.float32, (what, mu.dtype, nu.dtype)
            for x in (mu, nu):
                if not x.sharding.is_equivalent_to(spec, 2):
                    bad.append(f"complex adam {what}: {x.sharding}")

        print("\\n".join(bad))
        if bad:
            sys.exit(1)
        print("OK", len(names), "optimizers")
        """
    )


def test_explicit_mesh_state_keeps_sharding_type(devices8):
    """On an explicit-sharding mesh the state's type carries the param's sharding (``float32[2,8@x,4]``).

    ``init`` for every registry optimizer; one jitted update for Adam, SGD with momentum, AdamW and Lion;
    two updates of Shampoo and of ``per_layer`` (LAMB, Shampoo) on leaves split over their first axis,
    equal to the unsharded run.
    """
    devices8.run(
        """
        import sys

        import jax
        import jax.numpy as jnp
        import numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P

        import functional_opt as fo
        from tests.registry import REGISTRY

        AxisType = getattr(jax.sharding, "AxisType", None)
        if AxisType is None or not hasattr(jax, "typeof"):  # an older jax without explicit sharding
            print("OK (no explicit sharding in this jax)")
            sys.exit(0)
        mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Explicit,))
        p = {
            "w": jax.device_put(jnp.arange(64.0).reshape(2, 8, 4), NamedSharding(mesh, P(None, "x", None))),
            "b": jax.device_put(jnp.ones(4), NamedSharding(mesh, P())),
        }
        assert str(jax.typeof(p["w"])) == "float32[2,8@x,4]", jax.typeof(p["w"])
        bad = []

        def check(name, what, tree):
            for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
                ks = jax.tree_util.keystr(path)
                key = next((k for k in p if ks.endswith(f"[{k!r}]")), None)
                if key is not None and x.shape == p[key].shape:
                    want = jax.typeof(p[key]).sharding.spec
                    if jax.typeof(x).sharding.spec != want:
                        bad.append(f"{name} {what} {ks}: {jax.typeof(x)}, want spec {want}")

        opts = {
            "adam": fo.adam(1e-3),
            "sgd_momentum": fo.sgd(1e-3, momentum=0.9),
            "adamw": fo.adamw(1e-3, weight_decay=1e-2),
            "lion": fo.lion(1e-3),
        }
        for name, opt in opts.items():
            check(name, "eager init", opt.init(p))
            s = jax.jit(opt.init)(p)
            check(name, "jit init", s)
            with jax.sharding.use_mesh(mesh) if hasattr(jax.sharding, "use_mesh") else jax.set_mesh(mesh):
                check(name, "jit init under the mesh", jax.jit(opt.init)(p))
                u, s = jax.jit(opt.update)(p, s, p)
            check(name, "update", s)

        # every registry optimizer's init, eagerly and in one jitted program (its update may need
        # out_sharding annotations for sharded contractions, e.g. Muon's matrix products)
        # (not the 8-bit state: its block reshape of a split leaf needs out_sharding on explicit meshes, not yet
        # supported; on meshes with automatic axes it shards like the params, tests/test_quantized.py)
        opts = {n: e.make(1e-3) for n, e in REGISTRY.items() if "8bit" not in n}
        for n, opt in opts.items():
            check(n, "eager init", opt.init(p))
        for n, s in jax.jit(lambda q: {n: opt.init(q) for n, opt in opts.items()})(p).items():
            check(n, "jit init", s)

        # Shampoo's mode products and per_layer's vmap, split over the layer axis too: they run (eager init,
        # jitted init and updates) and equal the unsharded run
        host = {
            "layers": np.linspace(-1.0, 1.0, 8 * 16, dtype=np.float32).reshape(8, 16),
            "cube": np.cos(np.arange(8 * 4 * 3, dtype=np.float32)).reshape(8, 4, 3),
            "b": np.sin(np.arange(8, dtype=np.float32)),
            "deep": np.cos(np.arange(4 * 8 * 2, dtype=np.float32)).reshape(4, 8, 2),  # another layer count
        }
        specs = {"layers": P("x"), "cube": P("x"), "b": P("x"), "deep": P(None, "x")}
        q = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in host.items()}
        stacked = {"layers": True, "cube": True, "b": False, "deep": True}
        # per_layer with two layer counts (8 and 4): each layer's update is LAMB's on that layer alone
        opt = fo.per_layer(fo.lamb(1e-2), stacked=stacked)
        u, _ = jax.jit(opt.update)(q, opt.init(q), q)
        lamb = fo.lamb(1e-2)
        for k in ("layers", "cube", "deep"):
            for i in range(host[k].shape[0]):
                x = jnp.asarray(host[k][i])
                want, _ = lamb.update(x, lamb.init(x), x)
                np.testing.assert_allclose(np.asarray(u[k])[i], np.asarray(want), rtol=1e-5, atol=1e-7)
        for name, opt in {
            "shampoo": fo.shampoo(1e-2),
            "per_layer_lamb": fo.per_layer(fo.lamb(1e-2), stacked=stacked),
            "per_layer_shampoo": fo.per_layer(fo.shampoo(1e-2), stacked=stacked),
        }.items():
            ref_s = opt.init(host)
            for s in (opt.init(q), jax.jit(opt.init)(q)):
                upd, ref = jax.jit(opt.update), ref_s
                for _ in range(2):
                    u, s = upd(q, s, q)
                    ref_u, ref = upd(host, ref, host)
                check(name, "update", s)
                for k in q:
                    if jax.typeof(u[k]).sharding.spec != jax.typeof(q[k]).sharding.spec:
                        bad.append(f"{name} updates[{k!r}]: {jax.typeof(u[k])}, want {jax.typeof(q[k])}")
                    np.testing.assert_allclose(np.asarray(u[k]), np.asarray(ref_u[k]), rtol=1e-5, atol=1e-6)

        # noisy_sgd: the key is built in init, so eager and jitted init agree, and each init owns its key
        opt = fo.noisy_sgd(1e-3, key=3)
        a, b, c = opt.init(p), jax.jit(opt.init)(p), opt.init(p)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert all(x is not y for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(c)))

        print("\\n".join(bad))
        if bad:
            sys.exit(1)
        print("OK")
        """
    )
