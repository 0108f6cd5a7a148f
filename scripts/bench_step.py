"""One loop step per sampler at paper scale, each phase beside its floor measured in the same run.

    python scripts/bench_step.py                       # commodity, 1,300 images/class (N = 20,800)
    python scripts/bench_step.py --n-per-class 200     # the reproduce scale
    python scripts/bench_step.py --threads 1 --repeat 3
    python scripts/bench_step.py --device cuda         # learner, MC inference and scoring on the GPU
    python scripts/bench_step.py --run 0               # whole runs of SS and LA-BALD, step by step

`--run S` (S steps at most, 0: until the stopping rule) times whole runs instead: every method from
the same start (seed 0, the same world of answers), their steps interleaved (step s of each method,
then step s + 1) so that the machine's load drifts over all of them alike; prints each step's
seconds and the ratio to SS for steps 1-10, then the runs' totals, seconds per step and ratios.

Builds a run (`dataset`, `n_per_class`, seed 0, the default core), advances it `--warm-steps` SS
steps so that the pool has answers, pseudo-labels and a trained model, then times one further
step per method from copies of that same state (learner, workers and answers copied, so every
method starts from identical inputs), `--repeat` times, keeping each phase's fastest. The phases
are the loop's own (metrics.csv's `seconds_*`): scoring, selection, EM, training and MC inference.

Floors are measured here, now, on this machine's load:
  - matmul rate: a 2048^3 float32 matmul (best of 5), the rate a dense product can reach;
  - log rate: `torch.log` over 2^25 float32 values (best of 5).
  MC inference floor = (2 T N (H^2 + H K) + 2 N D H) FLOP at the matmul rate (the T sampled
  networks over the pool; the first layer once). Scoring floor (J-BALD / LA-BALD) = T E M K
  logarithms at the log rate + 2 T E M K^2 FLOP at the matmul rate (p_t(z | i, j) for every
  eligible pair), E = eligible images at the step. Training has no floor printed: its cost is its
  number of updates (early stopping), not a fixed product.
Prints the load average before and after, a row per phase and method, and the step-time ratio of
each method to SS.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labald.config import validate  # noqa: E402
from labald.data import DatasetSettings  # noqa: E402
from labald.device import resolve_device  # noqa: E402
from labald.experiment import build_experiment, build_observers, build_sampler  # noqa: E402
from labald.learner import LearnerSettings  # noqa: E402
from labald.loop import advance, eligible, initial_state  # noqa: E402
from labald.samplers import uses_influence  # noqa: E402
from labald.settings import AcquisitionSettings, AggregationSettings, RunSettings  # noqa: E402
from labald.stopping import StoppingSettings  # noqa: E402
from labald.threads import apply_threads  # noqa: E402
from labald.workers import WorkerSettings  # noqa: E402

METHODS = ("ss", "rand_i_greedy_w", "j_bald", "la_bald")
PHASES = ("seconds_scoring", "seconds_selection", "seconds_em", "seconds_train", "seconds_inference",
          "seconds_step")


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measured_rates(device: torch.device) -> tuple[float, float]:
    """(FLOP/s of a 2048^3 float32 matmul, logarithms/s of torch.log) on `device`, best of 5 each."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    x = torch.rand(1 << 25, device=device) + 0.5
    out = torch.empty_like(x)

    def matmul():
        a @ b
        sync()

    def logarithm():
        torch.log(x, out=out)
        sync()

    return 2 * 2048**3 / best_of(matmul), (1 << 25) / best_of(logarithm)


def settings_for(method: str, dataset: str, n_per_class: int | None, device: str) -> RunSettings:
    """Seed 0 of `method` on the dataset; `<method>-full` scores every image (acquisition.prune=false)."""
    method, full = method.removesuffix("-full"), method.endswith("-full")
    settings = RunSettings(
        seed=0, method=method, dataset=DatasetSettings(name=dataset, n_per_class=n_per_class),
        workers=WorkerSettings(), aggregation=AggregationSettings(), learner=LearnerSettings(),
        acquisition=AcquisitionSettings(prune=not full), stopping=StoppingSettings(), results_dir="/nonexistent-unused",
        device=device,
    )
    validate(settings)
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="commodity")
    parser.add_argument("--n-per-class", type=int, default=0, help="0 = the paper's 1,300 per class")
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        choices=[*METHODS, "elr", "elr_pooled", "eag", "j_bald-full", "la_bald-full"],
                        help="a -full method scores every image (acquisition.prune=false): the unpruned reference")
    parser.add_argument("--warm-steps", type=int, default=5, help="SS steps before the timed step")
    parser.add_argument("--repeat", type=int, default=2, help="timed steps per method (fastest phase kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads (default: all cores)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write each method's fastest phases and the floors as CSV (method,phase,seconds)")
    parser.add_argument("--run", type=int, default=None, metavar="S",
                        help="time whole runs of S steps at most (0: until the stopping rule), interleaved")
    args = parser.parse_args()
    if args.threads:
        apply_threads(args.threads)
    if args.run is not None:
        return whole_runs(args)
    load_before = os.getloadavg()
    device = resolve_device(args.device)
    flops, logs = measured_rates(device)

    base = settings_for("ss", args.dataset, args.n_per_class or None, args.device)
    exp = build_experiment(base)
    state = initial_state(exp)
    for _ in range(args.warm_steps):
        advance(exp, state, "label")
    n, k, m = exp.pool.n_images, exp.pool.n_classes, exp.workers.n_workers
    t, h, d = exp.learner.settings.mc_samples, exp.learner.settings.hidden, exp.pool.features.shape[1]
    e = int(eligible(exp, state, "label").sum())
    print(f"{args.dataset}: N={n} K={k} M={m} T={t} H={h} D={d}, state after {state.step} SS steps: "
          f"{len(state.annotations)} answers, {e} eligible images; torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs")
    print(f"floors measured now ({device}): matmul {flops / 1e9:.0f} GFLOP/s (2048^3 fp32), "
          f"torch.log {logs / 1e9:.2f} G/s")

    floor = {
        "seconds_inference": (2 * t * n * (h * h + h * k) + 2 * n * d * h) / flops,
        "seconds_scoring": t * e * m * k / logs + 2 * t * e * m * k * k / flops,
    }
    best: dict[str, dict[str, float]] = {}
    for method in args.methods:
        own = settings_for(method, args.dataset, args.n_per_class or None, args.device)
        settings = dataclasses.replace(base, method=own.method, acquisition=own.acquisition)
        for _ in range(args.repeat):
            run = dataclasses.replace(exp, settings=settings, sampler=build_sampler(settings, exp.workers),
                                      observers=build_observers(settings),
                                      learner=copy.deepcopy(exp.learner), workers=copy.deepcopy(exp.workers))
            trial = copy.deepcopy(state)
            advance(run, trial, "label")
            row = trial.rows[-1]
            mine = best.setdefault(method, {p: np.inf for p in PHASES})
            for p in PHASES:
                mine[p] = min(mine[p], float(row.get(p) or 0.0))

    print(f"\n{'phase':<20}" + "".join(f"{mth:>17}" for mth in args.methods) + f"{'floor':>10}")
    for p in PHASES:
        line = f"{p.removeprefix('seconds_'):<20}"
        for method in args.methods:
            value = best[method][p]
            ratio = ""
            if p in floor and (p != "seconds_scoring" or uses_influence(method.removesuffix("-full"))):
                ratio = f" ({value / floor[p]:.1f}x)"
            line += f"{f'{value:.3f}{ratio}':>17}"
        line += f"{floor[p]:>10.3f}" if p in floor else f"{'':>10}"
        print(line)
    if args.csv is not None:
        rows = [(mth, p.removeprefix("seconds_"), best[mth][p]) for mth in args.methods for p in PHASES]
        rows += [("floor", p.removeprefix("seconds_"), floor[p]) for p in floor]
        args.csv.write_text("method,phase,seconds\n" + "".join(f"{m},{p},{v:.6f}\n" for m, p, v in rows))
    if "ss" in best:
        ss = best["ss"]["seconds_step"]
        print("\nstep / SS step: " + ", ".join(f"{mth} {best[mth]['seconds_step'] / ss:.2f}" for mth in args.methods))
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min)")
    return 0


def whole_runs(args) -> int:
    """Whole runs of each method from one start, steps interleaved; per-step and per-run ratios to SS."""
    from labald.loop import initial_state as start
    from labald.stopping import decide

    load_before = os.getloadavg()
    runs = {}
    for method in args.methods:
        exp = build_experiment(settings_for(method, args.dataset, args.n_per_class or None, args.device))
        runs[method] = (exp, start(exp))
    limit = args.run or 10**9
    for _ in range(limit):
        going = 0
        for exp, state in runs.values():
            if state.stop_reason is not None:
                continue
            decision = decide(state.rows, exp.settings.stopping, exp.settings.batch_size, exp.settings.max_steps)
            state.stop_reason = decision.stop
            if decision.stop is None and not advance(exp, state, decision.phase):
                state.stop_reason = "no pair left"
            going += state.stop_reason is None
        if not going:
            break
    seconds = {m: [r["seconds_step"] for r in state.rows[1:]] for m, (_, state) in runs.items()}
    print(f"{args.dataset} ({args.n_per_class or 1300}/class), torch threads {torch.get_num_threads()}; "
          "seconds per step")
    print(f"{'step':<6}" + "".join(f"{m:>18}" for m in args.methods))
    for s in range(min(10, max(len(v) for v in seconds.values()))):
        cells = []
        for m in args.methods:
            v = seconds[m][s] if s < len(seconds[m]) else None
            ratio = f" ({v / seconds['ss'][s]:.2f}x)" if v is not None and "ss" in seconds and s < len(seconds["ss"]) \
                and m != "ss" else ""
            cells.append(f"{'-' if v is None else f'{v:.3f}'}{ratio}")
        print(f"{s + 1:<6}" + "".join(f"{c:>18}" for c in cells))
    print("\nwhole runs:")
    for m in args.methods:
        total, steps = sum(seconds[m]), len(seconds[m])
        line = f"  {m:<16} {steps:>4} steps {total:8.1f} s  {total / max(steps, 1):.3f} s/step"
        if "ss" in seconds and m != "ss":
            ss_total, ss_steps = sum(seconds["ss"]), len(seconds["ss"])
            line += f"  per step {total / steps / (ss_total / ss_steps):.2f}x SS, per run {total / ss_total:.2f}x"
        print(line + f"  ({runs[m][1].stop_reason})")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
