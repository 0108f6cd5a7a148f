"""Label accuracy on the real LabelMe-AMT answer log: `labald aggregate` beside crowd-kit's aggregators.

    python scripts/labelme_aggregation.py [--data FOLDER] [--out results/reference] [--seed 0]

One run computes every row on the same log (59 AMT workers, 2,547 answers on 1,000 scene images of
8 classes; labald.data.labelme): `labald aggregate` from the answers alone, with the symmetric prior
of `--prior-accuracy`, and with the VGG16 features and 2 gold images per class (`--features`,
`--prototypes`), each through the command line on CSV files written to a temporary folder; and
crowd-kit's aggregators on the same answers. The gold images (drawn per class with --seed) are
excluded from every accuracy in the non-gold column. Writes labelme_aggregation.csv and .md to
--out. Needs crowd-kit (`pip install -e .[bench]`) and the LabelMe-AMT files (`make data-labelme`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from labald.data import labelme
from labald.errors import LabaldError

GOLD_PER_CLASS = 2
HEADER = ["aggregator", "library", "inputs", "accuracy_all", "accuracy_non_gold", "n_all", "n_non_gold"]


def crowdkit_aggregators() -> list[tuple[str, object]]:
    """crowd-kit's classification aggregators that take these answers, with their own defaults (KOS
    is binary only; GoldMajorityVote needs gold for every worker)."""
    from crowdkit import aggregation as ca

    return [("majority vote", ca.MajorityVote()), ("Wawa", ca.Wawa()), ("Dawid-Skene", ca.DawidSkene(n_iter=100)),
            ("OneCoinDawidSkene", ca.OneCoinDawidSkene(n_iter=100)), ("GLAD", ca.GLAD()), ("MMSR", ca.MMSR()),
            ("ZeroBasedSkill", ca.ZeroBasedSkill()), ("MACE", ca.MACE(random_state=0))]


def crowdkit_labels(aggregator, answers: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
    """The aggregator's label per task. Wawa and ZeroBasedSkill label by a majority vote weighted by
    the skills they fit, computed here: their own predict() calls scikit-learn's check_is_fitted,
    which scikit-learn >= 1.6 refuses for classes that are not its estimators."""
    from crowdkit.aggregation import MajorityVote, Wawa, ZeroBasedSkill

    if isinstance(aggregator, (Wawa, ZeroBasedSkill)):
        return MajorityVote().fit(answers, skills=aggregator.fit(answers).skills_).labels_
    if gold is not None:
        return aggregator.fit(answers, true_labels=gold).labels_
    return aggregator.fit_predict(answers)


def choose_gold(truth: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """`per_class` images of each class, drawn without replacement (sorted)."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(truth == k), size=per_class, replace=False) for k in np.unique(truth)]
    return np.sort(np.concatenate(chosen))


def labald_labels(folder: Path, extra: list[str], name: str) -> pd.Series:
    """`labald aggregate` on the CSVs in `folder` (in-process); the pool tasks' labels by task id."""
    from labald.cli import main

    out = folder / name
    out.mkdir()
    args = ["aggregate", "--annotations", str(folder / "answers.csv"), "--classes", str(folder / "classes.txt"),
            *extra, "-o", str(out / "labels.csv")]
    if main(args) != 0:
        raise LabaldError(f"labald {' '.join(args)} failed (its error is above)")
    labels = pd.read_csv(out / "labels.csv", dtype={"task": int, "label": str, "gold": bool})
    labels = labels[~labels["gold"]]
    return pd.Series(labels["label"].to_numpy(), index=labels["task"].to_numpy())


def write_campaign(folder: Path, data: labelme.LabelMe, gold: np.ndarray) -> None:
    """The log as labald's campaign files: answers.csv, classes.txt, feats.npy + ids.txt (the 1,000
    answered images), gold.csv. Task ids are the images' rows; labels are class names."""
    image, worker, answer = data.log()
    names = np.array(labelme.CLASSES)
    pd.DataFrame({"task": image, "worker": worker, "label": names[answer]}).to_csv(folder / "answers.csv", index=False)
    (folder / "classes.txt").write_text("\n".join(labelme.CLASSES) + "\n")
    n = len(data.answers)
    np.save(folder / "feats.npy", data.features[:n])
    (folder / "ids.txt").write_text("\n".join(str(i) for i in range(n)) + "\n")
    pd.DataFrame({"task": gold, "label": names[data.labels[gold]]}).to_csv(folder / "gold.csv", index=False)


def gold_prior_accuracy(folder: Path) -> float:
    """What `labald aggregate --prototypes` gives the symmetric prior's diagonal: the answers' mean
    per-class accuracy on the gold images (labald.cli.campaign.prior_accuracy)."""
    from labald.cli.campaign import Options, prior_accuracy
    from labald.cli.io import read_campaign

    campaign = read_campaign(folder / "answers.csv", folder / "feats.npy", folder / "ids.txt", folder / "gold.csv",
                             folder / "classes.txt")
    return prior_accuracy(campaign, Options())


def aggregate_all(data: labelme.LabelMe, gold: np.ndarray, seed: int) -> list[list]:
    """Every row of the table: (aggregator, library, inputs, accuracy on all answered images or None,
    accuracy on the non-gold images, image counts)."""
    n = len(data.answers)
    names = np.array(labelme.CLASSES)
    truth = pd.Series(names[data.labels[:n]], index=np.arange(n))
    non_gold = np.setdiff1d(np.arange(n), gold)

    def row(aggregator, library, inputs, labels: pd.Series, gold_used: bool):
        correct = labels.reindex(truth.index).to_numpy() == truth.to_numpy()
        return [aggregator, library, inputs, None if gold_used else float(correct.mean()),
                float(correct[non_gold].mean()), None if gold_used else n, len(non_gold)]

    image, worker, answer = data.log()
    answers = pd.DataFrame({"task": image, "worker": worker, "label": names[answer]})
    gold_labels = truth[gold]
    rows = []
    with tempfile.TemporaryDirectory(prefix="labelme_aggregation-") as tmp:
        folder = Path(tmp)
        write_campaign(folder, data, gold)
        common = ["--seed", str(seed)]
        with_gold = ["--features", str(folder / "feats.npy"), "--ids", str(folder / "ids.txt"),
                     "--prototypes", str(folder / "gold.csv"), *common]
        rows.append(row("labald aggregate", "labald", "answers", labald_labels(folder, common, "plain"), False))
        rows.append(row("labald aggregate --prior-accuracy 0.7", "labald", "answers; symmetric prior",
                        labald_labels(folder, [*common, "--prior-accuracy", "0.7"], "symmetric"), False))
        rows.append(row("labald aggregate", "labald", f"answers, VGG16 features, {GOLD_PER_CLASS} gold/class",
                        labald_labels(folder, with_gold, "features"), True))
        accuracy = gold_prior_accuracy(folder)
        rows.append(row(f"labald aggregate --prior-accuracy {accuracy:.3f}", "labald",
                        f"answers, VGG16 features, {GOLD_PER_CLASS} gold/class; symmetric prior at the gold answers' "
                        "accuracy", labald_labels(folder, [*with_gold, "--prior-accuracy", repr(accuracy)],
                                                  "features_symmetric"), True))
    for name, aggregator in crowdkit_aggregators():
        rows.append(row(name, "crowd-kit", "answers", crowdkit_labels(aggregator, answers), False))
    from crowdkit.aggregation import DawidSkene

    rows.append(row("Dawid-Skene, gold fixed", "crowd-kit", f"answers, {GOLD_PER_CLASS} gold/class (true_labels)",
                    crowdkit_labels(DawidSkene(n_iter=100), answers, gold_labels), True))
    return rows


def markdown(table: pd.DataFrame, n_gold: int, seed: int) -> str:
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("labald", "crowd-kit", "scikit-learn"))
    n_images = int(table["n_all"].max())
    lines = [
        "# Aggregating the real LabelMe-AMT answer log",
        "",
        f"Label accuracy on the {n_images:,} answered LabelMe images (Rodrigues & Pereira, AAAI 2018; 59 AMT workers, "
        "2,547 answers, 1-3 per image, 8 scene classes; labald.data.labelme), every row computed in one run of "
        "`scripts/labelme_aggregation.py` on the same log. `answers`: the answers alone; `VGG16 features, gold`: "
        f"`--features` (the images' VGG16 features) and `--prototypes` with {n_gold} gold images "
        f"({GOLD_PER_CLASS} per class, drawn with seed {seed}), which are **excluded from the accuracy**: "
        f"the last column counts the {n_images - n_gold} other images for every row, so rows that use gold compare "
        "there only. `labald aggregate` runs with its defaults (the prior's mean is the crowd's own confusion, "
        "estimated from the log) unless the row names `--prior-accuracy` (a symmetric prior: that accuracy on the "
        "diagonal, errors spread evenly). crowd-kit's aggregators run with their defaults (Dawid-Skene and "
        "OneCoinDawidSkene: 100 iterations; majority vote breaks ties towards the first class; Wawa and "
        "ZeroBasedSkill label by a majority vote weighted by their fitted skills, as their predict() does).",
        "",
        f"Versions: {versions}.",
        "",
        f"| aggregator | library | inputs | accuracy, {n_images:,} images "
        f"| accuracy, {n_images - n_gold} non-gold images |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for r in table.itertuples():
        every = "—" if pd.isna(r.accuracy_all) else f"{r.accuracy_all:.1%}"
        lines.append(f"| {r.aggregator} | {r.library} | {r.inputs} | {every} | {r.accuracy_non_gold:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the folder holding the LabelMe-AMT files (default: <LABALD_DATA_DIR or "
                                       "data>/labelme)")
    parser.add_argument("--out", type=Path, default=Path("results/reference"),
                        help="folder for labelme_aggregation.csv and .md (default: results/reference)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the gold draw and of labald's learner (0)")
    args = parser.parse_args(argv)
    try:
        import crowdkit  # noqa: F401
    except ImportError:
        print("labelme_aggregation: error: crowd-kit is not installed; pip install -e '.[bench]'", file=sys.stderr)
        return 2
    try:
        folder = labelme.find_folder(args.data, os.environ.get("LABALD_DATA_DIR") or "data")
        data = labelme.load_labelme(folder)
        if not args.out.is_dir():
            raise LabaldError(f"--out {args.out} is not an existing folder")
        gold = choose_gold(data.labels[:len(data.answers)], GOLD_PER_CLASS, args.seed)
        rows = aggregate_all(data, gold, args.seed)
    except LabaldError as e:
        print(f"labelme_aggregation: error: {e}", file=sys.stderr)
        return 2
    table = pd.DataFrame(rows, columns=HEADER).astype({"n_all": "Int64"})  # empty where gold is used
    table.to_csv(args.out / "labelme_aggregation.csv", index=False)
    (args.out / "labelme_aggregation.md").write_text(markdown(table, len(gold), args.seed))
    print(markdown(table, len(gold), args.seed))
    print(f"wrote {args.out / 'labelme_aggregation.csv'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
