"""The unlabeled pool, its hidden truth and its gold prototypes, and the per-class subsetting shared
by every feature source (pool size, imbalance, prototype split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labald.data.kinds import DATASET_KINDS, DatasetKind
from labald.errors import LabaldError


def require_classes(classes: list[str], where: str, fix: str) -> None:
    """The one rule on a class list, for runs and the `labald` CLI alike: at least two classes
    (labelling with one class is no task: every answer is right, every score zero), each once."""
    if len(classes) < 2:
        named = f"only one class ({classes[0]!r})" if classes else "no class"
        raise LabaldError(f"{where} names {named}; a pool needs at least two classes: {fix}")
    seen = set()
    for c in classes:
        if c in seen:
            raise LabaldError(f"{where} names class {c!r} twice; each class must appear once")
        seen.add(c)


@dataclass(frozen=True)
class Pool:
    """N pool images and P prototypes with fixed features; `labels` is the hidden ground truth (None
    on a real campaign, where nobody knows it), read only by the simulated crowd and the evaluator."""

    name: str
    class_names: tuple[str, ...]
    features: np.ndarray  # [N, D] float32
    labels: np.ndarray | None  # [N] int64
    prototype_features: np.ndarray  # [P, D] float32
    prototype_labels: np.ndarray  # [P] int64
    similarity: np.ndarray  # [K, K] how often class y is mistaken for y' (rows sum to 1, zero diagonal)
    source: str  # one line for the log: where the features come from
    # [M, K, K] answer counts (rows true class, columns answer) of the real workers that come with the
    # data (LabelMe's AMT crowd), from which labald.workers builds the simulated crowd; None: none do
    crowd_counts: np.ndarray | None = None
    kind: DatasetKind = DATASET_KINDS["sandbox"]  # what the data is made of and who answers it (labald.data.kinds)

    @property
    def n_images(self) -> int:
        return len(self.features)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def class_sizes(n_per_class: int, n_classes: int, imbalance_ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Images per class: n_per_class for the majority, decaying geometrically to
    n_per_class / imbalance_ratio for the minority (appendix B.3), classes in a seeded random order."""
    decay = imbalance_ratio ** (-np.arange(n_classes) / max(n_classes - 1, 1))
    sizes = np.maximum(1, np.round(n_per_class * decay)).astype(int)
    return sizes[rng.permutation(n_classes)]


def subset_pool(
    features: np.ndarray,
    labels: np.ndarray,
    n_per_class: int | None,
    n_prototypes: int,
    imbalance_ratio: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick, per class, `n_prototypes` gold images and the pool images (disjoint), seeded.

    Returns index arrays (pool, prototypes) into `features`. `n_per_class=None` keeps every
    remaining image of the majority class size available.
    """
    n_classes = int(labels.max()) + 1
    by_class = [rng.permutation(np.flatnonzero(labels == k)) for k in range(n_classes)]
    available = min(len(idx) for idx in by_class) - n_prototypes
    if available < 1:
        k = int(np.argmin([len(idx) for idx in by_class]))
        raise LabaldError(
            f"class {k} has {len(by_class[k])} images, too few for {n_prototypes} prototypes plus a pool; "
            "lower dataset.n_prototypes or add images of that class"
        )
    largest = n_per_class if n_per_class is not None else max(len(idx) for idx in by_class) - n_prototypes
    sizes = class_sizes(largest, n_classes, imbalance_ratio, rng)
    pool, protos = [], []
    for idx, size in zip(by_class, sizes):
        protos.append(idx[:n_prototypes])
        pool.append(idx[n_prototypes : n_prototypes + size])
    pool_idx, proto_idx = np.concatenate(pool), np.concatenate(protos)
    return np.sort(pool_idx), np.sort(proto_idx)


def make_pool(
    name: str,
    class_names: list[str],
    features: np.ndarray,
    labels: np.ndarray,
    similarity: np.ndarray,
    source: str,
    n_per_class: int | None,
    n_prototypes: int,
    imbalance_ratio: float,
    rng: np.random.Generator,
) -> Pool:
    """Split labelled features into a pool and prototypes (see `subset_pool`) and wrap them."""
    pool_idx, proto_idx = subset_pool(features, labels, n_per_class, n_prototypes, imbalance_ratio, rng)
    return Pool(
        name=name,
        class_names=tuple(class_names),
        features=np.ascontiguousarray(features[pool_idx], dtype=np.float32),
        labels=labels[pool_idx].astype(np.int64),
        prototype_features=np.ascontiguousarray(features[proto_idx], dtype=np.float32),
        prototype_labels=labels[proto_idx].astype(np.int64),
        similarity=similarity,
        source=source,
    )
