"""Real features: a float `.npy` array (N x D) and a label file of ImageNet wnids, one per row
(`wnid` or `wnid/filename`, as in Liao et al.'s `train_labeled.txt`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from labald.data.pool import require_classes
from labald.errors import LabaldError

log = logging.getLogger("labald")
BAD_SCALE = 100.0  # columns whose sd (or a mean against the typical sd) differ by more are badly scaled


def read_labels(path: Path) -> list[str]:
    """One class name per non-empty line; `wnid/filename` keeps the part before the first slash."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LabaldError(f"labels file {path} does not exist; set dataset.labels_path to a file of wnids") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabaldError(f"cannot read labels file {path} ({e}); it must be UTF-8 text, one wnid per line") from None
    labels = [line.strip().split("/")[0] for line in lines if line.strip()]
    if not labels:
        raise LabaldError(f"labels file {path} is empty; it must hold one wnid (or wnid/filename) per line")
    return labels


def read_features(path: Path) -> np.ndarray:
    """A finite 2-D float array from a `.npy` file, as float32."""
    path = Path(path)
    if not path.is_file():
        raise LabaldError(f"features file {path} does not exist; set dataset.features_path to an N x D .npy file")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise LabaldError(f"features file {path} is not a readable .npy array; save it with numpy.save") from None
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise LabaldError(
            f"features file {path} holds a {x.dtype} array of shape {x.shape}; it must be a numeric N x D array"
        )
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise LabaldError(f"features file {path} has NaN or infinite values in {bad} rows; clean or drop those rows")
    return x


def load_labelled_features(
    features_path: Path, labels_path: Path, wnids: list[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features and integer labels of the rows whose wnid is in `wnids` (all classes when None)."""
    x = read_features(features_path)
    names = read_labels(labels_path)
    if len(names) != len(x):
        raise LabaldError(
            f"features file {features_path} has {len(x)} rows but labels file {labels_path} has {len(names)} "
            "labels; they must match row for row"
        )
    classes = list(wnids) if wnids else sorted(set(names))
    if not wnids:
        require_classes(classes, f"labels file {labels_path}", "label the rows with their true classes")
    present = set(names)
    missing = [w for w in classes if w not in present]
    if missing:
        raise LabaldError(
            f"classes {', '.join(missing[:5])} have no rows in {labels_path}; fix dataset.wnids or the labels file"
        )
    index = {w: k for k, w in enumerate(classes)}
    keep = np.array([n in index for n in names])
    labels = np.array([index[n] for n, k in zip(names, keep) if k], dtype=np.int64)
    return x[keep], labels, classes


def prepare_features(x: np.ndarray, standardize: bool, where: str) -> np.ndarray:
    """Features as the learner gets them. `standardize`: each column z-scored with the whole file's
    mean and sd (a constant column only centred), so no column dominates the MLP's first layer by its
    units alone; the same statistics for pool and prototypes. Else as they are, with a one-line warning
    when they are badly scaled: column sds more than BAD_SCALE apart, or a column mean more than
    BAD_SCALE typical sds from 0."""
    mean, sd = x.mean(axis=0, dtype=np.float64), x.std(axis=0, dtype=np.float64)
    if standardize:
        return ((x - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    varying = sd[sd > 0]
    if len(varying):
        typical = float(np.median(varying))
        if varying.max() > BAD_SCALE * varying.min() or np.abs(mean).max() > BAD_SCALE * typical:
            log.warning("features %s are badly scaled (column sd %.3g to %.3g, largest |mean| %.3g); "
                        "dataset.standardize=true z-scores each column", where, varying.min(), varying.max(),
                        np.abs(mean).max())
    return x
