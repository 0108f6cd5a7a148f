"""Benchmark `labald features`' extraction against a plain torchvision loop on the same images.

Usage: python scripts/bench_features.py [--images 256] [--size 224] [--backbone efficientnet_b0]
                                        [--batch-size 64] [--workers 2] [--threads 2] [--repeat 2]

Writes `--images` random JPEGs into a temporary `class/image` folder, then times, alternately and
`--repeat` times each (best kept), (a) labald.data.images.extract_folder with random weights (the
CLI's path: listing, blocks written as it goes, outputs written atomically) and (b) the reference: an
ImageFolder-like Dataset, a DataLoader with the same batch size and workers, and the same model in
eval mode under no_grad. Prints images/s of each, labald's time over the reference's (target: at
most 1.2) and the load average, and checks that both give the same features.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labald.data import images  # noqa: E402


def make_images(root: Path, n: int, size: int, n_classes: int = 4) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % n_classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.jpg",
                                                                                     quality=90)


class FolderDataset(torch.utils.data.Dataset):
    """The reference: every image of `root/class/*.jpg`, sorted, decoded with PIL and transformed."""

    def __init__(self, root: Path, transform):
        self.paths = sorted(root.glob("*/*.jpg"))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB"))


def plain_loop(root: Path, backbone: str, batch_size: int, workers: int) -> np.ndarray:
    model, transform = images.load_backbone(backbone, "none", torch.device("cpu"))
    loader = torch.utils.data.DataLoader(FolderDataset(root, transform), batch_size=batch_size,
                                         num_workers=workers)
    out = []
    with torch.no_grad():
        for x in loader:
            out.append(model(x).numpy())
    return np.concatenate(out)


def labald_extract(root: Path, out: Path, backbone: str, batch_size: int, workers: int) -> np.ndarray:
    images.extract_folder(root, out, backbone, "none", "cpu", batch_size, workers, force=True, progress=False)
    return np.load(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--backbone", default=images.DEFAULT_BACKBONE, choices=tuple(images.BACKBONES))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "images", Path(tmp) / "out"
        out.mkdir()
        make_images(root, args.images, args.size)
        best = {"labald": float("inf"), "plain": float("inf")}
        results = {}
        for _ in range(args.repeat):  # alternate, so a change in the machine's load hits both
            for name in ("plain", "labald"):
                start = time.perf_counter()
                if name == "plain":
                    results[name] = plain_loop(root, args.backbone, args.batch_size, args.workers)
                else:
                    results[name] = labald_extract(root, out / "f.npy", args.backbone, args.batch_size, args.workers)
                best[name] = min(best[name], time.perf_counter() - start)
    same = np.allclose(results["labald"], results["plain"], rtol=1e-4, atol=1e-5)
    print(f"{args.images} JPEGs of {args.size}x{args.size}, {args.backbone} (random weights), batch {args.batch_size}, "
          f"{args.workers} workers, {args.threads} threads; best of {args.repeat}")
    for name in ("plain", "labald"):
        print(f"  {name:7s} {best[name]:7.2f} s  {args.images / best[name]:7.1f} images/s")
    print(f"  labald / plain: {best['labald'] / best['plain']:.3f} (target <= 1.2); same features: {same}")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
