"""Real multi-annotator logs (CIFAR-10H style): the long answer format and the `replay` pool.

Files (all UTF-8; ids are strings, so `7` and `img_007` both work):
- answers CSV, crowd-kit's long format: header `task,worker,label`, one row per answer; extra
  columns are kept (the CLI reads an optional `round`). A (task, worker) pair may appear once.
- task labels CSV: header `task,label`, one row per feature row, in the same order: each row's
  task id and its TRUE class (replay evaluates against it; samplers never see it).
- features: float `.npy`, N x D, row r describing the task on row r of the labels CSV.

In a replay run the pool's images are those tasks (minus per-class prototypes, as for any
features file), the workers are the log's workers, and a pair may be asked only if the log holds
its answer, which is what the worker "answers" (`labald.workers.replay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labald import streams
from labald.data import similarity as sim
from labald.data.features import prepare_features, read_features
from labald.data.kinds import DATASET_KINDS, DatasetKind
from labald.data.pool import Pool, require_classes, subset_pool
from labald.errors import LabaldError

ANSWER_COLUMNS = ("task", "worker", "label")


def read_table(path: Path, columns: tuple[str, ...], what: str, allow_no_rows: bool = False) -> pd.DataFrame:
    """A CSV of string cells with at least `columns` (header names trimmed), no blank cell in them.

    `what` names the file in messages (e.g. "answers file"); a LabaldError says what is wrong.
    A header without rows is an error unless `allow_no_rows`.
    """
    path = Path(path)
    if not path.is_file():
        raise LabaldError(f"{what} {path} does not exist; give the path of an existing CSV file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise LabaldError(f"{what} {path} is empty; it needs a header line {','.join(columns)} and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LabaldError(f"{what} {path} is not a readable CSV ({first}); "
                          f"it must be comma-separated with header {','.join(columns)}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise LabaldError(f"{what} {path} lacks column(s) {', '.join(missing)} (it has {', '.join(table.columns)}); "
                          f"its header must name {','.join(columns)}")
    if len(table) == 0 and not allow_no_rows:
        raise LabaldError(f"{what} {path} has a header but no rows; add at least one row")
    for c in columns:
        table[c] = table[c].str.strip()
        blank = np.flatnonzero(table[c].to_numpy() == "")
        if len(blank):
            raise LabaldError(f"{what} {path} has an empty {c} on line {blank[0] + 2}; fill it or drop the row")
    return table


def read_answers(path: Path, what: str = "answers file", allow_no_rows: bool = False) -> pd.DataFrame:
    """The long answer format `task,worker,label`; each (task, worker) pair at most once."""
    table = read_table(path, ANSWER_COLUMNS, what, allow_no_rows)
    repeated = table.duplicated(subset=["task", "worker"], keep="first").to_numpy()
    if repeated.any():
        line = int(np.flatnonzero(repeated)[0])
        task, worker = table["task"].iloc[line], table["worker"].iloc[line]
        raise LabaldError(f"{what} {path} answers task {task!r} by worker {worker!r} twice (again on line "
                          f"{line + 2}); keep one answer per task and worker")
    return table


def sorted_ids(values) -> list[str]:
    """Unique ids in natural order: numerically when every id is an integer, else as strings."""
    unique = set(values)
    if unique and all(_is_int(v) for v in unique):
        return sorted(unique, key=lambda v: (int(v), v))
    return sorted(unique)


def encode(values, index: dict[str, int], what: str, fix: str) -> np.ndarray:
    """Integer codes of string ids; the first id missing from `index` raises, naming `what` and the fix."""
    values = np.asarray(values, dtype=object)
    codes = np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))
    unknown = np.flatnonzero(codes < 0)
    if len(unknown):
        n = len(set(values[unknown]))
        raise LabaldError(f"{what} {values[unknown[0]]!r} (line {unknown[0] + 2}; {n} unknown in all) {fix}")
    return codes


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class ReplayPool(Pool):
    """A pool whose answers come from a log: `answers_N_M[i, j]` is worker j's logged class on image i
    (-1: never asked), `task_ids[i]` image i's id in the files, `worker_ids[j]` worker j's."""

    task_ids: tuple[str, ...]
    worker_ids: tuple[str, ...]
    answers_N_M: np.ndarray
    kind: DatasetKind = DATASET_KINDS["replay"]  # its log answers; load_pool sets LabelMe's replayed kind


def load_replay_pool(name: str, features_path: str | None, labels_path: str | None, answers_path: str | None,
                     classes: list[str] | None, n_per_class: int | None, n_prototypes: int,
                     imbalance_ratio: float, seed: int, standardize: bool = True) -> ReplayPool:
    """The `replay` dataset: features, true labels and the answer log, split into pool and prototypes."""
    for key, value in (("features_path", features_path), ("labels_path", labels_path),
                       ("answers_path", answers_path)):
        if not value:
            raise LabaldError(f"dataset=replay needs dataset.{key}=...; see configs/dataset/replay.yaml for the format")
    x = prepare_features(read_features(Path(features_path)), standardize, features_path)
    truth = read_table(Path(labels_path), ("task", "label"), "task labels file")
    if len(truth) != len(x):
        raise LabaldError(f"features file {features_path} has {len(x)} rows but task labels file {labels_path} has "
                          f"{len(truth)}; they must match row for row")
    dup = truth["task"].duplicated().to_numpy()
    if dup.any():
        raise LabaldError(f"task labels file {labels_path} lists task {truth['task'].iloc[np.argmax(dup)]!r} twice "
                          f"(line {np.argmax(dup) + 2}); each task id must be unique")
    if not classes:
        classes = sorted_ids(truth["label"])
        require_classes(classes, f"task labels file {labels_path}", "label the tasks with their true classes")
    classes = list(classes)
    class_index = {c: k for k, c in enumerate(classes)}
    y = encode(truth["label"], class_index, "true label", f"in {labels_path} is not among the classes {classes}")
    log = read_answers(Path(answers_path))
    task_index = {t: i for i, t in enumerate(truth["task"])}
    rows = encode(log["task"], task_index, "task", f"in {answers_path} is not in the task labels file {labels_path}")
    answered = encode(log["label"], class_index, "label", f"in {answers_path} is not among the classes {classes}")
    worker_ids = sorted_ids(log["worker"])
    workers = encode(log["worker"], {w: j for j, w in enumerate(worker_ids)}, "worker", "is unknown")
    source = (f"replayed answer log {answers_path} ({len(log)} answers by {len(worker_ids)} workers), "
              f"features {features_path} ({x.shape[1]}-d)")
    return replay_pool(name, x, y, classes, rows, workers, answered, list(truth["task"]), worker_ids, source,
                       n_per_class, n_prototypes, imbalance_ratio, seed)


def replay_pool(name: str, x: np.ndarray, y: np.ndarray, classes: list[str], rows: np.ndarray,
                workers: np.ndarray, answered: np.ndarray, task_ids: list[str], worker_ids: list[str],
                source: str, n_per_class: int | None, n_prototypes: int, imbalance_ratio: float,
                seed: int) -> ReplayPool:
    """A replay pool from arrays: features `x` [N, D] with true labels `y`, and the log as
    (row, worker, answered class) triples; split into pool and prototypes as for any features file."""
    rng = np.random.default_rng([seed, streams.POOL])
    pool_idx, proto_idx = subset_pool(x, y, n_per_class, n_prototypes, imbalance_ratio, rng)
    logged = np.full((len(x), len(worker_ids)), -1, dtype=np.int16 if len(classes) < 2**15 else np.int32)
    logged[rows, workers] = answered
    counts = np.zeros((len(classes), len(classes)))
    np.add.at(counts, (y[rows], answered), 1.0)
    return ReplayPool(
        name=name,
        class_names=tuple(classes),
        features=np.ascontiguousarray(x[pool_idx], dtype=np.float32),
        labels=y[pool_idx],
        prototype_features=np.ascontiguousarray(x[proto_idx], dtype=np.float32),
        prototype_labels=y[proto_idx],
        similarity=sim.from_human_confusions(counts),
        source=source,
        task_ids=tuple(str(task_ids[i]) for i in pool_idx),
        worker_ids=tuple(worker_ids),
        answers_N_M=logged[pool_idx],
    )
