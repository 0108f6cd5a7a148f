"""Regenerate this example's input files (they are committed; running this rewrites them identically).

A small campaign on scikit-learn's 8x8 digits: 300 pool images and 40 gold images (4 per class)
with their 64 pixel values as features, 12 crowd workers (2 of them hired experts) whose hidden
accuracies `answer.py` uses to play the crowd, and a first round of 100 answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from answer import answers
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
N_POOL, N_GOLD_PER_CLASS, N_WORKERS, N_EXPERTS, FIRST_ROUND = 300, 4, 12, 2, 100


def main() -> None:
    rng = np.random.default_rng(0)
    digits = load_digits()
    x, y = digits.data.astype(np.float32) / 16.0, digits.target
    gold = np.concatenate([rng.choice(np.flatnonzero(y == k), N_GOLD_PER_CLASS, replace=False) for k in range(10)])
    rest = np.setdiff1d(np.arange(len(y)), gold)
    pool = rng.choice(rest, N_POOL, replace=False)
    ids = [f"img{i:03d}" for i in range(N_POOL)] + [f"gold{i:02d}" for i in range(len(gold))]
    np.save(HERE / "feats.npy", np.concatenate([x[pool], x[gold]]))
    (HERE / "ids.txt").write_text("\n".join(ids) + "\n")
    (HERE / "gold.csv").write_text("task,label\n" + "".join(f"gold{i:02d},{y[g]}\n" for i, g in enumerate(gold)))
    (HERE / "truth.csv").write_text("task,label\n" + "".join(f"img{i:03d},{y[p]}\n" for i, p in enumerate(pool)))
    accuracy = np.r_[rng.uniform(0.55, 0.8, N_WORKERS - N_EXPERTS), rng.uniform(0.9, 0.97, N_EXPERTS)]
    groups = ["crowd"] * (N_WORKERS - N_EXPERTS) + ["expert"] * N_EXPERTS
    (HERE / "roster.csv").write_text("worker,capacity,group\n" + "".join(
        f"w{j:02d},{10 if g == 'crowd' else 5},{g}\n" for j, g in enumerate(groups)))
    (HERE / "crowd.csv").write_text("worker,accuracy\n" + "".join(
        f"w{j:02d},{a:.3f}\n" for j, a in enumerate(accuracy)))  # hidden: only answer.py reads it
    pairs = [(f"img{t:03d}", f"w{w:02d}") for t, w in zip(rng.choice(N_POOL, FIRST_ROUND, replace=False),
                                                         rng.integers(0, N_WORKERS - N_EXPERTS, FIRST_ROUND))]
    (HERE / "answers.csv").write_text("task,worker,label,round\n" + "".join(
        f"{t},{w},{z},1\n" for (t, w), z in zip(pairs, answers(pairs))))


if __name__ == "__main__":
    main()
