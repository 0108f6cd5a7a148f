"""`labald aggregate` from answers alone against crowd-kit's Dawid-Skene on simulated answer logs.

    python scripts/bench_aggregate.py [--seeds 5] [--tasks 1000] [--workers 50]

Each log: N tasks of 8 classes with uniform truth, 1-3 answers per task from workers drawn in
proportion to a log-normal activity (a few workers answer much, most little, as on AMT), each worker a
confusion matrix of labald's synthetic crowd (labald.workers.crowd.synthetic_crowd, mean accuracy .65,
worker and per-class skill varying). Two kinds of crowd: `shared`, whose errors go to similar classes
(a seeded random class similarity), so the workers share their confusions, and `even`, whose errors
spread evenly over the other classes. Rows: labald's default prior (its mean is the crowd's confusion,
estimated from the log), the symmetric prior of `--prior-accuracy 0.7`, crowd-kit's Dawid-Skene and
majority vote; accuracy mean over seeds and the difference to Dawid-Skene per seed. Needs crowd-kit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from labald.data.similarity import normalize_off_diagonal, random_similarity
from labald.workers.crowd import synthetic_crowd

N_CLASSES = 8
MEAN_ACCURACY = 0.65


def simulate_log(kind: str, seed: int, n_tasks: int, n_workers: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A log (task, worker, label) and the true class of every task."""
    rng = np.random.default_rng([seed, 0 if kind == "shared" else 1])
    similarity = (random_similarity(N_CLASSES, rng) if kind == "shared"
                  else normalize_off_diagonal(np.ones((N_CLASSES, N_CLASSES))))
    confusions = synthetic_crowd(similarity, n_workers, MEAN_ACCURACY, rng)
    activity = rng.lognormal(0.0, 1.0, size=n_workers)
    truth = rng.integers(N_CLASSES, size=n_tasks)
    rows = []
    for i in range(n_tasks):
        for j in rng.choice(n_workers, size=rng.integers(1, 4), replace=False, p=activity / activity.sum()):
            rows.append((i, j, int(rng.choice(N_CLASSES, p=confusions[j, truth[i]]))))
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), truth


def labald_accuracy(answers: pd.DataFrame, truth: np.ndarray, extra: list[str]) -> float:
    """`labald aggregate` (in-process) on the log written to a temporary folder."""
    from labald.cli import main

    with tempfile.TemporaryDirectory(prefix="bench_aggregate-") as tmp:
        folder = Path(tmp)
        answers.to_csv(folder / "answers.csv", index=False)
        (folder / "classes.txt").write_text("\n".join(str(k) for k in range(N_CLASSES)) + "\n")
        assert main(["aggregate", "--annotations", str(folder / "answers.csv"), "--classes",
                     str(folder / "classes.txt"), *extra, "-o", str(folder / "labels.csv")]) == 0
        labels = pd.read_csv(folder / "labels.csv")
    return float(np.mean(labels["label"].to_numpy() == truth[labels["task"].to_numpy()]))


def crowdkit_accuracy(aggregator, answers: pd.DataFrame, truth: np.ndarray) -> float:
    labels = aggregator.fit_predict(answers)
    return float(np.mean(labels.to_numpy() == truth[labels.index.to_numpy()]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="logs per kind of crowd (5)")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per log (1000)")
    parser.add_argument("--workers", type=int, default=50, help="workers per log (50)")
    args = parser.parse_args(argv)
    try:
        from crowdkit.aggregation import DawidSkene, MajorityVote
    except ImportError:
        print("bench_aggregate: error: crowd-kit is not installed; pip install -e '.[bench]'", file=sys.stderr)
        return 2
    methods = {
        "labald aggregate": lambda a, t: labald_accuracy(a, t, []),
        "labald aggregate --prior-accuracy 0.7": lambda a, t: labald_accuracy(a, t, ["--prior-accuracy", "0.7"]),
        "crowd-kit Dawid-Skene": lambda a, t: crowdkit_accuracy(DawidSkene(n_iter=100), a, t),
        "crowd-kit majority vote": lambda a, t: crowdkit_accuracy(MajorityVote(), a, t),
    }
    results = []
    for kind in ("shared", "even"):
        for seed in range(args.seeds):
            answers, truth = simulate_log(kind, seed, args.tasks, args.workers)
            for name, accuracy in methods.items():
                results.append({"crowd": kind, "seed": seed, "method": name, "accuracy": accuracy(answers, truth)})
    table = pd.DataFrame(results)
    wide = table.pivot_table(index=["crowd", "seed"], columns="method", values="accuracy")
    vs_ds = wide.sub(wide["crowd-kit Dawid-Skene"], axis=0)
    print(f"{args.seeds} logs per crowd: {args.tasks} tasks, {N_CLASSES} classes, {args.workers} workers, "
          "1-3 answers per task")
    print("| crowd | method | accuracy (mean) | minus Dawid-Skene: mean (min to max) | seeds ahead of Dawid-Skene |")
    print("| --- | --- | ---: | ---: | ---: |")
    for kind in ("shared", "even"):
        for name in methods:
            diff = vs_ds.loc[kind, name]
            print(f"| {kind} | {name} | {wide.loc[kind, name].mean():.3f} | {diff.mean():+.3f} "
                  f"({diff.min():+.3f} to {diff.max():+.3f}) | {(diff > 0).sum()}/{len(diff)} |")
    print("\nper seed:")
    print(wide.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
