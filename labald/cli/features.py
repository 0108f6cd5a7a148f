"""`labald features IMAGE_DIR -o features.npy`: a torchvision backbone's features of a folder of
images, with ids.txt, labels.csv (for a class/image folder) and skipped.txt beside the output;
the extraction itself is labald.data.images.extract_folder, which `dataset=folder` runs share."""

from __future__ import annotations

from pathlib import Path

from labald.data.images import extract_folder

SHOWN_SKIPPED = 3  # skipped files named in the summary line; skipped.txt lists them all


def run(args) -> int:
    result = extract_folder(Path(args.image_dir), Path(args.output), args.backbone, args.weights, args.device,
                            args.batch_size, args.workers, force=args.force)
    labels = (f", {result.labels} ({result.n_classes} classes)" if result.labels is not None
              else " (no labels.csv: the images are not all one folder below IMAGE_DIR)")
    print(f"labald: {result.n_images} images, {result.dim}-d {args.backbone} features (weights {args.weights}) "
          f"in {result.features}, ids in {result.ids}{labels}")
    if result.skipped_files:
        n = len(result.skipped_files)
        names = ", ".join(rel for rel, _ in result.skipped_files[:SHOWN_SKIPPED])
        more = f" and {n - SHOWN_SKIPPED} more" if n > SHOWN_SKIPPED else ""
        print(f"labald: skipped {n} files that are not readable images: {names}{more} "
              f"(all, with the reason, in {result.skipped})")
    return 0
