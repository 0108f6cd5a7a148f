"""How well the core labels: samplers on subtasks and seeds, a reference core beside the current one.

    python scripts/bench_labeling.py                                 # commodity 200/class, seeds 0 1, SS and RIGW
    python scripts/bench_labeling.py --datasets dog vertebrate --seeds 2 3 4 --methods ss
    python scripts/bench_labeling.py --ref REF                       # the core of git ref REF as the reference
    python scripts/bench_labeling.py --variant cold=learner.warm_start=false   # an option set beside the default

Every (core, subtask, method, seed) is one `run.py` process (one torch thread each, `--jobs` at a
time), so cores are compared on identical pools and crowds. Per run it prints label accuracy at fixed
annotations per image (`--points`, linear between steps; a run that stopped earlier keeps its final
accuracy), the annotations per image at which the paper's stopping rule fired and the accuracy there,
and the annotations per image needed to reach `--targets` (linear between steps; `-` = never).
Per core: means over seeds, and for every other core its paired reduction against the reference core
on the same seeds (`labald.comparison`: `plateau`, the primary measure of `make figures`, and `target`),
with a 95% t-interval over the seed-runs.
On commodity 200/class, seeds 0 and 1, measurements of Liao et al.'s own loop (run with their code) on
the same pool and crowd are printed beside (`LIAO` below), with the accuracy they had where labald's
stopping rule fired as a per-seed target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labald import comparison  # noqa: E402
from labald.metrics import read_metrics  # noqa: E402

# Liao et al.'s loop (fidler-lab/efficient-annotation-cookbook, online_label/) on the pool and
# 60 workers of `dataset=commodity dataset.n_per_class=200`, B = 100. Label accuracy at 0.2 / 0.4 / 0.6
# annotations per image, and (ann./image, accuracy) where labald's stopping rule fired in that run.
LIAO = {
    ("commodity", 200, "ss", 0): ((0.914, 0.947, 0.961), (0.531, 0.958)),
    ("commodity", 200, "ss", 1): ((0.852, 0.899, 0.924), (0.750, 0.938)),
    ("commodity", 200, "rand_i_greedy_w", 0): ((0.917, 0.951, 0.965), (0.469, 0.959)),
    ("commodity", 200, "rand_i_greedy_w", 1): ((0.906, 0.945, 0.958), (0.438, 0.949)),
}
LIAO_POINTS = (0.2, 0.4, 0.6)


@dataclass(frozen=True)
class Core:
    name: str
    run_py: Path
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Curve:
    """One run's label accuracy against annotations per image, step by step."""

    ann: np.ndarray
    acc: np.ndarray
    stop_ann: float | None  # where the paper's rule fired (n_eligible < B/10), if it did
    stop_acc: float | None
    seconds_per_step: float

    def accuracy_at(self, point: float) -> float:
        if point >= self.ann[-1]:
            return float(self.acc[-1])
        return float(np.interp(point, self.ann, self.acc))

    def annotations_to_reach(self, target: float) -> float | None:
        cost = comparison.cost_to_reach(self.ann, self.acc, target)
        return None if np.isnan(cost) else cost


def read_curve(run_dir: Path, batch_size: int = 100) -> Curve:
    rows = read_metrics(run_dir / "metrics.csv")
    ann = np.array([float(r["annotations_per_image"]) for r in rows])
    acc = np.array([float(r["label_accuracy"]) for r in rows])
    fired = [i for i, r in enumerate(rows) if int(r["n_eligible"]) < batch_size // 10]
    stop = fired[0] if fired else None
    seconds = np.mean([float(r["seconds_step"]) for r in rows[1:]]) if len(rows) > 1 else float("nan")
    return Curve(ann, acc, None if stop is None else float(ann[stop]), None if stop is None else float(acc[stop]),
                 float(seconds))


def run_one(core: Core, out: Path, dataset: str, method: str, seed: int, n_per_class: int | None,
            extra: list[str]) -> Path:
    run_dir = out / core.name.replace(":", "_") / dataset / method / f"seed{seed}"
    if (run_dir / "summary.json").exists():
        return run_dir
    args = [sys.executable, str(core.run_py), f"method={method}", f"dataset={dataset}", f"seed={seed}",
            f"run_dir={run_dir}", *core.overrides, *extra]
    if n_per_class:
        args.append(f"dataset.n_per_class={n_per_class}")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "run.log", "w") as log:
        done = subprocess.run(args, cwd=core.run_py.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"bench_labeling: {core.name} {dataset} {method} seed={seed} failed; see {run_dir}/run.log")
    return run_dir


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["commodity"])
    parser.add_argument("--methods", nargs="+", default=["ss", "rand_i_greedy_w"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--n-per-class", type=int, default=200, help="0 = the subtask's full size (1300)")
    parser.add_argument("--points", nargs="+", type=float, default=list(LIAO_POINTS))
    parser.add_argument("--targets", nargs="+", type=float, default=[0.90, 0.95])
    parser.add_argument("--ref", default=None, help="git ref whose core runs beside this checkout's (a worktree)")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=key=value[,key=value...]: this checkout with overrides, as another core")
    parser.add_argument("--override", action="append", default=[], help="key=value for every core")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="keep runs here (default: a temporary folder)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_labeling_"))
    cores = [Core("current", ROOT / "run.py", ())]
    worktree = None
    if args.ref:
        worktree = Path(tempfile.mkdtemp(prefix="bench_labeling_ref_")) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.ref],
                       check=True, capture_output=True)
        cores.insert(0, Core(f"ref:{args.ref}", worktree / "run.py", ()))
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        cores.append(Core(name, ROOT / "run.py", tuple(o for o in overrides.split(",") if o)))
    n_per_class = args.n_per_class or None
    jobs = [(c, d, m, s) for d in args.datasets for m in args.methods for s in args.seeds for c in cores]
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            dirs = list(pool.map(lambda j: run_one(j[0], out, j[1], j[2], j[3], n_per_class, args.override), jobs))
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
            shutil.rmtree(worktree.parent, ignore_errors=True)
    curves = {j[:4]: read_curve(d) for j, d in zip(jobs, dirs)}
    print(f"{len(jobs)} runs in {time.perf_counter() - started:.0f} s ({args.jobs} at a time, 1 thread each); "
          f"load average {os.getloadavg()[0]:.1f}; runs in {out}")
    print_tables(cores, curves, args, n_per_class)


def print_tables(cores: list[Core], curves: dict, args, n_per_class: int | None) -> None:
    pts = " ".join(f"@{p:g}" for p in args.points)
    tgts = " ".join(f"->{t:g}" for t in args.targets)
    for d in args.datasets:
        for m in args.methods:
            print(f"\n## {d} {m} (n_per_class={n_per_class or 'full'}): accuracy {pts} | stop (ann, acc) | "
                  f"ann. to reach {tgts} | s/step")
            for s in args.seeds:
                liao = LIAO.get((d, n_per_class, m, s))
                for c in cores:
                    cv = curves[(c, d, m, s)]
                    line = " ".join(_fmt(cv.accuracy_at(p)) for p in args.points)
                    reach = " ".join(_fmt(cv.annotations_to_reach(t)) for t in args.targets)
                    extra = ""
                    if liao is not None:
                        need = cv.annotations_to_reach(liao[1][1])
                        saved = None if need is None else 1 - need / liao[1][0]
                        extra = (f" | Liao's stop acc {liao[1][1]:.3f} at {_fmt(need)} "
                                 f"({_fmt(None if saved is None else 100 * saved, 1)}% fewer)")
                    print(f"  seed {s} {c.name:>14}: {line} | ({_fmt(cv.stop_ann)}, {_fmt(cv.stop_acc)}) | {reach} | "
                          f"{cv.seconds_per_step:.2f}{extra}")
                if liao is not None:
                    at = dict(zip(LIAO_POINTS, liao[0]))
                    line = " ".join(_fmt(at.get(p)) for p in args.points)
                    print(f"  seed {s} {'LIAO':>14}: {line} | ({liao[1][0]:.3f}, {liao[1][1]:.3f})")
            _summary(cores, curves, d, m, args)


def _summary(cores: list[Core], curves: dict, d: str, m: str, args) -> None:
    """Means over seeds, and each core's paired reduction against the first core (`labald.comparison`)."""
    base = cores[0]
    for c in cores:
        cvs = [curves[(c, d, m, s)] for s in args.seeds]
        mean_pts = " ".join(f"{np.mean([cv.accuracy_at(p) for cv in cvs]):.3f}" for p in args.points)
        line = f"  mean {c.name:>14}: {mean_pts}"
        if c is not base:
            for measure in (comparison.PRIMARY, "target"):
                values = np.array([comparison.MEASURE_FUNCTIONS[measure](
                    curves[(c, d, m, s)].ann, curves[(c, d, m, s)].acc, curves[(base, d, m, s)].ann,
                    curves[(base, d, m, s)].acc) for s in args.seeds])
                values = values[~np.isnan(values)]
                if values.size:
                    mean, low, high = comparison.interval(values)
                    ci = "" if np.isnan(low) else f" ({low:.1f} to {high:.1f})"
                    line += (f" | {measure} vs {base.name}: {mean:.1f}%{ci}, "
                             f"{int((values > 0).sum())}/{values.size} seeds")
        print(line)


if __name__ == "__main__":
    main()
