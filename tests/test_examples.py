"""The worked campaign example runs as the README shows it, and labels the digits well."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.helpers import ROOT


def test_campaign_example_runs_aggregate_propose_aggregate(tmp_path):
    example = tmp_path / "campaign"
    shutil.copytree(ROOT / "examples" / "campaign", example, ignore=shutil.ignore_patterns("out"))
    env = {**os.environ, "LABALD": str(Path(sys.executable).parent / "labald"), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(example / "run.sh")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    answers = pd.read_csv(example / "out" / "answers.csv", dtype=str)
    assert answers["round"].tolist() == ["1"] * 100 + ["2"] * 40 + ["3"] * 40  # rounds count from 1
    assert not answers.duplicated(["task", "worker"]).any()
    labels = pd.read_csv(example / "out" / "labels.csv", dtype=str)
    truth = pd.read_csv(example / "truth.csv", dtype=str)
    pool = labels[labels["gold"] == "false"].merge(truth, on="task", suffixes=("", "_true"))
    assert len(pool) == 300 and (labels["gold"] == "true").sum() == 40
    first = pd.read_csv(example / "out" / "labels_round1.csv", dtype=str)
    first = first[first["gold"] == "false"].merge(truth, on="task", suffixes=("", "_true"))
    accuracy = (pool["label"] == pool["label_true"]).mean()
    assert accuracy > (first["label"] == first["label_true"]).mean() and accuracy > 0.8, accuracy


def test_campaign_example_files_are_what_make_files_writes(tmp_path):
    example = tmp_path / "campaign"
    shutil.copytree(ROOT / "examples" / "campaign", example, ignore=shutil.ignore_patterns("out"))
    subprocess.run([sys.executable, str(example / "make_files.py")], check=True, timeout=120, cwd=example)
    for name in ("answers.csv", "crowd.csv", "feats.npy", "gold.csv", "ids.txt", "roster.csv", "truth.csv"):
        assert (example / name).read_bytes() == (ROOT / "examples" / "campaign" / name).read_bytes(), name
