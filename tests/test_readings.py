"""The paper's open choices as options: per-worker cap, prior diagonal, Jaccard ties; and the
batch diagnostics every run writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labald.acquisition import top_k_jaccard
from labald.experiment import build_experiment
from labald.figures.load import setting_slug
from labald.identity import output_dir
from labald.loop import advance, initial_state
from tests.helpers import make_settings

DIGITS_LA = ["dataset=digits", "method=la_bald", "learner.max_epochs=2", "learner.min_updates=20",
             "learner.mc_samples=10"]


def _run(tmp_path, overrides, n_steps=2):
    exp = build_experiment(make_settings([*DIGITS_LA, *overrides], tmp_path))
    state = initial_state(exp)
    for _ in range(n_steps):
        assert advance(exp, state, "label")
    return exp, state


def test_without_a_per_worker_cap_a_worker_may_take_more_than_ceil_2b_over_m(tmp_path):
    capped, state = _run(tmp_path / "capped", [])
    uncapped, free = _run(tmp_path / "free", ["workers.per_worker_per_step=none"])
    assert capped.capacity_per_step == -(-2 * 100 // capped.workers.n_workers) and uncapped.capacity_per_step == 100
    for exp, st in ((capped, state), (uncapped, free)):
        per_step = [np.bincount(st.annotations.worker[st.annotations.step == s]).max() for s in (1, 2)]
        assert (max(per_step) <= exp.capacity_per_step)
    worst = max(np.bincount(free.annotations.worker[free.annotations.step == s]).max() for s in (1, 2))
    assert worst > capped.capacity_per_step  # LA-BALD piles tasks on its favourite workers when it may
    assert free.rows[-1]["workers_used"] < state.rows[-1]["workers_used"]


def test_per_class_prior_diagonal_is_each_class_mean_worker_accuracy(tmp_path):
    scalar = build_experiment(make_settings(["dataset=vertebrate", "dataset.n_per_class=5", "learner=none"],
                                            tmp_path / "a"))
    per_class = build_experiment(make_settings(["dataset=vertebrate", "dataset.n_per_class=5", "learner=none",
                                                "aggregation.prior_diagonal=per_class"], tmp_path / "b"))
    diag = np.diagonal(per_class.workers.confusions, axis1=1, axis2=2)
    total = per_class.alpha_K_K.sum(axis=1)
    np.testing.assert_allclose(np.diagonal(per_class.alpha_K_K) / total, diag.mean(axis=0))
    np.testing.assert_allclose(np.diagonal(scalar.alpha_K_K) / scalar.alpha_K_K.sum(axis=1), diag.mean())
    np.testing.assert_allclose(total, scalar.alpha_K_K.sum(axis=1))  # same strength, only the diagonal moves
    assert np.ptp(np.diagonal(per_class.alpha_K_K)) > 0


def test_random_ties_make_a_tied_top_k_overlap_fractional_and_index_ties_do_not():
    scores = torch.zeros(3, 60)
    scores[0] = 1.0  # image 0: all 60 workers tie at the top, as at step 1
    ties = torch.Generator().manual_seed(0)
    by_index = top_k_jaccard(scores, scores.clone(), 50)
    assert by_index == 1.0
    random = [top_k_jaccard(scores, scores.clone(), 50, ties=ties) for _ in range(20)]
    assert all(0 < j < 1 for j in random)  # two random 50-of-60 subsets: J ~ 0.7 on average
    assert abs(np.mean(random) - 0.71) < 0.06


def test_jaccard_ties_change_the_columns_but_not_the_selection(tmp_path):
    _, random = _run(tmp_path / "r", [])
    _, index = _run(tmp_path / "i", ["acquisition.jaccard_ties=index"])
    assert np.array_equal(random.annotations.image, index.annotations.image)
    assert np.array_equal(random.annotations.worker, index.annotations.worker)
    assert index.rows[1]["jaccard_la_local"] in (0.0, 1.0)


def test_batch_diagnostics_describe_the_batch(tmp_path):
    exp, state = _run(tmp_path, [], n_steps=1)
    row = state.rows[-1]
    picked = state.annotations.step == 1
    assert row["expert_share"] == pytest.approx(exp.workers.is_expert[state.annotations.worker[picked]].mean())
    assert row["workers_used"] == len(np.unique(state.annotations.worker[picked]))
    right = state.annotations.label[picked] == exp.pool.labels[state.annotations.image[picked]]
    assert row["answer_accuracy"] == pytest.approx(right.mean())
    assert 1 / exp.pool.n_classes <= row["picked_confidence"] < exp.settings.confidence


@pytest.mark.parametrize("override, tag", [
    ("workers.per_worker_per_step=none", "workers.per_worker_per_step=none"),
    ("aggregation.prior_diagonal=per_class", "aggregation.prior_diagonal=per_class"),
    ("acquisition.jaccard_ties=index", "acquisition.jaccard_ties=index"),
])
def test_each_reading_names_its_runs_and_its_figure_study(tmp_path, override, tag):
    settings = make_settings(["dataset=digits", override], tmp_path)
    assert output_dir(settings).parent.name == f"ss+{tag}"
    group, rest = override.split(".", 1)
    key, value = rest.split("=")
    assert tag in setting_slug({group: {key: value}, "learner": {"cross_fit": 3}})
