"""optax's public surface against this library's: the data behind docs/migration.md.

``surface()`` walks every public name of the installed optax (the top level and its public
namespaces) and says where the same name lives here. ``DIFFERENCES`` are the deliberate
departures from optax's behaviour, each with its reason; ``NOT_PROVIDED`` the optax names this
library does not export, each with its reason. ``tools/gen_docs.py`` renders both into the
migration page; ``tests/test_docs.py`` checks that every optax name is either provided or listed.
"""

from __future__ import annotations

import types
import warnings

# optax namespace -> the namespace here that holds the same names ("" is the top level)
NAMESPACES: dict[str, str] = {
    "": "",
    "losses": "losses",
    "schedules": "schedules",
    "transforms": "transforms",
    "contrib": "contrib",
    "tree_utils": "tree_utils",
    "tree": "tree",
    "projections": "projections",
    "second_order": "second_order",
    "assignment": "assignment",
    "perturbations": "perturbations",
    "microbatching": "microbatching",
}

# (what, this library, optax, why)
DIFFERENCES: list[tuple[str, str, str, str]] = [
    (
        "`momentum(learning_rate, decay)`",
        "the tutorial's rule `v = γv + ηg; θ -= v` (rate inside the buffer)",
        "not in optax; `sgd(lr, momentum)` keeps the rate outside (`v = γv + g; θ -= ηv`), also here",
        "the tutorial states it so; the two agree for a constant rate and differ under a schedule",
    ),
    (
        "state of transforms that accept a schedule",
        "always keep an int32 `count` (`trace`, `scale_by_learning_rate`, `add_decayed_weights`, ...)",
        "keep a count only when given a schedule",
        "one state layout per transform: a checkpoint saved with a constant restores after switching to a schedule",
    ),
    (
        "bad Python hyperparameters and schedule arguments",
        "`ValueError`/`TypeError` at construction naming the argument (`transition_steps=0`, `b1=1.5`, ...)",
        "often accepted (a zero `transition_steps` becomes a constant schedule)",
        "a typo should fail where it is written, not train silently",
    ),
    (
        "tree checks",
        "gradients, state and params whose structure or shapes differ raise at trace time naming the key path",
        "broadcast or fail deep inside `jax.tree.map`",
        "a `(1,)` gradient must never broadcast onto a `(3,)` parameter",
    ),
    (
        "`lookahead(fast_optimizer, sync_period, slow_step_size)`",
        "works on plain params; the slow weights live in the state (`lookahead_slow_params(state)`)",
        "needs `LookaheadParams(fast, slow)` as the params",
        "drops into any training loop unchanged",
    ),
    (
        "`sam(optimizer, adv_optimizer, ...)`, `sam(optimizer, rho)`",
        "both forms: a transformation second is optax's `sam(optimizer, adv_optimizer, sync_period, reset_state, "
        "opaque_mode, batch_axis_name)` (state `SAMState`); a number (or `rho=`, `adaptive=`, `eps=`) is a one-call "
        "form whose `update(g, state, params, grad_fn=...)` takes the second gradient (`sam_train_step` does both "
        "passes)",
        "`contrib.sam(optimizer, adv_optimizer, ...)` only, an opaque or two-call mode",
        "optax code runs unchanged; the one-call form is one jitted call per step, equal to optax's `opaque_mode=True` "
        "with `chain(normalize(), sgd(rho))`",
    ),
    (
        "`schedule_free_*`",
        "the reference implementation's rule (Defazio et al., 2024): schedules see `k = step_count - 1`",
        "schedules see `step_count` (1 on the first step); the state fields are the same",
        "matches the paper's published code",
    ),
    (
        "Adam's `1 - b` and bias correction",
        "`1 - b` formed exactly in float64, bias correction as `-1/expm1(t log b)`",
        "float32 `1 - 0.999` (1.3e-5 relative error)",
        "closer to the float64 formula (5e-9 vs 3e-7 absolute on the first steps)",
    ),
    (
        "`muon` / `scale_by_muon` momentum and `eps`",
        "Keller Jordan's reference: lerp momentum without bias correction, `eps=1e-7`",
        "bias-corrected momentum, `eps=1e-8`",
        "the reference rule; without Nesterov or `adaptive` the updates equal optax's (the normalization "
        "removes the scalar); pass `eps=1e-8` for optax's",
    ),
    (
        "`scale_by_muon` shape scale and state",
        "the `sqrt(max(1, fan_out/fan_in))` (or `consistent_rms`) scale inside `scale_by_muon`; "
        "state `ScaleByMuonState(count, mu)`",
        "a separate `scale_by_shape`; `MuonState(count, mu, ns_coeffs)`",
        "one transform is Muon's whole direction; coefficients are hyperparameters, not state",
    ),
    (
        "`muon` on complex parameters",
        "Newton-Schulz with `X X^H`, a real `adaptive` scale `Re<m, O>`, computed in at least float32",
        "`X X^T` in the Schatten step (NaN on complex), a complex scale, the input dtype",
        "finite updates; a complex scale would rotate the update; bf16 orthogonalization error",
    ),
    (
        "`muon` fallback for non-matrix leaves",
        "plain AdamW with its own `adam_eps` (extra: `fallback=`, `muon_mask=`)",
        "NAdamW with Muon's `eps`, `mu_dtype`, `nesterov`",
        "the reference sends non-matrix leaves to plain AdamW",
    ),
    (
        "`adan`",
        "the gradient-difference coefficient is `b2` (paper, official code); `no_prox=False` default",
        "`1 - b2`",
        "optax's coefficient differs from the paper; equal updates with the default `weight_decay=0` otherwise",
    ),
    (
        "`scale_by_factored_rms(decay_rate_fn=None)`",
        "`1 - beta2_t = t**-decay_rate` formed directly",
        "`1 - (1 - t**-c)` in float32",
        "avoids float32 cancellation; a user `decay_rate_fn` is called as in optax",
    ),
    (
        "`scale_by_ademamix` state",
        "`(count, m1, m2, nu)`",
        "`(count, count_m2, m1, m2, nu)`",
        "one count serves both moving averages (optax's `count_m2` always equals `count`)",
    ),
    (
        "regression losses with targets of another shape",
        "targets may broadcast to the predictions' shape; `(N,)` against `(N, 1)` is a `ValueError` "
        "for all four losses",
        "`squared_error`/`l2_loss` need equal shapes; `huber_loss`/`log_cosh` broadcast to `(N, N)` silently",
        "one rule that catches the `(N, N)` trap everywhere; scalar targets stay legal",
    ),
    (
        "`multi_steps(acc_dtype=None)`",
        "accumulates in the gradient's dtype (the class `MultiSteps` uses float32 as optax)",
        "float32",
        "the functional form keeps the library's dtype convention",
    ),
    (
        "`lbfgs(learning_rate=None)`",
        "the sign flip by `scale_by_learning_rate(1.0)` (its state holds a count)",
        "`scale(-1.0)`",
        "the library's one place for the sign flip",
    ),
    (
        "line searches after a failed step",
        "zoom (`initial_guess_strategy='keep'`) restarts from 1, backtracking from `max_learning_rate`; "
        "a non-finite trial value (`-inf` included) fails both conditions",
        "stay at step 0 forever; `-inf` counts as a decrease",
        "one failed search should not stop the optimizer; `log(0)` is not progress",
    ),
    (
        "line searches without `value=`/`grad=`",
        "computed from `value_fn`; complex gradients are `conj(jax.grad)` everywhere",
        "required; conjugated and plain gradients mixed",
        "fewer ways to call it wrong; one convention for complex parameters",
    ),
    (
        "`monitor({name: measure})` state",
        "`init` fills every measurement with zeros",
        "an empty `{}` before the first update",
        "one state structure from `init` on (jit, scan and checkpoints need it)",
    ),
    (
        "`scale_by_stddev` state",
        "always `(count, mu, nu)`; `nu` real for complex gradients",
        "`(mu, nu)`, or `ScaleByRStdDevWithCountState` with bias correction",
        "one state layout per transform (`decay` may be a schedule)",
    ),
    (
        "`skip_large_updates` on complex gradients",
        "the squared modulus `|g|**2`; `max_squared_norm` may be a schedule",
        "squares complex values",
        "a norm is real",
    ),
    (
        "`partition`/`freeze`/`selective_transform` with a label tree of the wrong structure",
        "an error naming the first differing key path",
        "`Dict key mismatch`",
        "strict tree checks",
    ),
    (
        "`inject_hyperparams` values",
        "stored in float32 (integer arrays stay integers); `InjectHyperparamsState` unless a stateful schedule "
        "is given",
        "stored in the params' dtype",
        "a bf16 model must not round `b2 = 0.999` to 1",
    ),
    (
        "integer params or gradients",
        "`TypeError` naming the key path in the adaptive transforms and `scale`",
        "computed in integer arithmetic or promoted",
        "an int update would be truncated silently",
    ),
    (
        "DoG, DoWG, MoMo, Mechanic scalars",
        "kept in float32; DoG's per-leaf `grad_sum_of_squares` is a scalar",
        "the params' lowest dtype; shape `(1,)` (a scalar leaf's update becomes `(1,)`)",
        "accurate scalars; updates keep the params' shapes",
    ),
    (
        "`differentially_private_aggregate(key=None)` and `add_noise(key=None)`",
        "seed 0 without a warning; the key is built in `init`",
        "seed 0 with a warning",
        "eager and jitted `init` agree",
    ),
    (
        "`NormalizeState`",
        "its own empty NamedTuple",
        "`EmptyState`",
        "one name per object",
    ),
    (
        "`lion(mode=...)`",
        "a bad `mode` raises at construction",
        "at the first update",
        "errors where the argument is written",
    ),
    (
        "`tree_utils.tree_norm`, `tree_bias_correction`",
        "computed in at least float32",
        "in the tree's dtype",
        "a bf16 tree gets an accurate norm; bias correction close to `decay = 1` stays accurate",
    ),
    (
        "`tree_utils.tree_sum`",
        "per-leaf sums added as a balanced tree; `associative_reduction` accepted and ignored",
        "a left fold unless `associative_reduction`",
        "one reduction order, the accurate one",
    ),
    (
        "`matrix_inverse_pth_root`",
        "an exact eigendecomposition; `num_iters`, `error_tolerance` accepted, unused",
        "Newton iterations",
        "exact for the symmetric positive semi-definite matrices it is used on",
    ),
    (
        "`projection_box`, `projection_hypercube`",
        "a scalar bound applies to every leaf of a tree",
        "an error for a multi-leaf tree with a scalar bound",
        "the natural broadcast",
    ),
    (
        "`kl_divergence_with_log_targets` with a `-inf` log target",
        "adds 0, with a zero gradient",
        "NaN",
        "`0 log 0 = 0`",
    ),
    (
        "`triplet_margin_loss` with odd norm degrees",
        "the absolute difference (a real norm)",
        "signed differences",
        "a norm; equal for even degrees",
    ),
    (
        "`binary_dice_loss(apply_sigmoid=False)`",
        "probabilities in `[0, 1]`",
        "requires them to sum to 1 over the size-1 class axis",
        "optax's check rejects anything but all ones",
    ),
    (
        "`multiclass_sparsemax_loss`",
        "any number of batch axes; the gradient is exactly `p - onehot`",
        "exactly one batch axis",
        "a generalization with the same values",
    ),
    (
        "losses' invalid concrete inputs",
        "`ValueError`/`TypeError` naming the argument (labels out of range, CTC padding not right-padded, "
        "a bad `reduction`)",
        "NaN or a wrong value",
        "nothing fails silently",
    ),
]

# optax names not exported here, with the reason (filled from the comparison of the surfaces)
NOT_PROVIDED: dict[str, str] = {
    "optax.contrib.MuonState": "`scale_by_muon`'s state is `ScaleByMuonState(count, mu)`: optax's also stores "
    "`ns_coeffs`, which are hyperparameters here",
    "optax.contrib.SophiaState": "`sophia`'s state is `ScaleBySophiaState(count, mu, h, key)` (the Hessian "
    "estimator's key inside); optax's keeps a `hessian_fn_state`",
}


def surface() -> list[tuple[str, str, bool]]:
    """``[(optax_path, path_here, provided)]`` for every public name of the installed optax."""
    import optax

    import functional_opt as fo

    rows = []
    for ns, ours in NAMESPACES.items():
        theirs = optax if ns == "" else getattr(optax, ns, None)
        if theirs is None:
            continue
        mine = fo if ours == "" else getattr(fo, ours, None)
        # `__all__` and every other public attribute: optax's top-level `__all__` leaves out names its users
        # import (MaskedNode, freeze, snapshot, ...)
        names = [*getattr(theirs, "__all__", []), *(n for n in dir(theirs) if not n.startswith("_"))]
        for name in sorted(set(names)):
            with warnings.catch_warnings():  # optax's deprecated top-level aliases warn when read
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = getattr(theirs, name, None)
            if obj is None or isinstance(obj, types.ModuleType) or name.startswith("_"):
                continue
            if getattr(obj, "__module__", "") in ("typing", "functools", "collections.abc"):
                continue  # names a module imported for itself (optax.tree_utils.functools, ...)
            path = f"optax.{ns}.{name}" if ns else f"optax.{name}"
            here = f"fo.{ours}.{name}" if ours else f"fo.{name}"
            rows.append((path, here, mine is not None and hasattr(mine, name)))
    return rows
