"""Every sampler labels real digits end to end; the learner earns its place as the EM prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labald.identity import output_dir
from labald.runner import run_experiment
from tests.helpers import make_settings


def _run(tmp_path, overrides):
    settings = make_settings(["dataset=digits", *overrides], tmp_path)
    run_experiment(settings, progress=False)
    return pd.read_csv(output_dir(settings) / "metrics.csv")


def _annotations_to_reach(m: pd.DataFrame, accuracy: float) -> float:
    reached = m[m["label_accuracy"] >= accuracy]
    return float(reached["annotations_per_image"].iloc[0]) if len(reached) else np.inf


@pytest.mark.slow
def test_the_learner_prior_saves_annotations(tmp_path):
    with_model = _run(tmp_path / "mlp", ["method=ss", "learner=mlp"])
    without = _run(tmp_path / "none", ["method=ss", "learner=none"])
    assert _annotations_to_reach(with_model, 0.9) < _annotations_to_reach(without, 0.9)
    assert with_model["model_accuracy"].iloc[-1] > 0.7
    assert with_model["ece"].notna().all() and without["model_accuracy"].isna().all()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rand_i_greedy_w", "j_bald", "la_bald"])
def test_each_sampler_labels_digits_with_rising_accuracy(tmp_path, method):
    m = _run(tmp_path, [f"method={method}"])
    assert m["label_accuracy"].iloc[-1] > 0.9
    assert m["label_accuracy"].iloc[-1] > m["label_accuracy"].iloc[0] + 0.1
    assert (m["n_annotations"].diff().dropna() <= 100).all()
    if method != "rand_i_greedy_w":
        jaccard = m[["jaccard_la_global", "jaccard_la_local", "jaccard_global_local"]].iloc[1:]
        assert ((jaccard >= 0) & (jaccard <= 1)).all().all()
        assert (m["seconds_scoring"].iloc[1:] > 0).all()


def test_joint_samplers_run_without_a_learner_and_with_the_exact_local_form(tmp_path):
    paper = _run(tmp_path / "paper", ["method=la_bald", "learner=none", "max_steps=5"])
    exact = _run(tmp_path / "exact", ["method=la_bald", "learner=none", "max_steps=5", "acquisition.local=exact"])
    assert len(paper) == len(exact) == 6
    assert paper["label_accuracy"].iloc[-1] > paper["label_accuracy"].iloc[0]
    # the forms rank pairs differently, so the runs part ways
    assert not paper["label_accuracy"].equals(exact["label_accuracy"])
