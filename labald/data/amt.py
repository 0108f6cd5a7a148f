"""Liao et al.'s real AMT worker annotations (`group_workers.json`, MIT): the original or the embedded copy.

The original holds, per class group, one 100 x 100 count matrix per AMT worker over ImageNet100
(rows = true class, columns = answer). It is not copied into the repository; a compact form
derived from it (`amt_crowd.json` beside this module: its non-zero counts, license and provenance,
written by `scripts/make_amt_crowd.py`) is, so a clone with no data directory and no network runs
the real crowd. A run reads the original from the data directory when it is there, else the
embedded copy; both give the same `AmtData`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from labald.errors import LabaldError

AMT_FILENAME = "group_workers.json"
EMBEDDED_AMT = Path(__file__).with_name("amt_crowd.json")
COMPACT_FORMAT = "labald-amt-compact/1"


@dataclass(frozen=True)
class AmtData:
    """The parsed worker file: wnids in matrix order and per-group count tensors [n_workers, 100, 100]."""

    path: Path
    wnids: tuple[str, ...]
    groups: dict[str, np.ndarray]
    total_counts: np.ndarray

    @property
    def origin(self) -> str:
        """Where the counts came from, for logs."""
        if self.path == EMBEDDED_AMT:
            return f"embedded copy labald/data/{EMBEDDED_AMT.name}, derived from Liao et al.'s {AMT_FILENAME}"
        return str(self.path)

    def indices(self, wnids: list[str]) -> np.ndarray:
        """Matrix indices of `wnids`; raises a LabaldError naming any wnid the file does not know."""
        position = {w: i for i, w in enumerate(self.wnids)}
        missing = [w for w in wnids if w.lower() not in position]
        if missing:
            raise LabaldError(
                f"wnids {', '.join(missing[:5])} are absent from the worker data {self.path}; "
                "use ImageNet100 wnids or set workers=synthetic"
            )
        return np.array([position[w.lower()] for w in wnids])

    def group_of(self, wnids: list[str]) -> str:
        """The AMT group whose workers annotated every class of `wnids` (rows with answers)."""
        idx = self.indices(wnids)
        for group, counts in sorted(self.groups.items()):
            if (counts[:, idx, :].sum(axis=(0, 2)) > 0).all():
                return group
        raise LabaldError(
            "the wnids do not all belong to one AMT worker group, so no real crowd covers them; "
            "pick wnids from one subtask or set workers=synthetic"
        )

    def group_counts(self, group: str, wnids: list[str]) -> np.ndarray:
        """Per-worker counts of `group` on the images of `wnids`, answers among `wnids`: [n_workers, K, K].

        A subset of a subtask's classes (dog_real's 8 of dog's 19) offers fewer answers. An answer that
        named one of the group's other classes was wrong and stays wrong: it is spread evenly over the
        K - 1 kept classes other than the true one, so every worker keeps their accuracy on each class.
        (Dropping such answers would make crowds far better than they were: on vertebrate_real's 6
        classes every kept answer is right, against 82% of all answers.) On a whole subtask no answer
        lies outside, and the counts are the group's own.
        """
        idx = self.indices(wnids)
        rows = self.groups[group][:, idx].astype(np.float64)  # [W, K, 100]
        counts = rows[:, :, idx]
        k = len(idx)
        if k > 1:
            outside = rows.sum(axis=2) - counts.sum(axis=2)  # [W, K] answers naming a class not offered
            counts = counts + outside[:, :, None] * (1.0 - np.eye(k)) / (k - 1)
        return counts


def resolve_data_dir(data_dir: str | None) -> Path:
    """The AMT data directory: the config value, else $LABALD_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get("LABALD_DATA_DIR") or "data").expanduser()


def find_amt_file(data_dir: str | os.PathLike | None) -> Path | None:
    """Path of the original `group_workers.json` under the data directory; None when nothing is there.

    Something there that is not a readable file (a folder, a broken link) is an error, not absence.
    """
    folder = resolve_data_dir(None if data_dir is None else str(data_dir))
    if folder.exists() and not folder.is_dir():
        raise LabaldError(f"the data directory {folder} (data_dir / LABALD_DATA_DIR) is a file; give the folder "
                          f"that holds {AMT_FILENAME}")
    path = folder / AMT_FILENAME
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file (a broken link?)"
        raise LabaldError(f"the AMT worker file {path} is {what}; put Liao et al.'s {AMT_FILENAME} there "
                          "(make data) or remove it to use the embedded copy")
    return path


def amt_file(data_dir: str | os.PathLike | None) -> Path:
    """The worker data a run reads: the original from the data directory when there, else the embedded copy."""
    return find_amt_file(data_dir) or EMBEDDED_AMT


def load_amt(path: Path) -> AmtData:
    """Parse and check the worker file (cached per path and modification time)."""
    path = Path(path)
    return _load_amt(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load_amt(path: str, _mtime: int) -> AmtData:
    fix = "restore it from Liao et al.'s release (make data) or move it away to use workers=synthetic"
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise TypeError(f"the top level is a JSON {type(raw).__name__}, not an object")
        if raw.get("format") == COMPACT_FORMAT:
            raw = _expand_compact(raw)
        wnids = tuple(str(w).lower() for w in raw["imagenet100"])
        n = len(wnids)
        groups = {str(g): np.asarray(ms, dtype=np.float64) for g, ms in raw["group_workers"].items()}
        total = np.asarray(raw.get("total_cm", np.zeros((n, n))), dtype=np.float64)
    except OSError as e:
        raise LabaldError(f"cannot read the AMT worker file {path} ({e.strerror}); {fix}") from e
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise LabaldError(f"the AMT worker file {path} is corrupt ({type(e).__name__}: {e}); {fix}") from e
    for g, counts in groups.items():
        if counts.ndim != 3 or counts.shape[1:] != (n, n) or not np.isfinite(counts).all() or (counts < 0).any():
            raise LabaldError(
                f"the AMT worker file {path} is corrupt (group {g} is not a list of {n}x{n} "
                f"non-negative count matrices); {fix}"
            )
    if total.shape != (n, n):
        raise LabaldError(f"the AMT worker file {path} is corrupt (total_cm is not {n}x{n}); {fix}")
    return AmtData(Path(path), wnids, groups, total)


def _expand_compact(raw: dict) -> dict:
    """The embedded compact form back in the original's layout (dense matrices)."""
    n = len(raw["wnids"])
    groups = {}
    for g, group in raw["groups"].items():
        counts = np.zeros((int(group["n_workers"]), n, n))
        if group["counts"]:
            w, r, c, v = np.asarray(group["counts"], dtype=np.int64).T
            counts[w, r, c] = v
        groups[g] = counts
    total = np.zeros((n, n))
    if raw["total_cm"]:
        r, c, v = np.asarray(raw["total_cm"], dtype=np.float64).T
        total[r.astype(np.int64), c.astype(np.int64)] = v
    return {"imagenet100": raw["wnids"], "group_workers": groups, "total_cm": total}
