"""Pools of images to label: the sandbox subtasks, scikit-learn's digits, real feature files, a
folder of labelled images (features extracted by labald.data.images), the real-image subtasks
(labald.data.real) and LabelMe with its real crowd (labald.data.labelme)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from labald import checks, streams
from labald.data import similarity as sim
from labald.data.amt import AmtData
from labald.data.features import load_labelled_features, prepare_features
from labald.data.kinds import KINDS, REAL_DATASETS, DatasetKind, dataset_kind, kind_of
from labald.data.pool import Pool, make_pool, require_classes
from labald.data.sandbox import sandbox_features
from labald.data.subtasks import SUBTASKS
from labald.errors import LabaldError

__all__ = ["DatasetSettings", "Pool", "load_pool", "SUBTASKS", "KINDS", "REAL_DATASETS",
           "DatasetKind", "dataset_kind", "kind_of"]

SANDBOX_PER_CLASS = 1300  # ImageNet's train images per class


@dataclass(frozen=True)
class DatasetSettings:
    """`dataset.*` config keys. `kind`: sandbox subtask, digits, custom (features file),
    replay (features, true labels and a real answer log; see labald/data/replay.py), folder
    (a `class/image` folder of images; see labald/data/images.py), real (dog_real, vertebrate_real:
    committed features of real ImageNet images; labald/data/real.py) or labelme (LabelMe-AMT's
    images and real crowd, read from a folder; labald/data/labelme.py)."""

    name: str
    kind: str = "sandbox"
    wnids: tuple[str, ...] | None = None
    n_per_class: int | None = None
    n_prototypes: int = 10
    imbalance_ratio: float = 1.0
    features_path: str | None = None
    labels_path: str | None = None
    answers_path: str | None = None  # replay: the answer log, CSV task,worker,label
    feature_dim: int = 128
    separation: float = 6.0
    # features read from a file (custom, replay, a features_path): z-score each column with the
    # whole file's mean and sd (true), or use them as they are (false; a warning when badly scaled)
    standardize: bool = True
    root: str | None = None  # folder: the class/image folder of images; labelme: the LabelMe-AMT files' folder
    backbone: str = "efficientnet_b0"  # folder: torchvision backbone whose penultimate layer gives the features
    weights: str = "default"  # folder: default (pretrained, downloaded once) | none (random) | a state_dict file
    extract_batch_size: int = 64  # folder: images per forward pass while extracting
    extract_workers: int = 2  # folder: DataLoader processes decoding images while extracting
    replay: bool = False  # labelme: replay the real answer log on its 1,000 answered images

    def __post_init__(self) -> None:
        checks.choice("dataset.kind", self.kind, KINDS)
        if self.kind == "real" and self.name not in REAL_DATASETS:
            raise LabaldError(f"dataset.kind=real is for the committed real-image subtasks "
                              f"({', '.join(REAL_DATASETS)}); dataset.name={self.name} is none of them")
        checks.boolean("dataset.replay", self.replay)
        if self.replay and not dataset_kind(self.kind).replayable:
            raise LabaldError("dataset.replay=true replays LabelMe's real log (dataset=labelme); to replay a log of "
                              "your own use dataset=replay")
        checks.integer("dataset.n_per_class", self.n_per_class, 1, optional=True)
        checks.integer("dataset.n_prototypes", self.n_prototypes, 2)
        checks.number("dataset.imbalance_ratio", self.imbalance_ratio, 1.0)
        checks.integer("dataset.feature_dim", self.feature_dim, 1)
        checks.number("dataset.separation", self.separation, 0.0, strict=True)
        checks.boolean("dataset.standardize", self.standardize)
        if self.wnids is not None:
            require_classes(list(self.wnids), f"dataset.wnids={list(self.wnids)}",
                            "list two or more, or leave dataset.wnids unset for the subtask's classes")


def load_pool(settings: DatasetSettings, amt: AmtData | None, seed: int, device: str = "auto",
              data_dir: str | None = None) -> Pool:
    """Build the run's pool, seeded; real features when a features file is given, else the source
    that `kind` names (the sandbox generator, the bundled digits, a folder's images, whose features
    are extracted on `device` once and then read as a features file, the committed real-image
    subtasks, or LabelMe read from `dataset.root` or `<data_dir>/labelme`). The pool carries its kind
    (`labald.data.kinds`), which says who answers it."""
    pool = _load_pool(settings, amt, seed, device, data_dir)
    return replace(pool, kind=dataset_kind(settings.kind, settings.replay))


def _load_pool(settings: DatasetSettings, amt: AmtData | None, seed: int, device: str,
               data_dir: str | None) -> Pool:
    rng = np.random.default_rng([seed, streams.POOL])
    if settings.kind == "labelme":
        from labald.data.labelme import labelme_pool

        return labelme_pool(settings, data_dir, seed)
    if settings.kind == "folder":
        from labald.data.images import folder_features

        cache = folder_features(settings, device)  # features.npy, and ids.txt's `class/file` rows as labels
        settings = replace(settings, features_path=str(cache / "features.npy"), labels_path=str(cache / "ids.txt"))
    if settings.kind == "replay":
        from labald.data.replay import load_replay_pool

        return load_replay_pool(
            settings.name, settings.features_path, settings.labels_path, settings.answers_path,
            list(settings.wnids) if settings.wnids else None,
            settings.n_per_class, settings.n_prototypes, settings.imbalance_ratio, seed, settings.standardize,
        )
    if settings.kind == "digits":
        x, y, classes, source = _digits()
        similarity = sim.from_centroids(x, y, len(classes))
    elif settings.kind == "real":
        from labald.data.real import load_real

        x, y, classes, source = load_real(settings.name)
        x = prepare_features(x, settings.standardize, source)
        similarity = _human_similarity(classes, amt)
        if similarity is None:
            similarity = sim.from_centroids(x, y, len(classes))
    elif settings.features_path:
        if not settings.labels_path:
            raise LabaldError("dataset.features_path is set but dataset.labels_path is not; give both files")
        wnids = list(settings.wnids) if settings.wnids else None
        x, y, classes = load_labelled_features(Path(settings.features_path), Path(settings.labels_path), wnids)
        x = prepare_features(x, settings.standardize, settings.features_path)
        similarity = _human_similarity(classes, amt)
        if similarity is None:
            similarity = sim.from_centroids(x, y, len(classes))
        source = f"real features {settings.features_path} ({x.shape[1]}-d)"
    elif settings.kind == "custom":
        raise LabaldError("dataset=custom needs dataset.features_path=... and dataset.labels_path=...")
    else:
        classes = list(settings.wnids or SUBTASKS.get(settings.name, []))
        if not classes:
            raise LabaldError(f"dataset {settings.name!r} has no wnids; set dataset.wnids=[n0...,n0...]")
        similarity = _human_similarity(classes, amt)
        geometry = "human confusions" if similarity is not None else "seeded random"
        if similarity is None:
            similarity = sim.random_similarity(len(classes), rng)
        per_class = (settings.n_per_class or SANDBOX_PER_CLASS) + settings.n_prototypes
        x, y = sandbox_features(similarity, per_class, settings.feature_dim, settings.separation, rng)
        source = (
            f"SURROGATE sandbox features ({settings.feature_dim}-d, class geometry from {geometry}); "
            "give dataset.features_path for real features"
        )
    return make_pool(
        settings.name, classes, x, y, similarity, source,
        settings.n_per_class, settings.n_prototypes, settings.imbalance_ratio, rng,
    )


def _human_similarity(classes: list[str], amt: AmtData | None) -> np.ndarray | None:
    """Human confusion structure of these classes from the AMT file, when it covers them all."""
    if amt is None or not all(c.lower() in amt.wnids for c in classes):
        return None
    idx = amt.indices(classes)
    return sim.from_human_confusions(amt.total_counts[np.ix_(idx, idx)])


def _digits() -> tuple[np.ndarray, np.ndarray, list[str], str]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return x, digits.target.astype(np.int64), [str(d) for d in range(10)], "scikit-learn digits (8x8, real images)"
