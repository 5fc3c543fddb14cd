"""optax tests that fail against functional_opt on purpose: each one is a deliberate difference.

``test`` is one or more fnmatch patterns (space-separated) on the pytest node id (the path
relative to the optax package, then ``::Class::test``); ``reason`` says what differs and why.
The differences themselves are listed in the "Differences from optax" table of the docs (``tools/optax_parity.py``
``DIFFERENCES``). Fewer than 25 entries (``tests/test_optax_suite.py`` checks it).
"""

from __future__ import annotations

DEVIATIONS: list[dict[str, str]] = [
    {
        "test": "contrib/_schedule_free_test.py::ScheduleFreeTest::test_schedule_free_adamw",
        "reason": "schedule-free follows the reference implementation (Defazio et al., 2024): the "
        "schedules and warmup see `k = step_count - 1`; optax's see `step_count`, so the iterates "
        "differ from optax's after the first step.",
    },
    {
        "test": "_src/update_test.py::UpdateTest::test_none_argument_apply_updates",
        "reason": "strict tree checks: `apply_updates(None, x)` (params None, updates an array) "
        "differ in structure and raise naming the key path; optax maps over the empty tree and "
        "returns None.",
    },
    {
        "test": "_src/transform_test.py::TransformTest::test_lion_invalid_mode_raises",
        "reason": "eager validation: `scale_by_lion(mode='invalid_mode')` raises the ValueError at "
        "construction, naming the argument; optax raises it at the first `update`.",
    },
    {
        "test": "_src/combine_test.py::ExtraArgsTest::test_extra_args",
        "reason": "integer parameters cannot be optimized: `adam` over `{'a': 1, 'b': 2}` raises a "
        "TypeError naming the key path (cast, mask or make it None); optax accepts integer leaves. "
        "The extra-args part of the test (chain forwarding `loss=`) passes with float params.",
    },
    {
        "test": "_src/utils_test.py::MultiNormalDiagFromLogScaleTest::test_init_successful_broadcast*",
        "reason": "the test checks the type against optax's private class "
        "`optax._src.utils.MultiNormalDiagFromLogScale` (not an optax public name, so the shim "
        "cannot substitute it); `fo.multi_normal` returns functional_opt's class of the same "
        "name with the same methods, and the other multi_normal tests pass.",
    },
    {
        "test": "transforms/_combining_test.py::ExtraArgsTest::test_extra_args",
        "reason": "integer parameters cannot be optimized (the same test as combine_test's): "
        "`adam` over `{'a': 1, 'b': 2}` raises a TypeError naming the key path; optax accepts them.",
    },
    {
        "test": "schedules/_inject_test.py::InjectHyperparamsTest::test_inject_hyperparams_starts_with_step_count_zero",
        "reason": "integer updates cannot be optimized: the test feeds int32 gradients `[-1, 0, 1]` "
        "to `scale`, which raises a TypeError naming the key path; the step-count-zero behaviour "
        "it checks holds with float gradients (the schedule sees count 0 on the first update).",
    },
    {
        "test": "schedules/_schedule_test.py::ExponentialTest::test_nonvalid_*",
        "reason": "eager validation of schedule arguments: `exponential_decay(transition_steps<=0)` "
        "and `decay_rate=0` raise a ValueError naming the argument at construction; optax returns "
        "a constant schedule.",
    },
    {
        "test": "schedules/_schedule_test.py::PolynomialTest::test_zero_steps_schedule",
        "reason": "eager validation of schedule arguments: `polynomial_schedule(transition_steps<=0)` "
        "raises a ValueError naming the argument; optax returns a constant schedule.",
    },
    {
        "test": "transforms/_adding_test.py::AddingTest::test_none_argument",
        "reason": "`add_decayed_weights` always keeps an int32 `count` (one state layout with or "
        "without a schedule), so the test's placeholder state `0` is not its state, and "
        "`update(None, ...)` against a params tuple is a structure mismatch (strict tree checks).",
    },
    {
        "test": "tree_utils/_state_utils_test.py::StateUtilsTest::test_adam "
        "tree_utils/_state_utils_test.py::StateUtilsTest::test_map_params_to_none "
        "tree_utils/_state_utils_test.py::StateUtilsTest::test_tree_set",
        "reason": "state layout: `scale_by_learning_rate` (and every transform that accepts a "
        "schedule) always keeps an int32 `count` (`ScaleByScheduleState`), where optax's constant "
        "rate keeps `EmptyState()`; a checkpoint saved with a constant restores after switching "
        "to a schedule. The tests compare whole state trees / count every `count` leaf.",
    },
    {
        "test": "schedules/_inject_test.py::InjectHyperparamsTest::test_hyperparam_default_dtype_bf16",
        "reason": "`inject_hyperparams` stores Python-number hyperparameters in float32, not in the params' "
        "dtype: a bfloat16 model must not round `b2 = 0.999` to 1 (an array given with a dtype keeps it).",
    },
    {
        "test": "tree_utils/_state_utils_test.py::StateUtilsTest::test_tree_get_all_with_path",
        "reason": "`inject_hyperparams(sgd)(learning_rate=schedule)` keeps `InjectHyperparamsState` (the "
        "schedule is evaluated from its count); optax's state has `hyperparams_states` with a "
        "`WrappedScheduleState` per schedule, which the test looks up.",
    },
]
