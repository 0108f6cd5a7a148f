"""EAG's score, the expected accuracy gain, against a slow Bayes-rule oracle and analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labald.acquisition import expected_accuracy_gain
from labald.experiment import build_experiment
from labald.loop import advance, initial_state
from tests.helpers import make_settings


def _slow_gain(q_K: np.ndarray, w_K_K: np.ndarray) -> float:
    """E_z[max_y q'(y | z)] - max_y q(y), the answer z enumerated and Bayes' rule applied."""
    expected = 0.0
    for z in range(len(q_K)):
        p_z = float(q_K @ w_K_K[:, z])
        if p_z > 0:
            posterior = q_K * w_K_K[:, z] / p_z
            expected += p_z * posterior.max()
    return expected - q_K.max()


def test_gain_equals_the_bayes_rule_oracle():
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.full(5, 0.7), size=9)
    w = rng.dirichlet(np.full(5, 0.5), size=(4, 5)) + 2 * np.eye(5)
    w /= w.sum(-1, keepdims=True)
    fast = expected_accuracy_gain(torch.from_numpy(q), torch.from_numpy(w), chunk=4).numpy()
    slow = np.array([[_slow_gain(q[i], w[j]) for j in range(4)] for i in range(9)])
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)
    assert (fast >= -1e-15).all()  # an answer never lowers the expected posterior maximum


def test_a_perfect_worker_gains_all_the_doubt_and_a_blind_one_nothing():
    q = torch.tensor([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]], dtype=torch.float64)
    perfect = torch.eye(3, dtype=torch.float64)
    blind = torch.full((3, 3), 1 / 3, dtype=torch.float64)  # answers at random whatever the truth
    gain = expected_accuracy_gain(q, torch.stack([perfect, blind]))
    assert gain[0, 0].item() == pytest.approx(0.5) and gain[0, 1].item() == pytest.approx(0.0)
    assert gain[1].abs().max().item() == pytest.approx(0.0)  # a certain label has nothing to gain


@pytest.mark.parametrize("method", ["eag", "elr", "oracle"])
def test_lookahead_samplers_run_under_the_constraints(tmp_path, method):
    """EAG and the other one-answer lookaheads (ELR, the oracle: tests/test_lookahead.py)."""
    exp = build_experiment(make_settings(["dataset=digits", f"method={method}", "learner=none"], tmp_path))
    state = initial_state(exp)
    for _ in range(3):
        assert advance(exp, state, "label")
    ann = state.annotations
    for step in (1, 2, 3):
        picked = ann.step == step
        assert picked.sum() == 100 and len(np.unique(ann.image[picked])) == 100
        assert np.bincount(ann.worker[picked]).max() <= exp.capacity_per_step
    assert state.rows[-1]["label_accuracy"] > state.rows[0]["label_accuracy"]
