"""Determinism and resume: the same config and seed give the same metrics, and a run
killed with SIGKILL at any point, then rerun, ends with the metrics of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from labald.identity import output_dir
from labald.metrics import TIMING_COLUMNS
from labald.runner import run_experiment
from tests.helpers import ROOT, make_settings

# A joint sampler with the learner exercises every piece of state: answers, worker generators,
# EM estimate, model and optimizer, MC predictions and keep-best.
ARGS = ["dataset=digits", "method=la_bald", "max_steps=7", "learner.mc_samples=20"]


def _metrics(path):
    m = pd.read_csv(path)
    return m.drop(columns=[c for c in TIMING_COLUMNS if c in m])


def test_same_seed_same_metrics_with_learner_and_joint_sampler(tmp_path):
    runs, answers = [], []
    for name in ("a", "b"):
        settings = make_settings([*ARGS, "max_steps=4"], tmp_path / name)
        run_experiment(settings, progress=False)
        runs.append(_metrics(output_dir(settings) / "metrics.csv"))
        answers.append((output_dir(settings) / "answers.csv").read_text())
    pd.testing.assert_frame_equal(*runs)
    assert answers[0] == answers[1] and len(answers[0].splitlines()) == 1 + runs[0]["n_annotations"].iloc[-1]
    assert runs[0]["model_accuracy"].notna().all() and runs[0]["jaccard_la_local"].notna().iloc[1:].all()


def _command(results):
    return [sys.executable, str(ROOT / "run.py"), f"results_dir={results}", *ARGS]


@pytest.mark.slow
def test_killed_runs_resume_to_the_uninterrupted_metrics(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(_command(reference), check=True, capture_output=True, timeout=600)
    expected = _metrics(output_dir(make_settings(ARGS, reference)) / "metrics.csv")

    results = tmp_path / "killed"
    metrics = output_dir(make_settings(ARGS, results)) / "metrics.csv"
    for kill_after_rows in (1, 3, 5):  # header + step 0, then later steps: kill at several points
        proc = subprocess.Popen(_command(results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if metrics.exists() and len(metrics.read_text().splitlines()) > kill_after_rows:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(_command(results), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    pd.testing.assert_frame_equal(_metrics(metrics), expected)
    reference_answers = output_dir(make_settings(ARGS, reference)) / "answers.csv"
    assert (metrics.parent / "answers.csv").read_text() == reference_answers.read_text()


def test_resume_removes_what_an_interrupted_write_left_and_nothing_else(tmp_path):
    settings = make_settings([*ARGS, "max_steps=2"], tmp_path)
    run_experiment(settings, progress=False)
    out = output_dir(settings)
    torn = [out / ".checkpoint.pt.k3x9_q.tmp", out / ".metrics.csv.a81zz0.tmp"]
    for path in torn:
        path.write_bytes(b"PK\x03\x04 half a zip")  # what a SIGKILL during a write leaves
    foreign = out / ".notes.tmp"
    foreign.write_text("the user's own file\n")
    resumed = make_settings([*ARGS, "max_steps=3"], tmp_path)
    run_experiment(resumed, progress=False)
    assert not any(p.exists() for p in torn) and foreign.read_text() == "the user's own file\n"
    straight = make_settings([*ARGS, "max_steps=3"], tmp_path / "straight")
    run_experiment(straight, progress=False)
    pd.testing.assert_frame_equal(_metrics(out / "metrics.csv"), _metrics(output_dir(straight) / "metrics.csv"))


def test_a_replicate_redraws_the_world_of_answers_on_the_same_pool_and_crowd(tmp_path):
    """`replicate=r` keeps the seed's pool, crowd and prototype split and draws every answer anew;
    replicate 0 is the seed's world itself (same directory, same fingerprint)."""
    from labald.experiment import build_experiment
    from labald.figures.load import setting_slug
    from labald.identity import fingerprint

    base = make_settings([*ARGS, "max_steps=3"], tmp_path / "a")
    again = make_settings([*ARGS, "max_steps=3", "replicate=0", "rerun=0"], tmp_path / "a")
    other = make_settings([*ARGS, "max_steps=3", "replicate=1"], tmp_path / "a")
    assert output_dir(again) == output_dir(base) and fingerprint(again) == fingerprint(base)
    assert again.answer_seed == again.luck_seed == base.seed
    assert output_dir(other).parent.name.endswith("+replicate=1") and fingerprint(other) != fingerprint(base)
    assert other.luck_seed == base.seed and other.answer_seed != base.seed
    assert setting_slug({"replicate": 1}) == "replicate=1" and setting_slug({"replicate": 0}) == "main"
    one, two = build_experiment(base), build_experiment(other)
    np.testing.assert_array_equal(one.pool.features, two.pool.features)
    np.testing.assert_array_equal(one.workers.confusions, two.workers.confusions)
    np.testing.assert_array_equal(one.val_prototypes, two.val_prototypes)
    images, workers = np.arange(200) % one.pool.n_images, np.arange(200) % one.workers.n_workers
    assert (one.workers.answer(images, workers) != two.workers.answer(images, workers)).any()
    runs = []
    for settings in (base, other):
        run_experiment(settings, progress=False)
        runs.append(_metrics(output_dir(settings) / "metrics.csv"))
    assert not runs[0]["label_accuracy"].iloc[1:].equals(runs[1]["label_accuracy"].iloc[1:])


def _answers(settings):
    return pd.read_csv(output_dir(settings) / "answers.csv", dtype={"label": str})


def test_samplers_on_one_seed_face_one_world_of_answers(tmp_path):
    """Two samplers on a seed, and one sampler rerun with other luck (`rerun=1`), get the same answer
    for every pair they both ask; answers.csv holds each run's answers as crowd-kit reads them."""
    small = ["dataset=digits", "max_steps=5", "learner.mc_samples=20", "workers.n_crowd=2", "workers.n_expert=1"]
    runs = [make_settings([*small, f"method={m}", *extra],
                          tmp_path) for m, extra in (("ss", []), ("j_bald", []), ("j_bald", ["rerun=1"]))]
    for settings in runs:
        run_experiment(settings, progress=False)
    assert output_dir(runs[2]).parent.name.endswith("+rerun=1") and runs[2].answer_seed == runs[1].answer_seed
    ss, jb, jb_rerun = (_answers(s) for s in runs)
    assert list(ss.columns) == ["task", "worker", "label", "step"]
    assert len(jb) == _metrics(output_dir(runs[1]) / "metrics.csv")["n_annotations"].iloc[-1]
    assert set(ss["label"]) <= {str(c) for c in range(10)} and ss["step"].min() == 1
    for a, b in ((ss, jb), (jb, jb_rerun)):
        both = a.merge(b, on=["task", "worker"], suffixes=("_a", "_b"))
        assert len(both) >= 20, "the runs must share pairs for the check to mean anything"
        assert (both["label_a"] == both["label_b"]).all()
        assert not a[["task", "worker"]].equals(b[["task", "worker"]])  # different samplers, different pairs
    # the answers a run saved are the ones the crowd gives the same pairs when asked afresh
    from labald.experiment import build_experiment

    exp = build_experiment(runs[0])
    fresh = exp.workers.answer(ss["task"].to_numpy(), ss["worker"].to_numpy())
    np.testing.assert_array_equal(np.asarray(exp.pool.class_names)[fresh], ss["label"].to_numpy())
    # and `labald aggregate` reads it as a campaign's answers
    from labald.cli import main as cli

    (tmp_path / "agg").mkdir()
    assert cli(["aggregate", "--annotations", str(output_dir(runs[0]) / "answers.csv"),
                "-o", str(tmp_path / "agg" / "labels.csv")]) == 0
    labels = pd.read_csv(tmp_path / "agg" / "labels.csv")
    assert len(labels) == ss["task"].nunique() and labels["n_answers"].sum() == len(ss)
    assert not labels["gold"].any()


def test_settings_added_later_keep_older_checkpoints_resumable(tmp_path):
    """The fingerprint that the published 200/class runs recorded (LA-BALD, commodity, seed 0) is
    still accepted for this config: options added since, at their defaults, leave it alone."""
    from labald.identity import accepted_fingerprints

    def accepts(*extra: str) -> bool:
        settings = make_settings(["method=la_bald", "dataset=commodity", "dataset.n_per_class=200", *extra], tmp_path)
        return "4d4d6452025ca99b" in accepted_fingerprints(settings)

    assert accepts() and accepts("acquisition.prune=false")
    assert not accepts("batch_ramp=1") and not accepts("dataset.standardize=false")


def test_changing_the_scoring_block_size_resumes_a_stopped_run(tmp_path, caplog):
    """`acquisition.chunk` changes how scores are computed, not what they are: the run keeps its
    directory and resumes, to the metrics of a run straight through."""
    args = ["method=la_bald", "dataset=digits", "dataset.n_per_class=20", "batch_size=20", "learner.hidden=16"]
    first = make_settings([*args, "max_steps=1"], tmp_path / "a")
    run_experiment(first, progress=False)
    again = make_settings([*args, "max_steps=2", "acquisition.chunk=7"], tmp_path / "a")
    assert output_dir(again) == output_dir(first)
    with caplog.at_level("INFO", logger="labald"):
        run_experiment(again, progress=False)
    assert "from step 1" in caplog.text
    straight = make_settings([*args, "max_steps=2"], tmp_path / "b")
    run_experiment(straight, progress=False)
    pd.testing.assert_frame_equal(_metrics(output_dir(again) / "metrics.csv"),
                                  _metrics(output_dir(straight) / "metrics.csv"))
