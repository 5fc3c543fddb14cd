"""The main job: compare the tutorial's strategies on real data.

Runs, in order, on scikit-learn's 8x8 digits (no download):

1. the tutorial's four optimizers (``examples/compare_optimizers.py``),
2. learning-rate schedules: constant, step decay, exponential decay,
   cyclical, warmup-cosine (``examples/compare_schedules.py``),
3. regularization: none, L2 penalty, decoupled weight decay, proximal L1,
   dropout, batch norm (``examples/regularization.py``),

printing a table for each and writing PNGs under ``--out``.

Run from the repository root::

    python -m examples.demo [--out examples/out] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

SECTIONS = [
    ("examples.compare_optimizers", "Optimizers"),
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
