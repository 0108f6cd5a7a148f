"""Derive labald's embedded AMT crowd (`labald/data/amt_crowd.json`) from Liao et al.'s original file.

    python scripts/make_amt_crowd.py path/to/group_workers.json [--out labald/data/amt_crowd.json]

The original (fidler-lab/efficient-annotation-cookbook, `data/group_workers.json`, MIT) holds per
class group one dense 100 x 100 count matrix per AMT worker; only ~1,300 of those 580,000 counts
are non-zero. The compact form keeps exactly what labald reads: the wnids and class names in
matrix order, every non-zero count as (worker, true class, answer, count) per group, and the
non-zero entries of `total_cm`, with the original's SHA-256, its license and provenance. It is
what runs use when no data directory holds the original; `tests/test_data.py` checks that it
equals what the original gives. Rerun this script if the original changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labald.data.amt import COMPACT_FORMAT, EMBEDDED_AMT, load_amt  # noqa: E402
from labald.errors import LabaldError  # noqa: E402

SOURCE = ("Liao, Kar & Fidler, \"Towards Good Practices for Efficiently Annotating Large-Scale Image "
          "Classification Datasets\", CVPR 2021; github.com/fidler-lab/efficient-annotation-cookbook, "
          "data/group_workers.json")


def compact(original: Path) -> str:
    """The embedded file's text for `original` (deterministic: same input, same bytes)."""
    data = load_amt(original)  # checks shapes and values
    raw = json.loads(original.read_text(encoding="utf-8"))
    header = {
        "format": COMPACT_FORMAT,
        "source": SOURCE,
        "license": "MIT (Copyright (c) 2021 Sanja Fidler's Lab); full text in LICENSE.amt_crowd beside this file",
        "original_sha256": hashlib.sha256(original.read_bytes()).hexdigest(),
        "generated_by": "scripts/make_amt_crowd.py",
        "layout": "groups: {group: {n_workers, counts: [[worker, true class, answer, count], ...]}}; "
                  "total_cm: [[row, column, value], ...]; indices into wnids",
        "wnids": list(data.wnids),
        "names": [str(n) for n in raw.get("imagenet100_name", [])],
    }
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    lines.append('  "groups": {')
    groups = sorted(data.groups.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0])
    for g, (name, counts) in enumerate(groups):
        if not np.array_equal(counts, np.round(counts)):
            raise LabaldError(f"group {name} holds non-integer counts; the compact form stores integers")
        entries = [[int(w), int(r), int(c), int(counts[w, r, c])] for w, r, c in zip(*np.nonzero(counts))]
        lines.append(f"    {json.dumps(name)}: {{\"n_workers\": {len(counts)}, \"counts\": [")
        lines += [f"      {json.dumps(e)}," for e in entries]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("    ]}" + ("," if g < len(groups) - 1 else ""))
    lines.append("  },")
    lines.append('  "total_cm": [')
    rows, cols = np.nonzero(data.total_counts)
    lines += [f"    {json.dumps([int(r), int(c), float(data.total_counts[r, c])])}," for r, c in zip(rows, cols)]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", type=Path, help="Liao et al.'s group_workers.json")
    parser.add_argument("--out", type=Path, default=EMBEDDED_AMT)
    args = parser.parse_args()
    try:
        text = compact(args.original)
    except LabaldError as e:
        print(f"make_amt_crowd: error: {e}", file=sys.stderr)
        return 2
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1024:.0f} KiB) from {args.original}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
