"""LabelMe-AMT: a real crowd on real scene images (Rodrigues & Pereira, "Deep learning from crowds",
AAAI 2018), as redistributed by the public repository fmenat/PyLearningCrowds (folder
`data/LabelMe/`, GNU GPL v3).

The files are read from a folder (`<data_dir>/labelme`, e.g. ../shared/data/labelme) and are never
copied into this repository or its package; `scripts/fetch_labelme.py` (`make data-labelme`)
downloads them at a user's request. They hold 2,688 scene images of 8 classes (1,000 train, 500
valid, 1,188 test), each as VGG16 (ImageNet weights) average-pooled 512-d features with its true
class, and the real answers of 59 AMT workers on the 1,000 train images (2,547 answers, 1-3 per
image).

Three uses (labald/data/__init__.py, labald/workers/__init__.py):
- `dataset=labelme`: all 2,688 images as the pool, answered by a simulated crowd of the 59 real
  workers (`workers=labelme`, the default there; labald.workers.crowd.from_log_counts);
- `dataset=labelme dataset.replay=true`: the 1,000 answered images, where only the logged (image,
  worker) pairs may be asked and the answer is the logged one;
- `scripts/labelme_aggregation.py`: `labald aggregate` on the real log beside crowd-kit's
  aggregators.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from labald import streams
from labald.data import similarity as sim
from labald.data.features import prepare_features
from labald.data.pool import Pool, make_pool
from labald.data.replay import replay_pool
from labald.errors import LabaldError

CLASSES = ("highway", "insidecity", "tallbuilding", "street", "forest", "coast", "mountain", "opencountry")
SPLITS = ("train", "valid", "test")
ANSWERS_FILE = "answers.txt"
FEATURES_FILE = "LabelMe_VGG_avg_{}.npy"
LABELS_FILE = "LabelMe_Z_{}.txt"
FILES = (ANSWERS_FILE, *(FEATURES_FILE.format(s) for s in SPLITS), *(LABELS_FILE.format(s) for s in SPLITS))
# The public copy `make data-labelme` downloads (GPL v3), pinned to a commit, with each file's SHA-256.
REPOSITORY = "fmenat/PyLearningCrowds"
COMMIT = "0edf617d0357a43b48dc53f10f4181ec0163d4db"
URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/data/LabelMe/{{}}"
SHA256 = {
    "answers.txt": "354c282e10835a59962494acb1d180fe997b65a0aa1e27f870cdb4ef51ef3e2b",
    "LabelMe_VGG_avg_test.npy": "af407538f702f98e775f233652152cdcb58583c9d4668492308151c126ce7873",
    "LabelMe_VGG_avg_train.npy": "0ddfbcbd722aab70e81525a459cc37d47c1d344322b401ee35a3e9b158a209e8",
    "LabelMe_VGG_avg_valid.npy": "cb80ce99ef9fc80c666e6b9c43259ee0aac4e0cf82f8ac654b8bb309fb28953d",
    "LabelMe_Z_test.txt": "6d508b638d41fa84b2628615270456df96a49dce18054d201ac6261b03ea77bc",
    "LabelMe_Z_train.txt": "229556bdc5da327dd7d4e4154ba180969091c83f43cf8cbee3727131c5a062f6",
    "LabelMe_Z_valid.txt": "40aba43f903a539b38243c411e214da1f8c696cc47aa59811cc3388cc6899892",
}
FOLDER = "labelme"
HOW_TO_GET = ("put the LabelMe-AMT files in <data_dir>/labelme (make data-labelme downloads them, GPL v3) or "
              "point dataset.root at the folder holding them")


@dataclass(frozen=True)
class LabelMe:
    """The LabelMe-AMT files in memory: images in train, valid, test order."""

    folder: Path
    features: np.ndarray  # [2688, 512] float32 VGG16 features
    labels: np.ndarray  # [2688] int64 true class, an index of CLASSES
    split: np.ndarray  # [2688] int64 index of SPLITS
    answers: np.ndarray  # [1000, 59] int64 the train images' answers, -1 where a worker gave none

    @property
    def n_workers(self) -> int:
        return self.answers.shape[1]

    def log(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The real answer log as (image, worker, answer) arrays; image indexes the train rows,
        which are the first 1,000 images."""
        image, worker = np.nonzero(self.answers >= 0)
        return image.astype(np.int64), worker.astype(np.int64), self.answers[image, worker]


def find_folder(root: str | Path | None, data_dir: str | Path | None) -> Path:
    """The LabelMe folder: `root` when given, else `<data_dir>/labelme`; a LabaldError saying how to get
    the files when a file is missing."""
    folder = Path(root).expanduser() if root else Path(data_dir or "data").expanduser() / FOLDER
    if not folder.is_dir():
        raise LabaldError(f"the LabelMe-AMT folder {folder} does not exist; {HOW_TO_GET}")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise LabaldError(f"the LabelMe-AMT folder {folder} lacks {', '.join(missing)}; {HOW_TO_GET}")
    return folder


def load_labelme(folder: Path) -> LabelMe:
    """Read and check the files of `folder` (see `find_folder`)."""
    folder = Path(folder)
    feats, labels, split = [], [], []
    for s, name in enumerate(SPLITS):
        x = _load_array(folder / FEATURES_FILE.format(name))
        y = _read_ints(folder / LABELS_FILE.format(name))
        if x.ndim != 2 or len(x) != len(y):
            raise LabaldError(f"{folder / FEATURES_FILE.format(name)} has shape {x.shape} but "
                              f"{LABELS_FILE.format(name)} has {len(y)} labels; they must match row for row")
        feats.append(x.astype(np.float32))
        labels.append(y)
        split.append(np.full(len(y), s, dtype=np.int64))
    answers = _read_answers(folder / ANSWERS_FILE)
    if len(answers) != len(labels[0]):
        raise LabaldError(f"{folder / ANSWERS_FILE} has {len(answers)} rows but the train split has "
                          f"{len(labels[0])} images; they must match row for row")
    if len({x.shape[1] for x in feats}) != 1:
        raise LabaldError(f"the LabelMe feature files in {folder} differ in width; restore them ({HOW_TO_GET})")
    y = np.concatenate(labels)
    if y.min() < 0 or y.max() >= len(CLASSES) or answers.max() >= len(CLASSES):
        raise LabaldError(f"the LabelMe labels in {folder} are not all classes 0-{len(CLASSES) - 1}; "
                          f"restore the files ({HOW_TO_GET})")
    return LabelMe(folder, np.concatenate(feats), y, np.concatenate(split), answers)


def worker_counts(data: LabelMe) -> np.ndarray:
    """[59, 8, 8] each real worker's answer counts on the train images: rows the true class,
    columns the answer (what labald.workers.crowd.from_log_counts turns into confusions)."""
    image, worker, answer = data.log()
    counts = np.zeros((data.n_workers, len(CLASSES), len(CLASSES)))
    np.add.at(counts, (worker, data.labels[image], answer), 1.0)
    return counts


def labelme_pool(settings, data_dir: str | None, seed: int) -> Pool:
    """The pool of `dataset=labelme` (a labald.data.DatasetSettings): all 2,688 images with the real
    workers' answer counts, from which the simulated crowd is built; with `dataset.replay` the
    1,000 answered images and their real log, which the run replays."""
    data = load_labelme(find_folder(settings.root, data_dir))
    x = prepare_features(data.features, settings.standardize, str(data.folder))
    counts = worker_counts(data)
    image, worker, answer = data.log()
    if settings.replay:
        train = np.flatnonzero(data.split == SPLITS.index("train"))
        source = (f"LabelMe-AMT {data.folder}: replayed real log ({len(image)} answers by {data.n_workers} AMT "
                  f"workers) on the {len(train)} answered scene images, VGG16 features ({x.shape[1]}-d)")
        return replay_pool(settings.name, x[train], data.labels[train], list(CLASSES), image, worker, answer,
                           [str(i) for i in train], [str(j) for j in range(data.n_workers)], source,
                           settings.n_per_class, settings.n_prototypes, settings.imbalance_ratio, seed)
    source = (f"LabelMe-AMT {data.folder}: {len(x)} real scene images, VGG16 features ({x.shape[1]}-d); "
              f"crowd simulated from {data.n_workers} real AMT workers' {len(image)} answers")
    rng = np.random.default_rng([seed, streams.POOL])
    pool = make_pool(settings.name, list(CLASSES), x, data.labels, sim.from_human_confusions(counts.sum(axis=0)),
                     source, settings.n_per_class, settings.n_prototypes, settings.imbalance_ratio, rng)
    return replace(pool, crowd_counts=counts)


def _load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise LabaldError(f"{path} is not a readable .npy array; restore it ({HOW_TO_GET})") from None


def _read_ints(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError):
        raise LabaldError(f"{path} is not a list of integer labels; restore it ({HOW_TO_GET})") from None


def _read_answers(path: Path) -> np.ndarray:
    try:
        answers = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (OSError, ValueError):
        raise LabaldError(f"{path} is not a table of integer answers (-1 for none); "
                          f"restore it ({HOW_TO_GET})") from None
    return answers
