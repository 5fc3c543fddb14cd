"""Shared measuring code for the benchmarks (the method: the "Method" section of benchmarks/README.md).

Rules kept here: compile time is measured apart (``lower().compile()`` after
``jax.clear_caches()``); the first call is never timed; the state is threaded
through the timed loop as training does and every output is blocked on;
competitors are run in alternating rounds (A B A B) in one process, so their
ratio is stable even when the machine is shared and absolute times drift.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def set_fusion_flag(on: bool) -> None:
    """Turn XLA:CPU multi-output fusion on or off; must run before ``import jax``."""
    flag = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
    flags = os.environ.get("XLA_FLAGS", "").replace(flag, "").strip()
    os.environ["XLA_FLAGS"] = (flags + " " + flag).strip() if on else flags


def fusion_flag_on() -> bool:
    return "xla_cpu_use_multi_output_fusion" in os.environ.get("XLA_FLAGS", "")


def machine() -> str:
    import jax

    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    cpu = platform.processor() or platform.machine()
    return (
        f"{dev.platform}:{kind} x{jax.device_count()}, host {cpu} {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, jax {jax.__version__}"
    )


class Compiled:
    """A jitted function compiled once, with its compile time and XLA's statistics."""

    def __init__(self, fn: Callable, args: tuple, donate: tuple = ()):
        import jax

        jax.clear_caches()
        t0 = time.perf_counter()
        lowered = jax.jit(fn, donate_argnums=donate).lower(*args)
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - t0
        self.fn = self.compiled
        self.bytes = _cost_bytes(self.compiled)
        self.fusions = _count_fusions(self.compiled)
        self.memory = _memory_bytes(self.compiled)


def _cost_bytes(compiled) -> float:
    try:
        ca = compiled.cost_analysis()
        if isinstance(ca, (list, tuple)):
            ca = ca[0] if ca else {}
        return float(ca.get("bytes accessed", float("nan")))
    except Exception:  # noqa: BLE001  (statistics are best effort, per backend)
        return float("nan")


def _count_fusions(compiled) -> int:
    """Number of fusion (and custom-call) kernels launched by the entry computation."""
    try:
        text = compiled.as_text()
    except Exception:  # noqa: BLE001
        return -1
    entry = text[text.rfind("ENTRY") :]
    return len(re.findall(r" (?:fusion|custom-call)\(", entry))


def _memory_bytes(compiled) -> float:
    """Arguments + outputs + temporaries - aliased bytes, per XLA's memory analysis."""
    try:
        m = compiled.memory_analysis()
        total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
        return float(total - m.alias_size_in_bytes)
    except Exception:  # noqa: BLE001
        return float("nan")


def block(tree: Any) -> Any:
    import jax

    return jax.block_until_ready(tree)


def step_fn(opt, apply: Callable) -> Callable:
    """The optimizer step ``(params, state, grads) -> (params, state)``; ``apply``: the library's ``apply_updates``."""

    def step(p, s, g):
        u, s = opt.update(g, s, p)
        return apply(p, u), s

    return step


def runner(fn: Callable, carry: tuple, args: tuple = (), donate: bool = True) -> tuple[Compiled, Callable[[], None]]:
    """``fn(*carry, *args)`` compiled (``carry`` donated unless ``donate=False``) and ``advance()`` for
    ``run_interleaved``: one call, its first ``len(carry)`` outputs threaded as the next carry, blocked on."""
    c = Compiled(fn, carry + args, donate=tuple(range(len(carry))) if donate else ())
    box = list(carry)

    def advance() -> None:
        out = c.fn(*box, *args)
        box[:] = out[: len(box)]
        block(out)

    return c, advance


def update_runner(opt, apply: Callable, params: Any, grads: Any, donate: bool = True) -> tuple[Compiled, Callable]:
    """``runner`` of ``step_fn(opt, apply)`` from a copy of ``params`` (a donated step consumes it) and its
    ``opt.init``."""
    import jax

    p = jax.tree.map(lambda x: x.copy(), params)
    return runner(step_fn(opt, apply), (p, opt.init(p)), (grads,), donate)


def run_interleaved(runners: dict, warmup: int, steps: int, rounds: int) -> dict:
    """Time several step runners in alternating rounds.

    ``runners`` maps a name to a callable ``advance() -> None`` that performs
    one step (threading its own state) and blocks on the result. Returns the
    list of per-step seconds for each name.
    """
    for adv in runners.values():
        for _ in range(warmup):
            adv()
    times = {k: [] for k in runners}
    per_round = max(1, steps // rounds)
    for r in range(rounds):
        names = list(runners) if r % 2 == 0 else list(reversed(runners))
        for k in names:
            adv = runners[k]
            for _ in range(per_round):
                t0 = time.perf_counter()
                adv()
                times[k].append(time.perf_counter() - t0)
    return times


def summary(ts: list) -> dict:
    ts = sorted(ts)
    pick = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]  # noqa: E731  (nearest rank)
    return {"median": statistics.median(ts), "p10": pick(0.1), "p90": pick(0.9)}


def in_ms(s: dict) -> dict:
    """A ``summary`` (seconds) as the rows' ``median_ms``, ``p10_ms``, ``p90_ms``."""
    return {f"{k}_ms": v * 1e3 for k, v in s.items()}


def stream_bandwidth(n: int, repeats: int = 15) -> float:
    """Best-of-repeats streaming bandwidth (GB/s, read + write) of this device.

    A jitted, donated, in-place triad ``a <- a + 0.5 * c`` over ``n`` float32
    (12 B per element), the same kind of loop an optimizer step is.
    """
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda a, c: a + 0.5 * c, donate_argnums=0)
    a, c = jnp.zeros((n,), jnp.float32), jnp.ones((n,), jnp.float32)
    a = block(f(a, c))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = block(f(a, c))
        best = min(best, time.perf_counter() - t0)
    return 12 * n / best / 1e9


def fmt_table(headers: list, rows: list) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def fmt_rows(columns: list, rows: list) -> str:
    """``fmt_table`` of dict rows; ``columns`` lists ``(key, header)``."""
    return fmt_table([h for _, h in columns], [[r[k] for k, _ in columns] for r in rows])


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        if c != c:
            return "-"
        if abs(c) >= 100:
            return f"{c:.0f}"
        if abs(c) >= 10:
            return f"{c:.1f}"
        return f"{c:.3g}" if abs(c) < 1 else f"{c:.2f}"
    return str(c)


def write_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=float)
    print(f"wrote {path}", file=sys.stderr)
