"""``fo.sharding``: state shardings, ZeRO stage 1, the data-parallel step, and their collectives.

The code runs in the child process with 8 simulated CPU devices (``tests/conftest.py``'s
``devices8``; see ``tests/test_sharding_state.py``). References are independent code paths: ``jax.jit``'s
own output shardings, bytes computed from the shapes, the single-device ``fo.make_train_step`` on the whole
batch, and the compiled HLO text.
"""

from __future__ import annotations


def test_sharding_module(devices8):
    devices8.run(
        """
        import re
        import sys

        import jax
        import jax.numpy as jnp
        import numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        import functional_opt as fo
        from functional_opt import sharding as fs

        assert jax.device_count() == 8
        bad = []
        mesh = Mesh(np.array(jax.devices()), ("data",))  # automatic sharding axes
        rng = np.random.default_rng(0)
        specs = {"w": P("data", None), "v": P(None, "data"), "b": P()}
        host = {
            "w": rng.normal(size=(64, 32)).astype(np.float32),
            "v": rng.normal(size=(16, 64)).astype(np.float32),
            "b": rng.normal(size=(32,)).astype(np.float32),
        }
        sp = {k: jax.device_put(x, NamedSharding(mesh, specs[k])) for k, x in host.items()}

        def collectives(txt, op):
            # the result shape of every `op` instruction of an HLO module's text
            return [
                l.split("=", 1)[1].split(op)[0].strip()
                for l in txt.splitlines()
                if re.search(rf"\\s{op}(-start)?\\(", l)
            ]

        # 1. state_shardings equals what jit gives the state, and works as out_shardings
        elementwise = {
            "adam": fo.adam(1e-3),
            "adamw": fo.adamw(1e-3, weight_decay=1e-2),
            "sgd_momentum": fo.sgd(1e-3, momentum=0.9),
            "lion": fo.lion(1e-3),
            "rmsprop": fo.rmsprop(1e-3),
        }
        for name, opt in {**elementwise, "lamb": fo.lamb(1e-3)}.items():
            want = fs.state_shardings(opt, sp)
            got = jax.jit(opt.init)(sp)
            for (path, x), sh in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(want)):
                if not x.sharding.is_equivalent_to(sh, x.ndim):
                    bad.append(f"state_shardings {name}{jax.tree_util.keystr(path)}: {sh} but jit gives {x.sharding}")
            placed = jax.jit(opt.init, out_shardings=want)(sp)
            assert jax.tree.structure(placed) == jax.tree.structure(got)
        abstract = {k: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) for k, x in sp.items()}
        sh = fs.state_shardings(fo.adam(1e-3), abstract)
        assert sh[0].mu["v"].spec == P(None, "data") and sh[0].count.is_fully_replicated, sh

        # 2. no all-gather of a whole parameter for elementwise rules: init + update under sharded params
        for name, opt in elementwise.items():
            txt = jax.jit(lambda p, g: opt.update(g, opt.init(p), p)).lower(sp, sp).compile().as_text()
            whole = [s for s in collectives(txt, "all-gather") if re.match(r"f32\\[(64,32|16,64)\\]", s)]
            if whole:
                bad.append(f"{name}: all-gather of a whole parameter in init+update: {whole}")
        # the HLO scan can fail: a rule that needs a whole leaf gathers it (Shampoo's mode products)
        txt = jax.jit(lambda p, g: fo.shampoo(1e-3).update(g, fo.shampoo(1e-3).init(p), p)).lower(sp, sp)
        assert collectives(txt.compile().as_text(), "all-gather"), "expected Shampoo to gather"
        # a trust ratio and factored moments are reductions: all-reduces, no gather
        for name, opt in {"lamb": fo.lamb(1e-3), "adafactor": fo.adafactor(1e-3)}.items():
            txt = jax.jit(lambda p, g: opt.update(g, opt.init(p), p)).lower(sp, sp).compile().as_text()
            assert collectives(txt, "all-reduce") and not collectives(txt, "all-gather"), f"{name}: reduce, not gather"

        # 3. ZeRO-1 shardings: params replicated over data, big state leaves split along their largest
        # divisible dimension, small leaves and counts replicated
        zp = {"w": host["w"], "v": np.zeros((24, 128), np.float32), "b": host["b"]}
        zp["odd"] = np.zeros((33, 35), np.float32)
        p_sh, s_sh = fs.zero_shardings(fo.adam(1e-3), zp, mesh)
        assert all(s.spec == P() for s in jax.tree.leaves(p_sh)), p_sh
        mu = s_sh[0].mu
        got = (mu["w"].spec, mu["v"].spec, mu["b"].spec, mu["odd"].spec, s_sh[0].count.spec)
        assert got == (P("data"), P(None, "data"), P(), P(), P()), got
        p_sh, s_sh = fs.zero_shardings(fo.adam(1e-3), sp, mesh)  # sharded params: the data axis is dropped
        assert p_sh["w"].spec == P() and s_sh[0].mu["w"].spec == P("data"), (p_sh, s_sh)

        # 4. the data-parallel step (replicated and ZeRO-1) equals the single-device step on the whole batch
        def loss(p, x, y):
            h = jnp.tanh(x @ p["w1"] + p["b1"])
            return jnp.mean((h @ p["w2"] - y) ** 2)

        mp = {
            "w1": rng.normal(size=(16, 256)).astype(np.float32) * 0.3,
            "b1": np.zeros((256,), np.float32),
            "w2": rng.normal(size=(256, 64)).astype(np.float32) * 0.1,
        }
        xs = rng.normal(size=(4, 32, 16)).astype(np.float32)
        ys = rng.normal(size=(4, 32, 64)).astype(np.float32)
        replicated_bytes = (16 * 256 + 256 + 256 * 64) * 4  # per moment
        optimizers = {
            "adam": fo.adam(1e-2),
            "adamw": fo.adamw(1e-2, weight_decay=0.1),
            "sgd_momentum": fo.sgd(0.1, momentum=0.9),
        }
        worst, final = 0.0, {}
        for name, opt in optimizers.items():
            ref_p, ref_s = jax.tree.map(jnp.asarray, mp), opt.init(jax.tree.map(jnp.asarray, mp))
            ref_step = fo.make_train_step(loss, opt)
            ref_losses = []
            for x, y in zip(xs, ys):
                ref_p, ref_s, v = ref_step(ref_p, ref_s, x, y)
                ref_losses.append(float(v))
            results, nbytes = {}, {}
            for zero in (False, True):
                p, s = fs.prepare(opt, mp, mesh, zero=zero)
                nbytes[zero] = fs.per_device_bytes(s)
                step = fs.make_train_step(loss, opt, mesh, zero=zero)
                losses = []
                for x, y in zip(xs, ys):
                    p, s, v = step(p, s, x, y)
                    losses.append(float(v))
                results[zero] = (p, s, losses)
                for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(ref_p)):
                    worst = max(worst, float(np.max(np.abs(np.asarray(a) - np.asarray(b)))))
                    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
                np.testing.assert_allclose(losses, ref_losses, rtol=1e-6, atol=1e-6)
                if zero:
                    w1_state = [x for x in jax.tree.leaves(s) if x.shape == (16, 256)]
                    assert w1_state and all(x.sharding.spec == P(None, "data") for x in w1_state), w1_state
                    assert p["w1"].sharding.is_fully_replicated
            final[name] = results[False][0]
            for a, b in zip(jax.tree.leaves(results[True][1]), jax.tree.leaves(results[False][1])):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
            # per-device bytes: every device holds 1/8 of the large leaves; b1 (256 < 1024) and counts replicated
            moments = 1 if name == "sgd_momentum" else 2
            rep, zer = nbytes[False], nbytes[True]
            assert len(set(rep.values())) == 1 and len(set(zer.values())) == 1, (rep, zer)
            scalars = rep[0] - moments * replicated_bytes
            large = (16 * 256 + 256 * 64) * 4 * moments
            assert zer[0] == large // 8 + moments * 256 * 4 + scalars, (name, rep, zer)
            print(f"{name}: per-device state bytes replicated {rep[0]}, ZeRO-1 {zer[0]} ({zer[0] / rep[0]:.3f})")
        print(f"data-parallel vs single device, max |diff| of params after 4 steps: {worst:.2e}")

        # exactly 1/8 when every leaf is large and divisible (counts aside)
        big = {"a": np.zeros((64, 128), np.float32), "c": np.zeros((8, 1024), np.float32)}
        state = fs.prepare(fo.adam(1e-3), big, mesh)[1]
        r = fs.per_device_bytes(state)[0]
        z = fs.per_device_bytes(fs.prepare(fo.adam(1e-3), big, mesh, zero=True)[1])[0]
        count_bytes = sum(x.nbytes for x in jax.tree.leaves(state) if x.ndim == 0)
        print(f"all leaves large: per-device state bytes replicated {r}, ZeRO-1 {z} (counts {count_bytes})")
        assert (z - count_bytes) * 8 == r - count_bytes, (r, z)

        # 5. the ZeRO-1 step's collectives: all-reduce of the gradients (XLA:CPU keeps all-reduce + slice; GPU
        # and TPU passes turn it into a reduce-scatter), then one all-gather per large parameter, of its new
        # value, never of the state (which stays split)
        opt = fo.adam(1e-2)
        p, s = fs.prepare(opt, mp, mesh, zero=True)
        step = fs.make_train_step(loss, opt, mesh, zero=True)
        txt = step.lower(p, s, xs[0], ys[0]).compile().as_text()
        gathered = sorted(re.sub(r"\\{.*", "", g) for g in collectives(txt, "all-gather"))
        assert gathered == ["f32[16,256]", "f32[256,64]"], gathered
        if collectives(txt, "reduce-scatter"):
            print("the gradient reduction is a reduce-scatter")

        # 6. a 2-D (data, model) mesh: params split over model, ZeRO-1 over data, same numbers
        mesh2 = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
        mspec = {"w1": P(None, "model"), "b1": P("model"), "w2": P("model", None)}
        mp2 = {k: jax.device_put(x, NamedSharding(mesh2, mspec[k])) for k, x in mp.items()}
        opt = fo.adam(1e-2)
        p_sh, s_sh = fs.zero_shardings(opt, mp2, mesh2)
        assert (p_sh["w1"].spec, s_sh[0].mu["w1"].spec) == (P(None, "model"), P(None, ("model", "data"))), s_sh
        assert s_sh[0].mu["w2"].spec == P(("model", "data")), s_sh[0].mu["w2"]
        for zero in (False, True):
            p, s = fs.prepare(opt, mp2, mesh2, zero=zero)
            step = fs.make_train_step(loss, opt, mesh2, zero=zero)
            for x, y in zip(xs, ys):
                p, s, v = step(p, s, x, y)
            assert p["w1"].sharding.spec == P(None, "model"), p["w1"].sharding
            ref = final["adam"]
            for k in mp:
                np.testing.assert_allclose(np.asarray(p[k]), np.asarray(ref[k]), rtol=1e-6, atol=1e-6)
            b = fs.per_device_bytes(s)
            print(f"2-D mesh zero={zero}: per-device state bytes {sorted(set(b.values()))}")

        # 7. an explicit-sharding mesh (jax.make_mesh's default) and has_aux
        AxisType = getattr(jax.sharding, "AxisType", None)
        if AxisType is not None:
            emesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
            opt = fo.adam(1e-2)
            p, s = fs.prepare(opt, mp, emesh, zero=True)
            step = fs.make_train_step(lambda p, x, y: (loss(p, x, y), 1.0), opt, emesh, zero=True, has_aux=True)
            for x, y in zip(xs, ys):
                p, s, v, aux = step(p, s, x, y)
            for k in mp:
                np.testing.assert_allclose(np.asarray(p[k]), np.asarray(final["adam"][k]), rtol=1e-6, atol=1e-6)

        print("\\n".join(bad))
        if bad:
            sys.exit(1)
        print("OK")
        """
    )
