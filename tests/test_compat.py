"""Run directories of earlier versions resume, and give what a run straight through gives
(labald.compat's policy), from a stored checkpoint of each form (tests/data/checkpoints)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import make_settings

from labald.compat import LATER_KEYS, ONCE_FINGERPRINTED
from labald.identity import NOT_RESULTS, accepted_fingerprints, fingerprint, output_dir
from labald.runner import run_experiment

STORED = Path(__file__).parent / "data" / "checkpoints"
ARGS = ["method=la_bald", "dataset=digits", "dataset.n_per_class=20", "batch_size=20", "learner.hidden=16",
        "learner.cross_fit=1", "workers.n_crowd=8", "workers.n_expert=2", "seed=0",
        "threads=1"]  # as the stored steps were computed: float sums depend on the threads
FORMS = sorted(p.name for p in STORED.glob("*.pt"))


def _metrics(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / "metrics.csv")
    return frame[[c for c in frame.columns if not c.startswith("seconds_")]]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    settings = make_settings([*ARGS, "max_steps=3"], tmp_path_factory.mktemp("straight"))
    run_experiment(settings, progress=False)
    return output_dir(settings)


def test_every_form_is_stored():
    assert FORMS == ["before_costs.pt", "fingerprint_with_chunk.pt", "flat_adam_without_rate.pt"]


@pytest.mark.parametrize("form", FORMS)
def test_a_stored_checkpoint_resumes_to_the_straight_run(form, straight, tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(STORED / form, run / "checkpoint.pt")
    settings = make_settings([*ARGS, "max_steps=3", f"run_dir={run}"], tmp_path)
    with caplog.at_level("INFO", logger="labald"):
        run_experiment(settings, progress=False)
    assert f"resuming {run} from step 2" in caplog.text
    pd.testing.assert_frame_equal(_metrics(run), _metrics(straight))  # cost columns recomputed where missing
    assert (run / "answers.csv").read_text() == (straight / "answers.csv").read_text()


def test_a_resumed_checkpoint_is_written_back_in_todays_form(tmp_path):
    import torch

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(STORED / "before_costs.pt", run / "checkpoint.pt")
    settings = make_settings([*ARGS, "max_steps=3", f"run_dir={run}"], tmp_path)
    run_experiment(settings, progress=False)
    saved = torch.load(run / "checkpoint.pt", weights_only=False)
    assert saved["fingerprint"] == fingerprint(settings)
    assert all("cost" in row for row in saved["rows"]) and "periods" in saved
    learner = saved["learner"]["learners"][0]
    assert set(learner["optimizer"]) == {"step", "exp_avg", "exp_avg_sq", "lr"} and "kept_n_train" in learner


def test_an_old_fingerprint_is_accepted_only_for_the_same_settings(tmp_path):
    """The old hash held the scoring block size: it matches today's settings at the same block size,
    and a changed result-changing setting is still refused."""
    base = make_settings(ARGS, tmp_path)
    other = make_settings([*ARGS, "aggregation.max_iter=3"], tmp_path)
    assert fingerprint(base) in accepted_fingerprints(base)
    assert not accepted_fingerprints(base) & accepted_fingerprints(other)


def test_the_tables_are_consistent():
    """A setting once fingerprinted and now known not to change results is in NOT_RESULTS; a later
    setting is a setting."""
    from labald.config import config_keys

    assert ONCE_FINGERPRINTED <= NOT_RESULTS
    assert LATER_KEYS <= config_keys()
