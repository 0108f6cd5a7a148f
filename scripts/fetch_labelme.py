"""Put the LabelMe-AMT files (GNU GPL v3) into a data directory: copy a local copy, or download them.

    python scripts/fetch_labelme.py --dest data/labelme [--source path/to/folder/holding/them]

Without --source each file is downloaded from a pinned commit of fmenat/PyLearningCrowds
(labald.data.labelme.URL). Every file is staged in a temporary folder and its SHA-256 checked against
labald.data.labelme.SHA256; only when all of them match do they replace what --dest holds, so a bad
copy or a broken download leaves it as it was. The files are GPL v3: keep them out of commits and
packages (the data directory is git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from labald.data import labelme
from labald.errors import LabaldError
from labald.paths import sha256_file

GPL_NOTE = (f"LabelMe-AMT (Rodrigues & Pereira, AAAI 2018) as redistributed by {labelme.REPOSITORY} under the "
            "GNU GPL v3: read them from here, never commit them or ship them in a package")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="data/labelme", help="folder to fill (default: data/labelme)")
    parser.add_argument("--source", help="a local folder holding the files, copied instead of downloading")
    parser.add_argument("--url", default=labelme.URL,
                        help="address of each file, {} standing for its name (default: the pinned commit)")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    with tempfile.TemporaryDirectory(prefix="fetch_labelme-") as tmp:
        try:
            if dest.exists() and not dest.is_dir():
                raise LabaldError(f"--dest {dest} is a file, not a folder")
            if args.source is not None:
                _check_source(Path(args.source).expanduser())
            for name in labelme.FILES:
                _check(_fetch(name, args.source, args.url, Path(tmp)), name)
        except LabaldError as e:
            print(f"fetch_labelme: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"fetch_labelme: error: download failed ({e}); pass --source with a local copy", file=sys.stderr)
            return 2
        _install(Path(tmp), dest)
    print(GPL_NOTE)
    print(f"wrote {len(labelme.FILES)} files to {dest}; labald finds them as <data_dir>/{labelme.FOLDER} with "
          f"data_dir={dest.parent}, or given the folder itself")
    return 0


def _fetch(name: str, source: str | None, url: str, staging: Path) -> Path:
    """The file `name` copied from `source` or downloaded from `url` into `staging`."""
    staged = staging / name
    if source is None:
        address = url.format(name)
        print(f"downloading {address}")
        urllib.request.urlretrieve(address, staged)  # noqa: S310 - a fixed https address unless --url says otherwise
        return staged
    shutil.copyfile(Path(source).expanduser() / name, staged)
    return staged


def _check_source(folder: Path) -> None:
    """A folder holding every file, before any is copied."""
    if not folder.is_dir():
        raise LabaldError(f"--source {folder} is not a folder; give the folder holding {', '.join(labelme.FILES)}")
    missing = [name for name in labelme.FILES if not (folder / name).is_file()]
    if missing:
        raise LabaldError(f"--source {folder} lacks {', '.join(missing)}; give the folder holding all of "
                          f"{', '.join(labelme.FILES)}")


def _check(staged: Path, name: str) -> None:
    """Refuse a file whose SHA-256 is not the pinned one, before it can replace anything."""
    digest = sha256_file(staged)
    if digest != labelme.SHA256[name]:
        raise LabaldError(f"{name} has SHA-256 {digest[:16]}..., not the pinned {labelme.SHA256[name][:16]}... of "
                          f"{labelme.REPOSITORY}@{labelme.COMMIT[:7]}; it is corrupt or another version, so nothing "
                          "was written")


def _install(staging: Path, dest: Path) -> None:
    """Move the checked files into `dest`, each through a hidden part file renamed over the old one,
    so a reader never sees half a file."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in labelme.FILES:
        part = dest / f".{name}.part"
        shutil.copyfile(staging / name, part)
        os.replace(part, dest / name)


if __name__ == "__main__":
    sys.exit(main())
