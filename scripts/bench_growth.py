"""Memory and time as the pool grows: peak RSS and one loop step per sampler at N = 20,800 ... 332,800.

    python scripts/bench_growth.py                              # commodity at 1,300, 5,200, 20,800 per class
    python scripts/bench_growth.py --n-per-class 200 1300 --threads 1

Each pool size runs in a fresh process (its peak resident memory is its own): commodity's sandbox pool
(synthetic features, K = 16 classes, the AMT crowd of M = 60 workers, T = 100 MC samples) at
n_per_class images per class, `--warm-steps` SS steps so that the pool has answers, pseudo-labels and
a trained model, then one step of each method from copies of that state (scripts/bench_step.py's
procedure). Prints a row per N: each method's step seconds and phases, and the process's peak RSS;
then the fitted growth exponent b of seconds ~ N^b and of peak MB ~ N^b (least squares in log-log over
the sizes). Timings depend on the machine's load: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

PHASES = ("seconds_scoring", "seconds_selection", "seconds_em", "seconds_train", "seconds_inference", "seconds_step")


def one_size(n_per_class: int, methods: list[str], warm_steps: int, threads: int | None) -> dict:
    """Build, warm and time one pool size in this process; the row as a dict."""
    from bench_step import settings_for

    from labald.experiment import build_experiment, build_observers, build_sampler
    from labald.loop import advance, initial_state
    from labald.threads import apply_threads

    if threads:
        apply_threads(threads)
    base = settings_for("ss", "commodity", n_per_class, "cpu")
    exp = build_experiment(base)
    state = initial_state(exp)
    for _ in range(warm_steps):
        advance(exp, state, "label")
    row: dict = {"n_per_class": n_per_class, "N": exp.pool.n_images, "K": exp.pool.n_classes,
                 "M": exp.workers.n_workers}
    for method in methods:
        own = settings_for(method, "commodity", n_per_class, "cpu")
        settings = dataclasses.replace(base, method=own.method, acquisition=own.acquisition)
        run = dataclasses.replace(exp, settings=settings, sampler=build_sampler(settings),
                                  observers=build_observers(settings), learner=copy.deepcopy(exp.learner),
                                  workers=copy.deepcopy(exp.workers))
        trial = copy.deepcopy(state)
        advance(run, trial, "label")
        row[method] = {p: float(trial.rows[-1].get(p) or 0.0) for p in PHASES}
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return row


def exponent(sizes, values) -> float:
    """b of values ~ sizes^b, least squares in log-log."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, nargs="+", default=[1300, 5200, 20800])
    parser.add_argument("--methods", nargs="+", default=["ss", "la_bald"])
    parser.add_argument("--warm-steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads (default: all cores)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one size, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.n_per_class[0], args.methods, args.warm_steps, args.threads)))
        return 0
    load_before = os.getloadavg()[0]
    rows = []
    for n in args.n_per_class:
        cmd = [sys.executable, __file__, "--one", "--n-per-class", str(n), "--methods", *args.methods,
               "--warm-steps", str(args.warm_steps)] + (["--threads", str(args.threads)] if args.threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"N per class {n}: failed (exit {out.returncode})\n{out.stderr[-2000:]}")
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"N = {r['N']:>7}: " + ", ".join(
            f"{m} step {r[m]['seconds_step']:.2f} s (scoring {r[m]['seconds_scoring']:.2f}, inference "
            f"{r[m]['seconds_inference']:.2f}, train {r[m]['seconds_train']:.2f})" for m in args.methods)
            + f"; peak RSS {r['peak_mb']:.0f} MB", flush=True)
    print("\n| N | " + " | ".join(f"{m} step (s)" for m in args.methods) + " | peak RSS (MB) |")
    print("| ---: |" + " ---: |" * (len(args.methods) + 1))
    for r in rows:
        print(f"| {r['N']:,} | " + " | ".join(f"{r[m]['seconds_step']:.2f}" for m in args.methods)
              + f" | {r['peak_mb']:,.0f} |")
    if len(rows) > 1:
        sizes = [r["N"] for r in rows]
        fits = [f"{m} step N^{exponent(sizes, [r[m]['seconds_step'] for r in rows]):.2f} (scoring "
                f"N^{exponent(sizes, [max(r[m]['seconds_scoring'], 1e-6) for r in rows]):.2f}, inference "
                f"N^{exponent(sizes, [r[m]['seconds_inference'] for r in rows]):.2f}, train "
                f"N^{exponent(sizes, [r[m]['seconds_train'] for r in rows]):.2f})" for m in args.methods]
        print("growth: " + "; ".join(fits) + f"; peak RSS N^{exponent(sizes, [r['peak_mb'] for r in rows]):.2f}")
    print(f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f} (1 min); {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
