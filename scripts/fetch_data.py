"""Put Liao et al.'s `group_workers.json` (MIT) into the data directory: copy a local copy, or download it.

    python scripts/fetch_data.py --dest data [--source path/to/group_workers.json or its directory]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from labald.data.amt import AMT_FILENAME, load_amt
from labald.errors import LabaldError

URL = "https://raw.githubusercontent.com/fidler-lab/efficient-annotation-cookbook/main/data/group_workers.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="data", help="data directory to fill (default: data)")
    parser.add_argument("--source", help="local group_workers.json, or a directory holding it")
    parser.add_argument("--url", default=URL, help="where to download from when no --source is given")
    args = parser.parse_args()
    dest = Path(args.dest) / AMT_FILENAME
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / AMT_FILENAME
        try:
            if args.source:
                source = Path(args.source)
                source = source / AMT_FILENAME if source.is_dir() else source
                if not source.is_file():
                    raise LabaldError(f"{source} does not exist; give the file or the directory holding it")
                shutil.copyfile(source, staged)
            else:
                print(f"downloading {args.url}")
                urllib.request.urlretrieve(args.url, staged)  # noqa: S310 - fixed https address
            load_amt(staged)  # refuse a corrupt file before it replaces anything
        except LabaldError as e:
            print(f"fetch_data: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"fetch_data: error: download failed ({e}); pass --source with a local copy", file=sys.stderr)
            return 2
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged, dest)
    print(f"wrote {dest}; runs find it with data_dir={dest.parent} or LABALD_DATA_DIR={dest.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
