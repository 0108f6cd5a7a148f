"""`python -m labald.figures --runs results/runs --out results/figures`: every figure and table.

Problems (no runs, unreadable files) print one line, `labald: error: ...`, and exit with status 2;
LABALD_DEBUG=1 shows the traceback."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from labald.figures.load import FiguresError
from labald.figures.make import make_figures

X_OPTIONS = {"annotations": "annotations_per_image", "cost": "cost_per_image"}  # --x: a metrics.csv column


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labald.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("results/runs"), help="directory of run directories")
    parser.add_argument("--out", type=Path, default=Path("results/figures"), help="where figures and tables go")
    parser.add_argument("--bench", type=Path, default=Path("results/bench/scoring_sweep.csv"),
                        help="scoring benchmark CSV from scripts/bench_scoring.py (figure skipped if absent)")
    parser.add_argument("--x", choices=sorted(X_OPTIONS), default="annotations",
                        help="the curves' axis and what comparisons are taken over: annotations per image "
                             "(default) or cost, money per image (the answers' prices)")
    args = parser.parse_args(argv)
    say = lambda message: print(f"[figures] {message}")  # noqa: E731
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = make_figures(args.runs, args.out, args.bench, say=say, x=X_OPTIONS[args.x])
        for w in caught:
            say(f"warning: {w.message}")
    except FiguresError as e:
        if os.environ.get("LABALD_DEBUG"):
            raise
        print(f"labald: error: {e}", file=sys.stderr)
        return 2
    say(f"wrote {len(written)} file(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
