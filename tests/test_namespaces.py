"""The public namespaces: every name resolves, nothing private is exported, one public path per object,
and the namespaces an optax user reaches for (losses, schedules, transforms, contrib) hold what optax's do."""

import inspect
import types

import pytest

import functional_opt as fo

# fo.<name> mirrors optax.<name>: an object may be reached both at the top level and here, under the same name.
MIRRORS = ("losses", "schedules", "transforms", "contrib")
# Namespaces of their own: their names are reached only through them.
OWN = ("flat", "sharding", "checkpoint", "tune", "microbatching")
OWN += ("tree_utils", "projections", "second_order", "assignment", "perturbations")  # optax's utility namespaces
# Names of an own namespace that optax also puts at its top level (optax.microbatch is optax.microbatching.microbatch).
OWN_AT_TOP_LEVEL = {"microbatch": "microbatching"}
# optax.tree's spelling of optax.tree_utils: fo.tree.<name> is fo.tree_utils.tree_<name> (one object, two names).
PREFIX_ALIASES = {"tree": ("tree_utils", "tree_")}
# Helpers the optimizers use internally, and flat-mode names that live only in fo.flat.
NOT_TOP_LEVEL = (
    "MUON_NS_COEFFS",
    "newton_schulz",
    "hutchinson_diag_hessian",
    "flatten_params",
    "unflatten_params",
    "FlatParams",
    "per_leaf",
)
# optax's own second names of one object (optax.ClipState is optax.EmptyState, ...): kept so that ported code
# (isinstance checks, state lookups by type) runs; the only objects with two names.
OPTAX_ALIASES = {
    "AdaptiveGradClipState": "EmptyState",
    "ClipByGlobalNormState": "EmptyState",
    "ClipState": "EmptyState",
    "NonNegativeParamsState": "EmptyState",
    "ScaleByTrustRatioState": "EmptyState",
    "ScaleState": "EmptyState",
    "MultiTransformState": "PartitionState",
}
# The package's implementation modules: importable, never part of the API.
IMPLEMENTATION = ("base", "optimizers", "wrappers", "regularizers", "train_step", "sam", "batch_norm", "_tree")


def namespaces():
    """``{"": fo, "losses": fo.losses, ...}``: the top level and every namespace module it exports."""
    found = {"": fo}
    found.update({n: getattr(fo, n) for n in fo.__all__ if isinstance(getattr(fo, n), types.ModuleType)})
    return found


def public_paths():
    """``[(namespace, name, object)]`` for every entry of every namespace's ``__all__`` (modules excluded)."""
    return [
        (ns, name, getattr(mod, name))
        for ns, mod in namespaces().items()
        for name in mod.__all__
        if not isinstance(getattr(mod, name), types.ModuleType)
    ]


def test_the_namespaces_are_exported():
    assert set(MIRRORS) | {"checkpoint"} <= set(fo.__all__)
    for name in IMPLEMENTATION:  # fo.sam and fo.batch_norm are the functions, not their modules
        assert name not in fo.__all__ or not isinstance(getattr(fo, name), types.ModuleType), name


def test_flat_is_a_namespace():
    assert "flat" in fo.__all__
    assert {"flatten_params", "unflatten_params", "FlatParams"} <= set(fo.flat.__all__)


@pytest.mark.parametrize("ns", ["", *MIRRORS, *OWN, *PREFIX_ALIASES])
def test_all_has_no_duplicates_and_resolves(ns):
    mod = fo if ns == "" else getattr(fo, ns)
    if not hasattr(mod, "__all__"):
        pytest.skip(f"fo.{ns} declares no __all__")
    assert len(mod.__all__) == len(set(mod.__all__)), sorted(n for n in mod.__all__ if mod.__all__.count(n) > 1)
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing
    star = {}
    exec(f"from {mod.__name__} import *", star)
    assert set(mod.__all__) <= set(star)


def test_nothing_private_or_internal_is_exported():
    for ns, name, obj in public_paths():
        where = f"fo.{ns + '.' if ns else ''}{name}"
        assert not name.startswith("_"), where
        assert not name.isupper(), f"{where}: constants are not API"
        assert callable(obj), f"{where} is neither a function nor a class"
    for name in NOT_TOP_LEVEL:
        assert not hasattr(fo, name), f"fo.{name} must not be exported"


def test_each_object_has_one_public_path():
    """One home per object; the optax mirrors add the same object under the same name, nothing else."""
    paths = {}
    for ns, name, obj in public_paths():
        if name not in OPTAX_ALIASES and ns not in PREFIX_ALIASES and not (ns == "" and name in OWN_AT_TOP_LEVEL):
            paths.setdefault(id(obj), []).append((ns, name))
    for found in paths.values():
        homes = [p for p in found if p[0] not in MIRRORS]
        assert len(homes) == 1, f"{found}: exactly one path outside the optax mirrors"
        names = {name for _, name in found}
        assert len(names) == 1, f"{found}: one object, one name"
        if len(found) > 1:
            assert homes[0][0] == "", f"{found}: a mirrored object lives at the top level"


def test_optax_aliases_are_optax_aliases():
    """Each second name is the object of its first name, here and (when installed) in optax."""
    for alias, name in OPTAX_ALIASES.items():
        assert getattr(fo, alias) is getattr(fo, name), alias
    optax = pytest.importorskip("optax")
    for alias, name in OPTAX_ALIASES.items():
        assert getattr(optax, alias) is getattr(optax, name), alias


def test_own_names_at_the_top_level_are_optax_s():
    for name, ns in OWN_AT_TOP_LEVEL.items():
        assert getattr(fo, name) is getattr(getattr(fo, ns), name), name
    optax = pytest.importorskip("optax")
    for name, ns in OWN_AT_TOP_LEVEL.items():
        assert getattr(optax, name) is getattr(getattr(optax, ns), name), name


@pytest.mark.parametrize("ns", list(PREFIX_ALIASES))
def test_prefix_alias_namespace_is_the_same_objects(ns):
    home, prefix = PREFIX_ALIASES[ns]
    alias, target = getattr(fo, ns), getattr(fo, home)
    assert alias.__all__
    for name in alias.__all__:
        assert getattr(alias, name) is getattr(target, prefix + name), name
    assert {prefix + n for n in alias.__all__} == {n for n in target.__all__ if n.startswith(prefix)}


@pytest.mark.parametrize("ns", MIRRORS)
def test_mirror_holds_what_optax_holds(ns):
    """Every name optax keeps in ``optax.<ns>`` that we implement (at the top level) is in ``fo.<ns>``."""
    optax = pytest.importorskip("optax")
    theirs = getattr(optax, ns, None)
    if theirs is None:
        pytest.skip(f"optax {optax.__version__} has no optax.{ns}")
    theirs = {n for n in dir(theirs) if not n.startswith("_")}
    ours = getattr(fo, ns)
    implemented = theirs & set(fo.__all__)
    assert implemented, f"nothing of optax.{ns} is implemented?"
    assert implemented <= set(ours.__all__), sorted(implemented - set(ours.__all__))
    for name in implemented:
        assert getattr(ours, name) is getattr(fo, name), name
    if ns in ("transforms", "contrib"):  # exactly optax's names; losses and schedules hold all of ours
        assert set(ours.__all__) <= theirs, sorted(set(ours.__all__) - theirs)


def test_losses_holds_every_loss():
    modules = [
        m
        for m in vars(fo.losses).values()
        if isinstance(m, types.ModuleType) and m.__name__.startswith("functional_opt.losses.")
    ]
    assert len(modules) >= 8
    defined = {
        name
        for m in modules
        for name, obj in vars(m).items()
        if inspect.isfunction(obj) and obj.__module__ == m.__name__ and not name.startswith("_")
    }
    assert defined == set(fo.losses.__all__)
    assert {n for n in fo.__all__ if n.endswith("_loss")} <= set(fo.losses.__all__)
    assert set(fo.losses.__all__) <= set(fo.__all__)


def test_schedules_holds_every_schedule():
    modules = [
        m
        for name, m in vars(fo.schedules).items()
        if isinstance(m, types.ModuleType) and m.__name__.startswith("functional_opt.schedules.")
    ]
    assert len(modules) >= 8
    defined = {
        name
        for m in modules
        if not m.__name__.rsplit(".", 1)[1].startswith("_")
        for name, obj in vars(m).items()
        if inspect.isfunction(obj) and obj.__module__ == m.__name__ and not name.startswith("_")
    }
    assert defined <= set(fo.schedules.__all__), sorted(defined - set(fo.schedules.__all__))
    named = {
        n for n in fo.__all__ if n.endswith(("_schedule", "_schedules", "_decay")) and not n.startswith("scale_by_")
    }
    assert named <= set(fo.schedules.__all__), sorted(named - set(fo.schedules.__all__))
    assert set(fo.schedules.__all__) <= set(fo.__all__)


def test_optax_code_ports_by_renaming_the_package():
    """The spellings from the optax docs work (no optax needed)."""
    assert fo.losses.softmax_cross_entropy is fo.softmax_cross_entropy
    assert fo.losses.softmax_cross_entropy_with_integer_labels is fo.softmax_cross_entropy_with_integer_labels
    assert fo.schedules.warmup_cosine_decay_schedule is fo.warmup_cosine_decay_schedule
    assert fo.schedules.inject_hyperparams is fo.inject_hyperparams
    assert fo.transforms.clip_by_global_norm is fo.clip_by_global_norm
    assert fo.transforms.masked is fo.masked
    assert fo.contrib.muon is fo.muon
    assert fo.contrib.schedule_free_adamw is fo.schedule_free_adamw


def test_optax_legacy_names_outside_all():
    """optax's top-level aliases of its tree utilities and ``transforms.ConditionFn``: here too, outside ``__all__``."""
    legacy = {
        "tree_map_params": "tree_map_params",
        "bias_correction": "tree_bias_correction",
        "update_moment": "tree_update_moment",
        "update_infinity_moment": "tree_update_infinity_moment",
        "update_moment_per_elem_norm": "tree_update_moment_per_elem_norm",
    }
    for name, home in legacy.items():
        assert getattr(fo, name) is getattr(fo.tree_utils, home) and name not in fo.__all__
    assert "ConditionFn" not in fo.transforms.__all__ and callable(fo.transforms.ConditionFn)
