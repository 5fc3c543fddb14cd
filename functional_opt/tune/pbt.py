"""``pbt``: population-based training over a stacked population, every interval in one compiled ``lax.scan``."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["PBTResult", "pbt", "pbt_keys"]


@dataclasses.dataclass(frozen=True)
class PBTResult:
    """The outcome of :func:`pbt`.

    Attributes:
        population: the final population (same structure as the one given, leading axis ``P``),
            after the last interval's training (no exploit/explore after the last interval).
        scores: ``[intervals, P]`` numpy, ``eval_fn`` of each member after each interval's training
            (lower is better), before that interval's exploit/explore.
        hparams: ``{name: [intervals, P]}`` numpy, the hyperparameters slot ``j`` trained with during
            interval ``i``.
        parents: ``[intervals, P]`` int numpy, the member slot ``j`` copied after interval ``i``
            (``j`` itself when it was kept; the last row is always ``arange(P)``).
    """

    population: Any
    scores: np.ndarray
    hparams: dict[str, np.ndarray]
    parents: np.ndarray

    @property
    def best(self) -> int:
        """The slot with the lowest final score (non-finite scores last)."""
        s = np.where(np.isfinite(self.scores[-1]), self.scores[-1], np.inf)
        return int(np.argmin(s))

    def lineage(self, member: int | None = None) -> np.ndarray:
        """``[intervals]``: the slot whose hyperparameters ``member``'s lineage trained with in each interval.

        Following ``parents`` backwards from ``member`` (default :attr:`best`) at the last interval.
        """
        j = self.best if member is None else int(member)
        n = self.scores.shape[0]
        slots = np.empty(n, dtype=np.int64)
        slots[-1] = j
        for i in range(n - 2, -1, -1):
            slots[i] = self.parents[i, slots[i + 1]]
        return slots

    def schedule(self, member: int | None = None) -> dict[str, np.ndarray]:
        """``{name: [intervals]}``: the hyperparameter schedule ``member``'s lineage followed (default the best)."""
        slots = self.lineage(member)
        rows = np.arange(len(slots))
        return {name: h[rows, slots] for name, h in self.hparams.items()}


def pbt_keys(
    key: jax.Array, interval: int | jax.Array, names: list[str]
) -> tuple[jax.Array, jax.Array, dict[str, tuple]]:
    """The PRNG keys :func:`pbt` uses in one interval (public so the draws can be replicated).

    ``k = fold_in(key, interval)``; ``k_steps, k_donor, k_explore = split(k, 3)``; for the ``n``-th
    hyperparameter in sorted name order, ``k_factor, k_coin, k_draw = split(fold_in(k_explore, n), 3)``.
    Step ``t`` of the interval gives member ``m`` the key ``split(fold_in(k_steps, t), P)[m]``.

    Returns ``(k_steps, k_donor, {name: (k_factor, k_coin, k_draw)})``.
    """
    k = jax.random.fold_in(key, interval)
    k_steps, k_donor, k_explore = jax.random.split(k, 3)
    per_name = {}
    for n, name in enumerate(sorted(names)):
        k_factor, k_coin, k_draw = jax.random.split(jax.random.fold_in(k_explore, n), 3)
        per_name[name] = (k_factor, k_coin, k_draw)
    return k_steps, k_donor, per_name


def _check(population: Any, intervals: int, steps_per_interval: int, fraction: float, perturb: Any, prob: float) -> int:
    if not isinstance(population, Mapping) or "hparams" not in population:
        raise TypeError("pbt: population must be a dict with an 'hparams' entry ({name: array [P]}) besides the rest")
    hp = population["hparams"]
    if not isinstance(hp, Mapping) or not hp:
        raise TypeError("pbt: population['hparams'] must be a non-empty dict {name: array [P]}")
    sizes = {np.shape(x)[0] if np.ndim(x) else -1 for x in jax.tree.leaves(population)}
    if len(sizes) != 1 or min(sizes) < 2:
        raise ValueError(
            "pbt: every array in population needs the same leading population axis P >= 2, got shapes "
            f"{[np.shape(x) for x in jax.tree.leaves(population)]}"
        )
    for name, v in hp.items():
        if np.ndim(v) != 1 or not jnp.issubdtype(jnp.result_type(v), jnp.floating):
            raise ValueError(
                f"pbt: hparams[{name!r}] must be a 1-D float array [P], got {jnp.result_type(v)}{np.shape(v)}"
            )
    for name, v in (("intervals", intervals), ("steps_per_interval", steps_per_interval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"pbt: {name} must be a Python int >= 1, got {v!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 0.5:
        raise ValueError(f"pbt: fraction must be in (0, 0.5], got {fraction!r}")
    if (
        not isinstance(perturb, (tuple, list))
        or not perturb
        or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in perturb)
    ):
        raise ValueError(f"pbt: perturb must be a non-empty tuple of positive numbers, got {perturb!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise ValueError(f"pbt: resample_prob must be in [0, 1], got {prob!r}")
    return int(sizes.pop())


@functools.partial(
    jax.jit,
    static_argnames=("step_fn", "eval_fn", "intervals", "steps_per_interval", "n_swap", "perturb", "resample"),
)
def _run(
    population: Any,
    key: jax.Array,
    resample_prob: jax.Array,
    *,
    step_fn: Callable,
    eval_fn: Callable,
    intervals: int,
    steps_per_interval: int,
    n_swap: int,
    perturb: tuple[float, ...],
    resample: tuple[tuple[str, Callable], ...],
) -> tuple[Any, jax.Array, dict[str, jax.Array], jax.Array]:
    size = jax.tree.leaves(population)[0].shape[0]
    names = sorted(population["hparams"])
    draws = dict(resample)
    factors = jnp.asarray(perturb, dtype=jnp.float32)
    slots = jnp.arange(size)

    def interval(pop: Any, i: jax.Array) -> tuple[Any, tuple]:
        k_steps, k_donor, per_name = pbt_keys(key, i, names)

        def step(p: Any, t: jax.Array) -> tuple[Any, None]:
            return jax.vmap(step_fn)(p, jax.random.split(jax.random.fold_in(k_steps, t), size)), None

        pop, _ = jax.lax.scan(step, pop, jnp.arange(steps_per_interval))
        scores = jax.vmap(eval_fn)(pop)
        if scores.shape != (size,):
            raise ValueError(f"pbt: eval_fn must return a scalar per member, got shape {scores.shape[1:]}")
        used = dict(pop["hparams"])
        # exploit: each of the bottom n_swap copies a uniformly chosen member of the top n_swap
        order = jnp.argsort(jnp.where(jnp.isnan(scores), jnp.inf, scores), stable=True)
        donors = order[jax.random.randint(k_donor, (n_swap,), 0, n_swap)]
        last = i == intervals - 1
        parents = jnp.where(last, slots, slots.at[order[size - n_swap :]].set(donors))
        copied = parents != slots
        pop = jax.tree.map(lambda x: x[parents], pop)
        # explore: every copied hyperparameter is multiplied by a random factor, or resampled
        hp = {}
        for name in names:
            k_factor, k_coin, k_draw = per_name[name]
            h = pop["hparams"][name]
            new = h * factors[jax.random.randint(k_factor, (size,), 0, len(perturb))].astype(h.dtype)
            if name in draws:
                drawn = jax.vmap(draws[name])(jax.random.split(k_draw, size)).astype(h.dtype)
                new = jnp.where(jax.random.uniform(k_coin, (size,)) < resample_prob, drawn, new)
            hp[name] = jnp.where(copied, new, h)
        pop = {**pop, "hparams": hp}
        return pop, (scores, used, parents)

    pop, (scores, used, parents) = jax.lax.scan(interval, population, jnp.arange(intervals))
    return pop, scores, used, parents


def pbt(
    step_fn: Callable[[Any, jax.Array], Any],
    population: Mapping[str, Any],
    *,
    intervals: int,
    steps_per_interval: int,
    eval_fn: Callable[[Any], jax.Array],
    key: jax.Array,
    fraction: float = 0.25,
    perturb: tuple[float, ...] = (0.8, 1.25),
    resample_prob: float = 0.0,
    resample: Mapping[str, Callable[[jax.Array], jax.Array]] | None = None,
) -> PBTResult:
    """Population-based training: train, evaluate, exploit and explore, all intervals in one compiled program.

    The population is one pytree whose every array has a leading population axis ``P``. It is a dict
    with an ``"hparams"`` entry, ``{name: float array [P]}``, plus anything else the member needs
    (conventionally ``"params"`` and ``"opt_state"``). One member (index ``j`` of every array) is what
    ``step_fn`` and ``eval_fn`` see:

    * ``step_fn(member, key) -> member``: one training step, same structure, shapes and dtypes out. It
      rebuilds its optimizer from ``member["hparams"]`` each step, e.g.
      ``opt = fo.adam(member["hparams"]["learning_rate"])``: the library's hyperparameters are arrays
      and the optimizer state's structure does not depend on their values, so nothing recompiles;
    * ``eval_fn(member) -> scalar``: the score, **lower is better** (NaN counts as worst).

    Each of ``intervals`` intervals runs ``steps_per_interval`` steps of ``jax.vmap(step_fn)``, scores
    every member, then (except after the last interval)

    * exploit: with ``n = max(1, floor(fraction * P))``, each of the ``n`` worst members is replaced
      by a copy of the whole member (params, optimizer state, hyperparameters) of a member of the
      ``n`` best chosen uniformly at random;
    * explore: each hyperparameter of each replaced member is multiplied by a factor drawn uniformly
      from ``perturb``, or with probability ``resample_prob`` replaced by ``resample[name](key)``
      (a scalar; a name missing from ``resample`` is always perturbed).

    The whole run is one ``jax.jit`` of a ``lax.scan`` over intervals; it is cached on ``step_fn``,
    ``eval_fn`` and the static arguments, so another call with the same functions and shapes does not
    recompile. The random draws come from :func:`pbt_keys` (ranks are a stable argsort of the scores).

    Args:
        step_fn: ``(member, key) -> member``.
        population: ``{"hparams": {name: [P]}, ...}``, every leaf with leading axis ``P >= 2``.
        intervals: number of train/evaluate/exploit rounds, ``>= 1``.
        steps_per_interval: ``step_fn`` calls per interval, ``>= 1``.
        eval_fn: ``member -> scalar``, lower is better.
        key: PRNG key.
        fraction: the share of the population replaced (and the share copied from), in ``(0, 0.5]``.
        perturb: positive multiplicative factors for explore.
        resample_prob: probability, in ``[0, 1]``, of resampling instead of perturbing.
        resample: ``{name: key -> scalar}`` samplers,
            e.g. ``lambda k: jnp.exp(jax.random.uniform(k, minval=-9.0, maxval=0.0))``.

    Returns:
        :class:`PBTResult`: the final population, ``scores`` and ``hparams`` history ``[intervals, P]``,
        the ``parents`` of every exploit, and :meth:`PBTResult.schedule` (the best lineage's schedule).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from functional_opt import tune
        >>> pop = {"x": jnp.zeros(8), "hparams": {"lr": jnp.logspace(-4, 0, 8)}}
        >>> def step_fn(m, key):
        ...     return m
        >>> def eval_fn(m):  # the best learning rate is 1e-2
        ...     return (jnp.log10(m["hparams"]["lr"]) + 2.0) ** 2
        >>> r = tune.pbt(step_fn, pop, intervals=20, steps_per_interval=1, eval_fn=eval_fn, key=jax.random.key(0))
        >>> r.scores.shape, r.hparams["lr"].shape
        ((20, 8), (20, 8))
        >>> bool(abs(np.log10(r.schedule()["lr"][-1]) + 2) < 0.5)
        True

    References:
        Jaderberg et al., Population Based Training of Neural Networks, 2017, arXiv:1711.09846.
    """
    size = _check(population, intervals, steps_per_interval, fraction, perturb, resample_prob)
    resample = dict(resample or {})
    unknown = sorted(set(resample) - set(population["hparams"]))
    if unknown:
        raise ValueError(
            f"pbt: resample names {unknown} are not in population['hparams'] {sorted(population['hparams'])}"
        )
    if resample_prob > 0 and not resample:
        raise ValueError("pbt: resample_prob > 0 needs resample={name: key -> value} samplers")
    stacked = jax.tree.map(jnp.asarray, dict(population))
    stacked["hparams"] = dict(stacked["hparams"])
    pop, scores, used, parents = _run(
        stacked,
        key,
        jnp.asarray(resample_prob, dtype=jnp.float32),
        step_fn=step_fn,
        eval_fn=eval_fn,
        intervals=intervals,
        steps_per_interval=steps_per_interval,
        n_swap=max(1, math.floor(fraction * size)),
        perturb=tuple(float(f) for f in perturb),
        resample=tuple(sorted(resample.items())),
    )
    return PBTResult(
        population=pop,
        scores=np.asarray(scores),
        hparams={name: np.asarray(v) for name, v in used.items()},
        parents=np.asarray(parents),
    )
