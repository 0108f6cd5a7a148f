"""The EM prior of `labald aggregate` / `propose` without --prior-accuracy: its mean is the crowd's own
confusion, fitted to the log (labald.cli.campaign.crowd_confusion), not a symmetric matrix."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from labald.aggregation import prior_mean
from labald.cli import main
from labald.cli.campaign import DEFAULT_PRIOR_ACCURACY, Options, crowd_confusion, prior_alpha
from labald.cli.io import read_campaign
from labald.workers.crowd import SYNTHETIC_ROW_TOTAL

K = 4
# A crowd that shares its confusions, as LabelMe's AMT workers do: class 1 is often answered 0 and
# class 3 often answered 2, never the other way round; classes 0 and 2 are easy.
CROWD = np.array([[0.90, 0.04, 0.03, 0.03],
                  [0.40, 0.55, 0.03, 0.02],
                  [0.03, 0.03, 0.90, 0.04],
                  [0.03, 0.02, 0.35, 0.60]])


def _shared_confusion_log(rng, n_tasks: int = 500, n_workers: int = 25):
    """1-3 answers per task; each worker is the crowd with its own skill (diagonal moved by up to
    +-.15, the errors keeping the crowd's proportions)."""
    truth = rng.integers(K, size=n_tasks)
    skill = rng.uniform(-0.15, 0.15, size=n_workers)
    rows = []
    for i in range(n_tasks):
        y = truth[i]
        for j in rng.choice(n_workers, size=rng.integers(1, 4), replace=False):
            right = min(CROWD[y, y] + skill[j], 0.99)
            errors = CROWD[y] * (1.0 - np.eye(K)[y])
            p = right * np.eye(K)[y] + (1.0 - right) * errors / errors.sum()
            rows.append((f"t{i}", f"w{j}", f"c{rng.choice(K, p=p)}"))
    return truth, pd.DataFrame(rows, columns=["task", "worker", "label"])


def _right(folder: Path, truth, extra=()) -> np.ndarray:
    """Per task, whether `labald aggregate` labels it right."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["aggregate", "--annotations", str(folder / "answers.csv"), "-o", str(folder / "labels.csv"),
                     "--force", *extra]) == 0
    labels = pd.read_csv(folder / "labels.csv", dtype=str)
    return np.array([lab == f"c{truth[int(t[1:])]}" for t, lab in zip(labels["task"], labels["label"])])


def test_a_crowd_that_shares_its_confusions_is_labelled_better_than_with_the_symmetric_prior(tmp_path):
    """Three logs; on the tasks where the two priors disagree in being right, the crowd's prior wins
    more often than a fair coin would (one-sided sign test at 1%)."""
    wins = losses = 0
    for seed in range(3):
        truth, answers = _shared_confusion_log(np.random.default_rng(seed))
        answers.to_csv(tmp_path / "answers.csv", index=False)
        crowd, symmetric = _right(tmp_path, truth), _right(tmp_path, truth, ["--prior-accuracy", "0.7"])
        wins += int((crowd & ~symmetric).sum())
        losses += int((~crowd & symmetric).sum())
    assert binomtest(wins, wins + losses, alternative="greater").pvalue < 0.01, (wins, losses)


def test_the_crowd_confusion_is_nearer_the_truth_than_the_symmetric_prior(tmp_path):
    """Oracle: the log's pooled confusion against the true labels. The estimate lies nearer to it in
    every row and puts each hard class's errors on the class the crowd confuses it with."""
    truth, answers = _shared_confusion_log(np.random.default_rng(7))
    answers.to_csv(tmp_path / "answers.csv", index=False)
    campaign = read_campaign(tmp_path / "answers.csv")
    true_class = np.array([int(campaign.task_ids[i][1:]) for i in campaign.image])
    oracle = np.zeros((K, K))
    np.add.at(oracle, (truth[true_class], campaign.label), 1.0)
    oracle /= oracle.sum(axis=1, keepdims=True)
    symmetric = prior_mean(K, DEFAULT_PRIOR_ACCURACY)
    estimate = crowd_confusion(campaign, SYNTHETIC_ROW_TOTAL * symmetric, DEFAULT_PRIOR_ACCURACY)
    np.testing.assert_allclose(estimate.sum(axis=1), 1.0)
    assert (np.abs(estimate - oracle).sum(axis=1) < np.abs(symmetric - oracle).sum(axis=1)).all()
    errors = estimate * (1.0 - np.eye(K))
    assert errors[1].argmax() == 0 and errors[3].argmax() == 2


def test_without_a_task_of_two_answers_the_default_is_the_symmetric_prior(tmp_path):
    """One answer per task says nothing about confusions: the crowd's prior is then exactly the
    symmetric one at 0.7, and the labels are those of --prior-accuracy 0.7."""
    truth, answers = _shared_confusion_log(np.random.default_rng(1))
    answers = answers.drop_duplicates("task")
    answers.to_csv(tmp_path / "answers.csv", index=False)
    campaign = read_campaign(tmp_path / "answers.csv")
    alpha, diagonal = prior_alpha(campaign, Options())
    np.testing.assert_allclose(alpha, SYNTHETIC_ROW_TOTAL * prior_mean(K, DEFAULT_PRIOR_ACCURACY), rtol=1e-12)
    np.testing.assert_allclose(diagonal, DEFAULT_PRIOR_ACCURACY)
    _right(tmp_path, truth)
    default = pd.read_csv(tmp_path / "labels.csv")
    _right(tmp_path, truth, ["--prior-accuracy", "0.7"])
    pd.testing.assert_frame_equal(default, pd.read_csv(tmp_path / "labels.csv"))


def test_answers_on_gold_tasks_count_under_their_known_class(tmp_path):
    """Analytic: with no pool task of two answers, the crowd's confusion is the Dirichlet MAP of one
    worker holding the gold answers, (alpha + counts) / row totals, alpha the symmetric prior at the
    gold answers' mean per-class accuracy; --prior-strength scales the pseudo-answers."""
    classes = [0, 0, 1, 1, 2, 2, 3, 3]
    said = [0, 0, 0, 1, 2, 2, 2, 3]  # class 1 answered 0 once, class 3 answered 2 once
    gold = [f"g{i}" for i in range(len(classes))]
    pd.DataFrame({"task": gold, "label": [f"c{y}" for y in classes]}).to_csv(tmp_path / "gold.csv", index=False)
    pd.DataFrame({"task": [*gold, "t0"], "worker": ["w0", "w1"] * 4 + ["w0"],
                  "label": [f"c{z}" for z in [*said, 1]]}).to_csv(tmp_path / "answers.csv", index=False)
    campaign = read_campaign(tmp_path / "answers.csv", prototypes=tmp_path / "gold.csv")
    accuracy = np.mean([1.0, 0.5, 1.0, 0.5])  # per class, the share of gold answers that are right
    counts = np.zeros((K, K))
    np.add.at(counts, (classes, said), 1.0)
    for strength in (1.0, 0.25):
        alpha = strength * SYNTHETIC_ROW_TOTAL * prior_mean(K, accuracy)
        expected = (alpha + counts) / (alpha + counts).sum(axis=1, keepdims=True)
        got, diagonal = prior_alpha(campaign, Options(prior_strength=strength))
        np.testing.assert_allclose(got, strength * SYNTHETIC_ROW_TOTAL * expected, rtol=1e-9)
        np.testing.assert_allclose(diagonal, np.diagonal(expected), rtol=1e-9)
