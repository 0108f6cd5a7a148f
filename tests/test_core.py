"""The learning core's loop-level behaviour: re-inferred labels, calibration metrics, ablation names."""

from __future__ import annotations

import numpy as np
import pytest

from labald import metrics
from labald.experiment import build_experiment
from labald.identity import output_dir, protocol_diff, run_name
from labald.loop import advance, initial_state
from tests.helpers import make_settings


def _steps(tmp_path, overrides, n_steps):
    exp = build_experiment(make_settings(["dataset=digits", "method=ss", "learner.max_epochs=3",
                                          "learner.min_updates=30", "learner.mc_samples=10", *overrides],
                                         tmp_path))
    state = initial_state(exp)
    for _ in range(n_steps):
        assert advance(exp, state, "label")
    return exp, state


@pytest.mark.parametrize("reinfer", [True, False])
def test_labels_come_from_the_model_just_trained_when_reinfer_is_on(tmp_path, reinfer):
    """An image without answers has the prior as posterior: with `reinfer` that is the prior of the
    model trained this step; without, the previous step's (the labels lag one model)."""
    exp, state = _steps(tmp_path, [f"aggregation.reinfer={str(reinfer).lower()}"], 2)
    unanswered = state.annotations.per_image() == 0
    assert state.rows[-1]["model_adopted"] == 1  # so the prior did change this step
    same = np.allclose(state.posterior_N_K[unanswered], state.prior_N_K[unanswered], rtol=0, atol=1e-5)
    assert same == reinfer


def test_cross_fitted_prior_of_each_image_comes_from_its_out_of_fold_model(tmp_path):
    exp, state = _steps(tmp_path, ["learner.cross_fit=2"], 1)
    folds = exp.folds
    assert set(np.unique(folds)) == {0, 1}
    for f, learner in enumerate(exp.learner.learners):
        mine = np.flatnonzero(folds == f)
        expected = learner.predict_mc(exp.x_pool[mine], state.mc_step).mean(0).double().numpy()
        np.testing.assert_allclose(state.prior_N_K[mine], expected, rtol=1e-6, atol=1e-9)


def test_confident_accuracy_and_ece_metrics():
    probs = np.array([[0.95, 0.05], [0.92, 0.08], [0.2, 0.8], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    assert metrics.confident_accuracy(probs, labels, 0.9) == 0.5  # two confident, one right
    assert metrics.confident_accuracy(probs, labels, 0.99) is None
    perfect = np.eye(2)[labels]
    assert metrics.ece(perfect, labels) == pytest.approx(0.0)
    assert metrics.ece(np.full((4, 2), 0.5), labels) == pytest.approx(0.0)  # 50% sure, 50% right
    assert metrics.ece(np.array([[1.0, 0.0]] * 4), labels) == pytest.approx(0.5)


def test_a_run_that_changes_a_core_option_is_named_after_it(tmp_path):
    default = make_settings(["dataset=digits"], tmp_path)
    ablated = make_settings(["dataset=digits", "learner.cross_fit=1", "aggregation.reinfer=false"], tmp_path)
    assert protocol_diff(default) == {}
    assert protocol_diff(ablated) == {"aggregation.reinfer": "false", "learner.cross_fit": "1"}
    assert output_dir(ablated).parent.name == "ss+aggregation.reinfer=false+learner.cross_fit=1"
    assert output_dir(ablated) != output_dir(default)
    assert run_name("ss", {}) == output_dir(default).parent.name


def test_the_loop_never_reads_the_true_labels(tmp_path):
    """Only the simulated crowd and the evaluator hold the truth: with the pool's labels gone and an
    evaluator without truth, the same steps choose, receive and aggregate exactly the same answers;
    only the evaluator's columns go empty."""
    import dataclasses

    settings = make_settings(["dataset=digits", "method=la_bald", "learner.max_epochs=2", "learner.min_updates=20",
                              "learner.mc_samples=10", "batch_size=50"], tmp_path)
    runs = []
    for blind in (False, True):
        exp = build_experiment(settings)
        if blind:
            exp = dataclasses.replace(exp, pool=dataclasses.replace(exp.pool, labels=None),
                                      evaluator=metrics.Evaluator(None, settings.confidence))
        state = initial_state(exp)
        for _ in range(2):
            assert advance(exp, state, "label")
        runs.append(state)
    seen, blind = runs
    for field in ("image", "worker", "label"):
        np.testing.assert_array_equal(getattr(seen.annotations, field), getattr(blind.annotations, field))
    np.testing.assert_array_equal(seen.posterior_N_K, blind.posterior_N_K)
    truth_columns = ("label_accuracy", "model_accuracy", "ece", "posterior_ece", "confident_accuracy",
                     "answer_accuracy")
    assert all(seen.rows[-1][c] is not None for c in truth_columns)
    assert all(blind.rows[-1][c] is None for c in truth_columns)
    assert blind.rows[-1]["n_eligible"] == seen.rows[-1]["n_eligible"]
