"""Stand-in for your crowd: answer the pairs of a tasks.csv and append them to the answers file.

    python answer.py tasks.csv answers.csv

On a real campaign people answer `labald propose`'s tasks.csv; here each worker of crowd.csv is
right with its hidden accuracy (else picks a wrong digit at random), against truth.csv. A pair's
answer depends only on (task, worker), so rerunning the example gives the same campaign. The
rows appended are `task,worker,label,round`, the round copied from tasks.csv.
"""

from __future__ import annotations

import csv
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _table(path: Path, key: str, value: str) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row[key]: row[value] for row in csv.DictReader(f)}


def answers(pairs: list[tuple[str, str]]) -> list[str]:
    """The label each worker gives each task."""
    truth, accuracy = _table(HERE / "truth.csv", "task", "label"), _table(HERE / "crowd.csv", "worker", "accuracy")
    out = []
    for task, worker in pairs:
        rng = np.random.default_rng(zlib.crc32(f"{task}/{worker}".encode()))
        right = int(truth[task])
        wrong = [k for k in range(10) if k != right]
        out.append(str(right if rng.random() < float(accuracy[worker]) else wrong[rng.integers(len(wrong))]))
    return out


def main(tasks_csv: str, answers_csv: str) -> None:
    with open(tasks_csv, newline="") as f:
        tasks = list(csv.DictReader(f))
    labels = answers([(t["task"], t["worker"]) for t in tasks])
    with open(answers_csv, "a", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerows((t["task"], t["worker"], z, t["round"]) for t, z in zip(tasks, labels))
    print(f"answer.py: {len(tasks)} answers of round {tasks[0]['round'] if tasks else '-'} added to {answers_csv}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
