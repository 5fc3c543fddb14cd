"""The losses beyond cross entropy and regression (divergences, margin, sparsemax, CTC, Dice, ranking, contrastive):
each against a float64 numpy reference of its formula, against optax 0.2.8's function, and CTC against torch."""

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_opt as fo

L = fo.losses
RNG = np.random.default_rng(0)
ATOL = 1e-5


def close(a, b, atol=ATOL, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=atol, rtol=rtol)


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def run(f, *args, **kwargs):
    """``f(*args, **kwargs)`` compiled as one program (eager dispatch compiles every small op on its own)."""
    return jax.jit(lambda *a: f(*a, **kwargs))(*args)


def optax_or_skip():
    return pytest.importorskip("optax")


# ---------------------------------------------------------------- divergences


def test_kl_with_log_targets_and_generalized_kl():
    optax = optax_or_skip()
    logq = log_softmax(RNG.normal(size=(3, 4))).astype(np.float32)
    t = np.abs(RNG.normal(size=(3, 4))).astype(np.float32) + 0.1
    logt = np.log(t / t.sum(-1, keepdims=True)).astype(np.float32)
    lq, lt = logq.astype(np.float64), logt.astype(np.float64)
    ref = (np.exp(lt) * (lt - lq)).sum(-1)
    close(run(L.kl_divergence_with_log_targets, logq, logt), ref)
    close(
        run(L.kl_divergence_with_log_targets, logq, logt), run(optax.losses.kl_divergence_with_log_targets, logq, logt)
    )
    close(run(L.kl_divergence_with_log_targets, logq, logt, axis=0), (np.exp(lt) * (lt - lq)).sum(0))
    # a zero-probability target contributes 0 with a zero gradient (optax: NaN)
    logt0 = logt.copy()
    logt0[0, 1] = -np.inf
    v, g = jax.value_and_grad(lambda a, b: run(L.kl_divergence_with_log_targets, a, b).sum(), argnums=(0, 1))(
        logq, logt0
    )
    assert np.isfinite(v) and all(np.isfinite(x).all() for x in g)
    # generalized KL of unnormalized measures: sum t log(t/q) - t + q
    tt = t.astype(np.float64)
    ref_g = (tt * (np.log(tt) - lq) - tt + np.exp(lq)).sum(-1)
    close(run(L.generalized_kl_divergence, logq, t), ref_g)
    close(run(L.generalized_kl_divergence, logq, t), run(optax.losses.generalized_kl_divergence, logq, t))
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
        close(run(L.convex_kl_divergence, logq, t), ref_g)
    assert fo.convex_kl_divergence is L.convex_kl_divergence
    assert run(L.kl_divergence_with_log_targets, logq.astype(jnp.bfloat16), logt).dtype == jnp.float32  # promoted
    assert (
        run(L.kl_divergence_with_log_targets, logq.astype(jnp.bfloat16), logt.astype(jnp.bfloat16)).dtype
        == jnp.bfloat16
    )


# ---------------------------------------------------------------- cross-entropy variants


def test_safe_softmax_cross_entropy_and_poly_loss():
    optax = optax_or_skip()
    z = RNG.normal(size=(3, 5)).astype(np.float32)
    y = np.asarray(jax.nn.softmax(RNG.normal(size=(3, 5)))).astype(np.float32)
    ref = -(y * log_softmax(z)).sum(-1)
    close(run(L.safe_softmax_cross_entropy, z, y), ref)
    zm, ym = z.copy(), y.copy()
    zm[0, 2], ym[0, 2] = -np.inf, 0.0  # a masked class
    ym[0] /= ym[0].sum()
    zf = zm.astype(np.float64)
    zf[0, 2] = -1e300
    close(run(L.safe_softmax_cross_entropy, zm, ym), -(ym * log_softmax(zf)).sum(-1))
    close(run(L.safe_softmax_cross_entropy, zm, ym), run(optax.losses.safe_softmax_cross_entropy, zm, ym))
    grads = jax.jit(jax.grad(lambda a, b: L.safe_softmax_cross_entropy(a, b).sum(), argnums=(0, 1)))
    gz, gy = grads(zm, ym)
    assert np.isfinite(gz).all() and np.isfinite(gy).all()
    assert all(np.isfinite(g).all() for g in grads(zm * 1e4, ym))  # extreme logits
    close(gz, jax.grad(lambda a: run(optax.losses.safe_softmax_cross_entropy, a, ym).sum())(zm))

    p = np.exp(log_softmax(z))
    for eps in (2.0, -1.0):
        ref_p = -(y * log_softmax(z)).sum(-1) + eps * (y * (1 - p)).sum(-1)
        close(run(L.poly_loss_cross_entropy, z, y, epsilon=eps), ref_p)
        close(
            run(L.poly_loss_cross_entropy, z, y, epsilon=eps),
            run(optax.losses.poly_loss_cross_entropy, z, y, epsilon=eps),
        )
    where = RNG.uniform(size=z.shape) > 0.3
    where[:, 0] = True
    close(
        L.poly_loss_cross_entropy(z, y, where=where),
        run(optax.losses.poly_loss_cross_entropy, z, y, where=jnp.asarray(where)),
    )
    assert np.isfinite(jax.grad(lambda a: run(L.poly_loss_cross_entropy, a, y).sum())(z * 1e4)).all()
    with pytest.raises(TypeError, match="labels"):
        L.poly_loss_cross_entropy(z, np.array([0, 1, 2]))


# ---------------------------------------------------------------- margin and sparsemax


def sparsemax_ref(z):
    """Projection onto the simplex by bisection on the threshold (float64, independent of sorting)."""
    z = np.asarray(z, np.float64)
    lo, hi = z.min() - 1.0, z.max()
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        if np.maximum(z - tau, 0).sum() > 1:
            lo = tau
        else:
            hi = tau
    return np.maximum(z - 0.5 * (lo + hi), 0)


def test_margin_losses():
    optax = optax_or_skip()
    s = (RNG.normal(size=(2, 3, 4)) * 2).astype(np.float32)
    y = RNG.integers(0, 4, size=(2, 3))
    onehot = np.eye(4)[y]
    sf = s.astype(np.float64)
    s_y = (sf * onehot).sum(-1)
    close(run(L.multiclass_hinge_loss, s, y), (sf + 1 - onehot).max(-1) - s_y)
    close(run(L.multiclass_perceptron_loss, s, y), sf.max(-1) - s_y)
    s2, y2 = s[0], y[0]
    close(run(L.multiclass_hinge_loss, s2, y2), run(optax.losses.multiclass_hinge_loss, s2, y2))
    close(run(L.multiclass_perceptron_loss, s2, y2), run(optax.losses.multiclass_perceptron_loss, s2, y2))
    f = s[0, 0]
    t = np.where(RNG.uniform(size=4) > 0.5, 1.0, -1.0).astype(np.float32)
    close(run(L.perceptron_loss, f, t), np.maximum(0, -t * f))
    close(run(L.perceptron_loss, f, t), run(optax.losses.perceptron_loss, f, t))
    with pytest.raises(ValueError, match="labels must be in"):
        L.multiclass_hinge_loss(s2, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match="integer"):
        L.multiclass_perceptron_loss(s2, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="one shape"):
        L.perceptron_loss(f, t[:3])


def test_sparsemax_losses_and_fenchel_young():
    optax = optax_or_skip()
    s = (RNG.normal(size=(5, 4)) * 1.5).astype(np.float32)
    y = RNG.integers(0, 4, size=5)
    ref = []
    for row, lab in zip(s.astype(np.float64), y):
        p = sparsemax_ref(row)
        ref.append(p @ row + 0.5 * (1 - p @ p) - row[lab])
    close(run(L.multiclass_sparsemax_loss, s, y), ref)
    close(run(L.multiclass_sparsemax_loss, s, y), run(optax.losses.multiclass_sparsemax_loss, s, y))
    close(run(L.multiclass_sparsemax_loss, s.reshape(5, 1, 4), y.reshape(5, 1))[:, 0], ref)  # any batch axes
    g = jax.grad(lambda a: run(L.multiclass_sparsemax_loss, a, y).sum())(s)
    close(g, np.stack([sparsemax_ref(r) for r in s.astype(np.float64)]) - np.eye(4)[y])  # p - onehot
    assert np.isfinite(jax.grad(lambda a: run(L.multiclass_sparsemax_loss, a, y).sum())(s * 1e4)).all()

    z = np.array([-3.0, -1.0, -0.4, 0.0, 0.7, 1.0, 2.5], np.float32)
    for lab in (0, 1):
        x = np.where(lab, -z, z).astype(np.float64)
        ref_b = np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))
        close(run(L.sparsemax_loss, z, np.full(7, lab)), ref_b)
        close(run(L.sparsemax_loss, z, np.full(7, lab)), run(optax.losses.sparsemax_loss, z, np.full(7, lab)))
        gb = jax.grad(lambda a, lab=lab: run(L.sparsemax_loss, a, np.full(7, lab)).sum())(z)
        close(gb, np.clip((z + 1) / 2, 0, 1) - lab)

    fy = L.make_fenchel_young_loss(jax.scipy.special.logsumexp)
    targets = np.eye(4)[y].astype(np.float32)
    close(fy(s, targets), -(targets * log_softmax(s)).sum(-1))  # logsumexp: the cross entropy
    close(fy(s, targets), optax.losses.make_fenchel_young_loss(jax.scipy.special.logsumexp)(s, targets))
    close(fy(s[None], targets[None])[0], fy(s, targets))


# ---------------------------------------------------------------- CTC


def ctc_brute_force(logits, labels, blank):
    """-log sum over all T-frame alignments that collapse (merge repeats, drop blanks) to labels."""
    logp = log_softmax(logits)
    t, k = logp.shape
    total = -np.inf
    for path in itertools.product(range(k), repeat=t):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(labels):
            total = np.logaddexp(total, sum(logp[i, c] for i, c in enumerate(path)))
    return -total


CTC_B, CTC_T, CTC_K, CTC_N = 3, 5, 3, 3


def ctc_batch(blank):
    logits = RNG.normal(size=(CTC_B, CTC_T, CTC_K)).astype(np.float32)
    nonblank = [c for c in range(CTC_K) if c != blank]
    labels = np.array([[nonblank[0], nonblank[0], nonblank[1]], [nonblank[1], nonblank[0], 0], [nonblank[0], 0, 0]])
    label_pad = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 1]], np.float32)
    logit_pad = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 1]], np.float32)
    return logits, logit_pad, labels, label_pad


def test_ctc_loss_against_brute_force_optax_and_torch():
    optax = optax_or_skip()
    torch = pytest.importorskip("torch")
    for blank in (0, 2):
        logits, logit_pad, labels, label_pad = ctc_batch(blank)
        t_len = (CTC_T - logit_pad.sum(1)).astype(int)
        n_len = (CTC_N - label_pad.sum(1)).astype(int)
        ref = [ctc_brute_force(logits[b, : t_len[b]], labels[b, : n_len[b]], blank) for b in range(CTC_B)]
        args = (logits, logit_pad, labels, label_pad)
        loss, alpha_b, alpha_e = run(L.ctc_loss_with_forward_probs, *args, blank_id=blank)
        close(loss, ref)
        assert alpha_b.shape == (CTC_T, CTC_B, CTC_N + 1) and alpha_e.shape == (CTC_T, CTC_B, CTC_N)
        theirs = run(optax.losses.ctc_loss_with_forward_probs, *args, blank_id=blank)
        for ours, other in zip((loss, alpha_b, alpha_e), theirs):  # the forward probabilities too (log 0 = -1e5)
            assert ours.shape == other.shape
            close(ours, other, atol=1e-4)
        log_probs = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), -1).transpose(0, 1)  # (T, B, K)
        ref_t = torch.nn.functional.ctc_loss(
            log_probs,
            torch.tensor(labels, dtype=torch.long),
            torch.tensor(t_len),
            torch.tensor(n_len),
            blank=blank,
            reduction="none",
        )
        close(loss, ref_t.numpy())
    # gradients: equal to optax's, and finite at extreme logits
    grad = jax.jit(jax.grad(lambda z: L.ctc_loss(z, *args[1:], blank_id=2).sum()))
    g_o = jax.jit(jax.grad(lambda z: optax.losses.ctc_loss(z, *args[1:], blank_id=2).sum()))(logits)
    close(grad(logits), g_o, atol=1e-5)
    assert np.isfinite(grad(logits * 1e4)).all()


def test_ctc_loss_validation_and_jit():
    logits, logit_pad, labels, label_pad = ctc_batch(0)
    with pytest.raises(ValueError, match="logits"):
        L.ctc_loss(logits[0], logit_pad, labels, label_pad)
    with pytest.raises(ValueError, match="logit_paddings"):
        L.ctc_loss(logits, logit_pad[:, :3], labels, label_pad)
    with pytest.raises(ValueError, match="label_paddings"):
        L.ctc_loss(logits, logit_pad, labels, label_pad[:, :2])
    with pytest.raises(ValueError, match="blank_id"):
        L.ctc_loss(logits, logit_pad, labels, label_pad, blank_id=3)
    with pytest.raises(ValueError, match="right-padded"):
        L.ctc_loss(logits, logit_pad, labels, label_pad[:, ::-1])
    with pytest.raises(TypeError, match="integer"):
        L.ctc_loss(logits, logit_pad, labels.astype(np.float32), label_pad)
    jitted = jax.jit(L.ctc_loss)(logits, logit_pad, labels, label_pad)
    close(jitted[0], ctc_brute_force(logits[0], labels[0], 0))  # example 0 has no padding
    assert run(L.ctc_loss, logits.astype(jnp.bfloat16), logit_pad, labels, label_pad).dtype == jnp.bfloat16


# ---------------------------------------------------------------- Dice


def dice_ref(probs, t, alpha=0.5, beta=0.5, smooth=1.0, axis=(1, 2)):
    inter = (probs * t).sum(axis)
    ps, ts = probs.sum(axis), t.sum(axis)
    return 1 - (inter + smooth) / (inter + alpha * (ps - inter) + beta * (ts - inter) + smooth)


def test_dice_family():
    optax = optax_or_skip()
    x = RNG.normal(size=(2, 3, 4, 3)).astype(np.float32)
    t = np.eye(3)[RNG.integers(0, 3, size=(2, 3, 4))].astype(np.float32)
    probs = np.exp(log_softmax(x))
    per_class = dice_ref(probs, t)  # (2, 3)
    close(run(L.dice_loss, x, t), per_class.mean(-1))
    close(run(L.dice_loss, x, t, reduction="none"), per_class)
    close(run(L.dice_loss, x, t, alpha=0.3, beta=0.7, reduction="sum"), dice_ref(probs, t, 0.3, 0.7).sum(-1))
    w = np.array([1.0, 2.0, 0.5], np.float32)
    close(run(L.dice_loss, x, t, class_weights=w, ignore_background=True), (per_class * w)[:, 1:].mean(-1))
    close(run(L.dice_loss, probs.astype(np.float32), t, apply_softmax=False), per_class.mean(-1))
    for kw in ({}, {"alpha": 0.3, "beta": 0.7, "reduction": "sum"}, {"axis": (1,), "reduction": "none"}):
        close(run(L.dice_loss, x, t, **kw), run(optax.losses.dice_loss, x, t, **kw))

    freq = t.sum((0, 1, 2))
    wg = 1 / (freq**2 + 1e-7)
    wg = wg / wg.sum() * 3
    close(run(L.multiclass_generalized_dice_loss, x, t), (per_class * wg).mean())
    close(run(L.multiclass_generalized_dice_loss, x, t), run(optax.losses.multiclass_generalized_dice_loss, x, t))

    xb, tb = x[..., 0], t[..., 0]
    ref_b = dice_ref(1 / (1 + np.exp(-xb.astype(np.float64)))[..., None], tb[..., None])[:, 0]
    close(run(L.binary_dice_loss, xb, tb), ref_b)
    close(run(L.binary_dice_loss, xb, tb), run(optax.losses.binary_dice_loss, xb, tb))
    close(run(L.binary_dice_loss, xb[..., None], tb[..., None]), ref_b)
    # apply_sigmoid=False takes probabilities in [0, 1] (optax rejects any that are not all ones)
    close(run(L.binary_dice_loss, np.asarray(jax.nn.sigmoid(xb)), tb, apply_sigmoid=False), ref_b)
    assert np.isfinite(jax.grad(lambda a: run(L.dice_loss, a, t).sum())(x * 1e4)).all()
    with pytest.raises(ValueError, match="reduction"):
        L.dice_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match="summing to 1"):
        L.dice_loss(x, t, apply_softmax=False)
    with pytest.raises(ValueError, match="one shape"):
        L.dice_loss(x, t[..., :2])


# ---------------------------------------------------------------- ranking


def test_ranking_softmax_loss():
    optax = optax_or_skip()
    s = RNG.normal(size=(4, 5)).astype(np.float32)
    y = RNG.integers(0, 3, size=(4, 5)).astype(np.float32)
    wts = RNG.uniform(size=(4, 5)).astype(np.float32)
    where = RNG.uniform(size=(4, 5)) > 0.3
    where[2] = False  # a list without a valid item
    where[[0, 1, 3], 0] = True

    def ref(s, y, where=None, weights=None):
        out = []
        for i in range(s.shape[0]):
            m = np.ones(s.shape[1], bool) if where is None else where[i]
            if not m.any():
                out.append(0.0)
                continue
            yy = y[i] * (1 if weights is None else weights[i])
            out.append(-(yy[m] * log_softmax(s[i][m])).sum())
        return np.array(out)

    close(run(L.ranking_softmax_loss, s, y), ref(s, y).mean())
    close(run(L.ranking_softmax_loss, s, y, reduce_fn=None), ref(s, y))
    close(run(L.ranking_softmax_loss, s, y, where=where), ref(s, y, where)[[0, 1, 3]].mean())
    close(run(L.ranking_softmax_loss, s, y, where=where, weights=wts, reduce_fn=jnp.sum), ref(s, y, where, wts).sum())
    close(run(L.ranking_softmax_loss, s, y, where=where, reduce_fn=None), ref(s, y, where))
    for kw in ({}, {"where": where}, {"where": where, "weights": wts, "reduce_fn": None}):
        close(run(L.ranking_softmax_loss, s, y, **kw), run(optax.losses.ranking_softmax_loss, s, jnp.asarray(y), **kw))
    close(run(L.ranking_softmax_loss, s, y, where=np.zeros_like(where)), 0.0)  # no valid list: 0, not NaN
    g = jax.grad(lambda a: run(L.ranking_softmax_loss, a, y, where=where))(s * 1e4)
    assert np.isfinite(g).all()
    with pytest.raises(ValueError, match="where"):
        L.ranking_softmax_loss(s, y, where=where[:, :3])


# ---------------------------------------------------------------- contrastive


def ntxent_ref(e, labels, temp):
    e = np.asarray(e, np.float64)
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    s = u @ u.T / temp
    losses = []
    for i, j in itertools.permutations(range(len(labels)), 2):
        if labels[i] == labels[j]:
            neg = [s[i, k] for k in range(len(labels)) if labels[k] != labels[i]]
            v = np.array([s[i, j], *neg])
            losses.append(v.max() + np.log(np.exp(v - v.max()).sum()) - s[i, j])
    return np.mean(losses)


def test_ntxent_and_triplet_margin_loss():
    optax = optax_or_skip()
    e = RNG.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    for temp in (0.07, 1.0):
        close(run(L.ntxent, e, labels, temp), ntxent_ref(e, labels, temp), rtol=1e-5)
        close(run(L.ntxent, e, labels, temp), run(optax.ntxent, e, jnp.asarray(labels), temp), rtol=1e-5)
    close(
        jax.jit(jax.grad(L.ntxent))(e, labels),
        jax.jit(jax.grad(optax.ntxent))(e, jnp.asarray(labels)),
        atol=1e-4,
    )
    v, g = jax.jit(jax.value_and_grad(L.ntxent))(e, labels, 1e-4)  # small temperature: no overflow
    close(v, ntxent_ref(e, labels, 1e-4), rtol=1e-5)
    assert np.isfinite(g).all()
    assert fo.ntxent is L.ntxent
    with pytest.raises(ValueError, match="temperature"):
        L.ntxent(e, labels, 0.0)
    with pytest.raises(ValueError, match="labels"):
        L.ntxent(e, labels[:4])

    a, p, n = (RNG.normal(size=(4, 3)).astype(np.float32) for _ in range(3))
    a64, p64, n64 = (x.astype(np.float64) for x in (a, p, n))
    for q in (2, 1.5, 3):
        d_ap = ((np.abs(a64 - p64) ** q).sum(-1) + 1e-6) ** (1 / q)
        d_an = ((np.abs(a64 - n64) ** q).sum(-1) + 1e-6) ** (1 / q)
        close(run(L.triplet_margin_loss, a, p, n, norm_degree=q, margin=0.5), np.maximum(d_ap - d_an + 0.5, 0))
    close(run(L.triplet_margin_loss, a, p, n), run(optax.losses.triplet_margin_loss, a, p, n))
    close(run(L.triplet_margin_loss, a.T, p.T, n.T, axis=0), run(L.triplet_margin_loss, a, p, n))
    assert np.isfinite(jax.grad(lambda x: run(L.triplet_margin_loss, x, x, n, margin=5.0).sum())(a)).all()
    torch = pytest.importorskip("torch")
    ref_t = torch.nn.functional.triplet_margin_loss(
        *(torch.tensor(x, dtype=torch.float64) for x in (a, p, n)), margin=1.0, p=2, eps=0.0, reduction="none"
    )
    close(run(L.triplet_margin_loss, a, p, n, eps=0.0), ref_t.numpy())


def test_top_level_names_follow_optax():
    optax = optax_or_skip()
    names = [
        "kl_divergence_with_log_targets", "convex_kl_divergence", "generalized_kl_divergence",
        "safe_softmax_cross_entropy", "ctc_loss", "ctc_loss_with_forward_probs", "dice_loss", "binary_dice_loss",
        "multiclass_generalized_dice_loss", "multiclass_hinge_loss", "multiclass_perceptron_loss", "perceptron_loss",
        "multiclass_sparsemax_loss", "sparsemax_loss", "make_fenchel_young_loss", "ntxent", "triplet_margin_loss",
        "poly_loss_cross_entropy", "ranking_softmax_loss",
    ]  # fmt: skip
    import inspect

    for name in names:
        ours = getattr(L, name)
        assert getattr(fo, name) is ours
        theirs = getattr(optax.losses, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sig_t = inspect.signature(theirs)
        sig_o = inspect.signature(ours)
        if name == "convex_kl_divergence":  # optax wraps it in a deprecation decorator (*args, **kwargs)
            continue
        assert list(sig_o.parameters) == list(sig_t.parameters), name
        for pname, par in sig_t.parameters.items():
            assert sig_o.parameters[pname].kind == par.kind, (name, pname)
            if par.default is not inspect.Parameter.empty:
                assert sig_o.parameters[pname].default == par.default, (name, pname)
