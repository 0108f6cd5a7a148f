"""The kinds of dataset and what each is made of: where its features come from and who answers its
images. Every decision by dataset kind (which settings a run ignores, whether the AMT counts are
read, which crowd answers) reads this one table, so a new kind is one row here.

Functions named by a fact take a `dataset.*` mapping (a config's, as run names are decided from, or
`dataclasses.asdict(DatasetSettings)`); `dataset_kind` takes the two settings that pick a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# Who answers a dataset's images (`DatasetKind.crowd`).
SIMULATED = "simulated"  # the simulated crowd: Liao et al.'s AMT workers for ImageNet classes, else synthetic
SYNTHETIC = "synthetic"  # the synthetic crowd whatever workers.source says: the data has no AMT workers
OWN = "own"  # the simulated crowd modelled on the data's own real workers (workers=synthetic: the synthetic one)
LOG = "log"  # the workers of a logged answer log, each pair answered as logged (labald.workers.replay)


@dataclass(frozen=True)
class DatasetKind:
    """What a kind of dataset is made of."""

    name: str
    generated: bool  # features drawn by the sandbox generator (dataset.feature_dim, dataset.separation)
    from_file: bool  # features read from a file, or extracted into one (dataset.standardize)
    crowd: str  # who answers its images: SIMULATED, SYNTHETIC, OWN or LOG
    reads_amt: bool  # a run reads Liao et al.'s AMT counts (the simulated crowd's workers, the class geometry)
    replayable: bool = False  # dataset.replay=true replays the data's real log (crowd LOG) instead


_TABLE = (
    # the paper's subtasks, features drawn with the human confusions' geometry
    DatasetKind("sandbox", generated=True, from_file=False, crowd=SIMULATED, reads_amt=True),
    # scikit-learn's bundled digits; the AMT counts are read (a broken file fails it as any run) but not used
    DatasetKind("digits", generated=False, from_file=False, crowd=SYNTHETIC, reads_amt=True),
    DatasetKind("custom", generated=False, from_file=True, crowd=SIMULATED, reads_amt=True),  # a features file
    DatasetKind("replay", generated=False, from_file=True, crowd=LOG, reads_amt=False),  # features, labels, a log
    DatasetKind("folder", generated=False, from_file=True, crowd=SIMULATED, reads_amt=True),  # images, extracted
    DatasetKind("real", generated=False, from_file=True, crowd=SIMULATED, reads_amt=True),  # committed real images
    # LabelMe-AMT: its own real workers and their log, its own class geometry
    DatasetKind("labelme", generated=False, from_file=True, crowd=OWN, reads_amt=False, replayable=True),
)
DATASET_KINDS: dict[str, DatasetKind] = {k.name: k for k in _TABLE}
KINDS = tuple(DATASET_KINDS)
# The committed real-image subtasks, of kind real (their classes and features: labald.data.real)
REAL_DATASETS = ("dog_real", "vertebrate_real")


def kind_of(name: str) -> str:
    """The kind a dataset option has by its name (`dataset=digits` is of kind digits, `dog_real` of
    kind real, the paper's subtasks and any other name sandbox): the one place that decides it."""
    if name in REAL_DATASETS:
        return "real"
    return name if name in KINDS else "sandbox"


def dataset_kind(kind: str, replay: bool = False) -> DatasetKind:
    """The row of `dataset.kind`; with `dataset.replay` on a replayable kind, that row answered by its
    log. A kind the table lacks (an old config's) has nothing of its own: no generator, no features
    file, the simulated crowd."""
    row = DATASET_KINDS.get(str(kind)) or DatasetKind(str(kind), generated=False, from_file=False, crowd=SIMULATED,
                                                      reads_amt=True)
    return replace(row, crowd=LOG) if replay and row.replayable else row


def kind_in(dataset: Mapping[str, Any]) -> DatasetKind:
    """The kind of a `dataset.*` mapping: its `kind`, else the one its `name` implies (`kind_of`)."""
    return dataset_kind(dataset.get("kind") or kind_of(str(dataset.get("name", ""))), bool(dataset.get("replay")))


def replays_log(dataset: Mapping[str, Any]) -> bool:
    """Whether a logged answer log answers (dataset=replay, labelme with dataset.replay=true)."""
    return kind_in(dataset).crowd == LOG


def own_crowd(dataset: Mapping[str, Any]) -> bool:
    """Whether the crowd is modelled on the data's own real workers (LabelMe), not drawn from AMT's."""
    return kind_in(dataset).crowd == OWN


def own_workers(dataset: Mapping[str, Any]) -> bool:
    """Whether the data comes with its own real workers (LabelMe), modelled or, with dataset.replay,
    replayed: what `workers=labelme` names."""
    return kind_in(dataset).replayable


def synthetic_only(dataset: Mapping[str, Any]) -> bool:
    """Whether the crowd is synthetic whatever workers.source says (digits: no AMT workers saw it)."""
    return kind_in(dataset).crowd == SYNTHETIC


def from_file(dataset: Mapping[str, Any]) -> bool:
    """Whether the features are read from a file: the kind's own, or any kind given dataset.features_path."""
    return kind_in(dataset).from_file or bool(dataset.get("features_path"))


def generated(dataset: Mapping[str, Any]) -> bool:
    """Whether the sandbox generator draws the features (a sandbox subtask without a features file)."""
    return kind_in(dataset).generated and not dataset.get("features_path")
