"""The main job: a tuning report, then the tutorial's strategies compared on real data.

Runs, in order, on scikit-learn's 8x8 digits (no download):

1. the tuning report (``examples/tuning_report.py``): ``fo.tune.lr_find`` for
   Adam; one vmapped ``fo.tune.sweep`` per optimizer over learning rate x
   schedule (step decay, exponential decay, cyclical, warmup-cosine) for the
   tutorial's four optimizers (gradient descent, momentum, RMSProp, Adam),
   3 seeds each; the best configuration of each trained to the end; a short
   population-based training run (``fo.tune.pbt``) of Adam's learning rate,
2. learning-rate schedules: constant, step decay, exponential decay,
   cyclical, warmup-cosine and more (``examples/compare_schedules.py``),
3. regularization: none, L2 penalty, decoupled weight decay, proximal L1,
   dropout, batch norm (``examples/regularization.py``),

printing a table for each and writing PNGs under ``--out``.
(``examples/compare_optimizers.py``, the four optimizers at hand-picked rates,
still runs on its own; the report's last step replaces it here.)

Run from the repository root::

    python -m examples.demo [--out examples/out] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

SECTIONS = [
    ("examples.tuning_report", "Tuning report"),
    ("examples.compare_schedules", "Learning-rate schedules"),
    ("examples.regularization", "Regularization"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("examples", "out"))
    ap.add_argument("--quick", action="store_true", help="tiny runs, for smoke tests")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    for module, title in SECTIONS:
        print(f"\n=== {title} ({module}) ===", flush=True)
        mod = importlib.import_module(module)
        sub = ["--out", args.out] + (["--quick"] if args.quick else [])
        rc = mod.main(sub)
        if rc:
            return rc
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; figures in {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
