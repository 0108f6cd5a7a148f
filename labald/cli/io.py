"""The CLI's files: reading and checking a campaign's inputs, and writing outputs atomically.

Inputs (UTF-8; task, worker and class ids are strings, so integers and names both work):
- answers CSV `task,worker,label` (crowd-kit's long format), optional integer column `round`;
- features `.npy` (N x D, finite) with ids.txt (one task id per line, row for row);
- prototypes CSV `task,label`: gold tasks with known labels (rows of ids.txt when features are given);
- classes.txt: one class per line (default: sorted unique labels of answers and gold);
- roster CSV `worker,capacity`: who may be asked, and at most how many tasks each in this batch.
Every problem raises a LabaldError naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labald.data.pool import require_classes
from labald.data.replay import encode, read_answers, read_table, sorted_ids
from labald.errors import LabaldError
from labald.paths import check_destination


@dataclass(frozen=True)
class Campaign:
    """A campaign's inputs, encoded: pool tasks are images 0..N-1 (ids.txt order, gold removed);
    workers are the roster's in its order, then the others of the answers in natural order."""

    task_ids: list[str]
    classes: list[str]
    worker_ids: list[str]
    image: np.ndarray  # answers on pool tasks, in file order
    worker: np.ndarray
    label: np.ndarray
    round: np.ndarray  # the `round` column (all 1 without it)
    features: np.ndarray | None  # [N, D] float32 of the pool tasks
    prototype_features: np.ndarray | None  # [P, D] gold tasks with features, ids.txt order
    prototype_labels: np.ndarray  # [P]
    gold_worker: np.ndarray  # answers on gold tasks: worker, answer, true class
    gold_answer: np.ndarray
    gold_truth: np.ndarray
    gold_tasks: dict[str, int] = field(default_factory=dict)  # every gold task: its known class, gold.csv order
    gold_answers: dict[str, int] = field(default_factory=dict)  # answers per gold task in the log


def read_campaign(annotations: Path, features: Path | None = None, ids: Path | None = None,
                  prototypes: Path | None = None, classes: Path | None = None,
                  roster_ids: list[str] | None = None, allow_no_answers: bool = False) -> Campaign:
    """Read and cross-check the files; see the module docstring for the formats."""
    if (features is None) != (ids is None):
        raise LabaldError("--features and --ids go together: ids.txt names the task of each row of the features")
    answers = read_answers(annotations, "annotations file", allow_no_rows=allow_no_answers)
    rounds = _rounds(answers, annotations)
    gold = _read_gold(prototypes) if prototypes is not None else None
    class_list = _read_lines(classes, "classes file") if classes is not None else None
    if class_list is None:
        class_list = sorted_ids(list(answers["label"]) + ([] if gold is None else list(gold["label"])))
        if not class_list:
            raise LabaldError("no answers and no gold labels to tell the classes from; give --classes classes.txt "
                              "(one class per line)")
    require_classes(class_list, "the answers and gold labels" if classes is None else f"classes file {classes}",
                    "give --classes classes.txt with all classes")
    class_index = {c: k for k, c in enumerate(class_list)}
    gold_labels = {} if gold is None else dict(zip(gold["task"], encode(
        gold["label"], class_index, "gold label", f"in {prototypes} is not among the classes {_show(class_list)}")))
    answer_labels = encode(answers["label"], class_index, "label",
                           f"in {annotations} is not among the classes {_show(class_list)}; fix it or --classes")
    x, row_ids = (None, None) if features is None else _read_features(features, ids)
    if row_ids is not None:
        known = set(row_ids)
        unknown = [t for t in gold_labels if t not in known]
        if unknown:
            raise LabaldError(f"gold task {unknown[0]!r} of {prototypes} is not in {ids}; gold tasks need features")
        unknown = np.flatnonzero(~answers["task"].isin(known).to_numpy())
        if len(unknown):
            raise LabaldError(f"task {answers['task'].iloc[unknown[0]]!r} (line {unknown[0] + 2} of {annotations}) "
                              f"is not in {ids}; every answered task needs a row of features")
        task_ids = [t for t in row_ids if t not in gold_labels]
    else:
        task_ids = sorted_ids(t for t in answers["task"] if t not in gold_labels)
    on_gold = answers["task"].isin(set(gold_labels)).to_numpy()
    roster_ids = list(roster_ids or [])
    worker_ids = roster_ids + [w for w in sorted_ids(answers["worker"]) if w not in set(roster_ids)]
    worker_codes = encode(answers["worker"], {w: j for j, w in enumerate(worker_ids)}, "worker", "is unknown")
    image = encode(answers["task"][~on_gold], {t: i for i, t in enumerate(task_ids)}, "task", "is unknown")
    proto_rows = [] if row_ids is None else [r for r, t in enumerate(row_ids) if t in gold_labels]
    pool_rows = [] if row_ids is None else [r for r, t in enumerate(row_ids) if t not in gold_labels]
    return Campaign(
        task_ids=task_ids, classes=class_list, worker_ids=worker_ids,
        image=image, worker=worker_codes[~on_gold], label=answer_labels[~on_gold], round=rounds[~on_gold],
        features=None if x is None else x[pool_rows],
        prototype_features=None if x is None else x[proto_rows],
        prototype_labels=np.array([gold_labels[row_ids[r]] for r in proto_rows], dtype=np.int64),
        gold_worker=worker_codes[on_gold], gold_answer=answer_labels[on_gold],
        gold_truth=np.array([gold_labels[t] for t in answers["task"][on_gold]], dtype=np.int64),
        gold_tasks=dict(gold_labels),
        gold_answers=answers["task"][on_gold].value_counts().to_dict(),
    )


def read_roster(path: Path) -> tuple[list[str], np.ndarray, list[str] | None]:
    """Worker ids in file order, their capacities (integers >= 0) for this batch, and their groups
    (an optional `group` column, e.g. expert / crowd; None without it)."""
    table = read_table(path, ("worker", "capacity"), "workers file")
    dup = table["worker"].duplicated().to_numpy()
    if dup.any():
        raise LabaldError(f"workers file {path} lists worker {table['worker'].iloc[np.argmax(dup)]!r} twice "
                          f"(line {np.argmax(dup) + 2}); list each worker once")
    capacity = _integers(table["capacity"], path, "capacity", low=0)
    if "group" not in table.columns:
        return list(table["worker"]), capacity, None
    groups = table["group"].str.strip()
    blank = (groups == "").to_numpy()
    if blank.any():
        raise LabaldError(f"workers file {path} has no group on line {np.argmax(blank) + 2}; give every worker "
                          "a group (e.g. expert or crowd) or drop the group column")
    return list(table["worker"]), capacity, list(groups)


def _rounds(answers, path: Path) -> np.ndarray:
    if "round" not in answers.columns:
        return np.ones(len(answers), dtype=np.int64)
    return _integers(answers["round"].str.strip(), path, "round", low=1)


def _integers(column, path: Path, name: str, low: int) -> np.ndarray:
    values = []
    for line, cell in enumerate(column):
        try:
            value = int(cell)
        except ValueError:
            value = None
        if value is None or value < low:
            raise LabaldError(f"{name} {cell!r} on line {line + 2} of {path} is invalid; "
                              f"it must be an integer >= {low}")
        values.append(value)
    return np.array(values, dtype=np.int64)


def _read_gold(path: Path):
    gold = read_table(path, ("task", "label"), "prototypes file")
    dup = gold["task"].duplicated().to_numpy()
    if dup.any():
        raise LabaldError(f"prototypes file {path} lists task {gold['task'].iloc[np.argmax(dup)]!r} twice "
                          f"(line {np.argmax(dup) + 2}); give each gold task once")
    return gold


def _read_lines(path: Path, what: str) -> list[str]:
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise LabaldError(f"{what} {path} does not exist; give the path of an existing file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabaldError(f"cannot read {what} {path} ({type(e).__name__}); it must be UTF-8 text") from None
    values = [ln for ln in lines if ln]
    if not values:
        raise LabaldError(f"{what} {path} is empty; it must hold one id per line")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise LabaldError(f"{what} {path} lists {v!r} twice; each line must be unique")
        seen.add(v)
    return values


def _read_features(features: Path, ids: Path) -> tuple[np.ndarray, list[str]]:
    path = Path(features)
    if not path.is_file():
        raise LabaldError(f"features file {path} does not exist; give an N x D .npy file")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise LabaldError(f"features file {path} is not a readable .npy array ({type(e).__name__}); "
                          "save it with numpy.save") from None
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or len(x) == 0:
        raise LabaldError(f"features file {path} holds a {x.dtype} array of shape {x.shape}; "
                          "it must be a numeric N x D array with N >= 1")
    x = x.astype(np.float32)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise LabaldError(f"features file {path} has NaN or infinite values in {int(bad.sum())} rows (first: row "
                          f"{int(np.argmax(bad))}); clean or drop those rows (and their ids)")
    row_ids = _read_lines(ids, "ids file")
    if len(row_ids) != len(x):
        raise LabaldError(f"features file {path} has {len(x)} rows but ids file {ids} has {len(row_ids)} ids; "
                          "they must match row for row")
    return x, row_ids


def _show(values: list[str], n: int = 10) -> str:
    return "[" + ", ".join(values[:n]) + (", ..." if len(values) > n else "") + "]"


def csv_text(header: list[str], rows) -> str:
    """CSV text with a header; floats keep full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def check_outputs(paths: list[Path], force: bool = False) -> None:
    """Before any work: every output file can be written (its folder exists, it is not a folder) and
    none already exists unless `force`: a command never silently replaces a file it did not write."""
    for path in paths:
        check_destination(path, "output", is_file=True)
        if not path.parent.is_dir():
            raise LabaldError(f"output {path}: folder {path.parent} does not exist; create it first or choose "
                              "another path")
        if path.exists() and not force:
            raise LabaldError(f"output {path} exists; pass --force to replace it, or choose another path")


def write_outputs(files: dict[Path, str]) -> None:
    """Write each file to a temporary beside it, then rename: no reader ever sees half a file."""
    from labald.rundir import atomic_write_text  # imports torch: not on the input-checking path

    for path, text in files.items():
        atomic_write_text(Path(path), text)
