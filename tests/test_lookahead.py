"""ELR's score (the expected fall of the label's Brier score) and the oracle's (the expected rise of the
true label's posterior probability) against Bayes-rule enumeration, analytic cases and each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labald.acquisition import expected_brier_gain, expected_truth_gain
from labald.errors import LabaldError
from labald.experiment import build_sampler
from labald.samplers.base import Beliefs
from labald.samplers.oracle import truth_gain
from labald.samplers.pair_scores import ScoreOptions, elr, skill_posterior
from tests.helpers import make_settings


def _bayes(q_K: np.ndarray, w_K_K: np.ndarray, z: int) -> tuple[float, np.ndarray]:
    p_z = float(q_K @ w_K_K[:, z])
    return p_z, q_K * w_K_K[:, z] / p_z


def _slow_brier_gain(q_K, w_K_K) -> float:
    """E_z[sum_y q'(y | z)^2] - sum_y q(y)^2, the answer enumerated."""
    expected = 0.0
    for z in range(len(q_K)):
        p_z, after = _bayes(q_K, w_K_K, z)
        expected += p_z * float(after @ after)
    return expected - float(q_K @ q_K)


def _slow_truth_gain(q_K, y: int, w_K_K, c_K_K) -> float:
    """sum_z C[y, z] q'(y | z) - q(y): the answer drawn from the true row, the update with What."""
    return sum(c_K_K[y, z] * _bayes(q_K, w_K_K, z)[1][y] for z in range(len(q_K))) - q_K[y]


def _confusions(rng, m: int, k: int) -> np.ndarray:
    w = rng.dirichlet(np.full(k, 0.5), size=(m, k)) + 2 * np.eye(k)
    return w / w.sum(-1, keepdims=True)


def test_brier_gain_equals_the_bayes_rule_enumeration():
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.full(5, 0.7), size=9)
    w = _confusions(rng, 4, 5)
    fast = expected_brier_gain(torch.from_numpy(q), torch.from_numpy(w), chunk=4).numpy()
    slow = np.array([[_slow_brier_gain(q[i], w[j]) for j in range(4)] for i in range(9)])
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)
    assert (fast >= -1e-15).all()  # the square is convex: an answer never lowers the expected sum of squares


def test_brier_gain_of_a_coin_flip_image():
    """K = 2, q = (1/2, 1/2), a symmetric worker of accuracy a: q' = (a, 1 - a) or its mirror, so the
    gain is a^2 + (1 - a)^2 - 1/2 = (2a - 1)^2 / 2; a blind worker (a = 1/2) gains nothing."""
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    accuracies = (0.5, 0.7, 0.9, 1.0)
    w = torch.stack([torch.tensor([[a, 1 - a], [1 - a, a]], dtype=torch.float64) for a in accuracies])
    gain = expected_brier_gain(q, w)[0].numpy()
    np.testing.assert_allclose(gain, [(2 * a - 1) ** 2 / 2 for a in accuracies], atol=1e-15)


def test_truth_gain_equals_the_enumeration_when_em_misjudges_the_workers():
    rng = np.random.default_rng(2)
    q = rng.dirichlet(np.full(4, 0.7), size=7)
    y = rng.integers(0, 4, size=7)
    w, c = _confusions(rng, 3, 4), _confusions(rng, 3, 4)  # EM's estimate and the truth differ
    fast = truth_gain(q, y, w, c, chunk=3)
    slow = np.array([[_slow_truth_gain(q[i], y[i], w[j], c[j]) for j in range(3)] for i in range(7)])
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)


def test_elr_is_the_oracle_averaged_over_the_beliefs():
    """Where the truth is what the beliefs say (y ~ q, C = What), the oracle's expected score is ELR's:
    sum_y q(y) [sum_z W[y, z] q'(y | z) - q(y)] = E_z[sum_y q'(y | z)^2] - sum_y q(y)^2."""
    rng = np.random.default_rng(3)
    q = rng.dirichlet(np.full(6, 0.5), size=5)
    w = _confusions(rng, 4, 6)
    averaged = sum(q[:, [y]] * truth_gain(q, np.full(5, y), w, w) for y in range(6))
    np.testing.assert_allclose(averaged, expected_brier_gain(torch.from_numpy(q), torch.from_numpy(w)).numpy(),
                               rtol=1e-12, atol=1e-14)


def test_truth_gain_in_expectation_is_the_oracle_averaged_over_the_beliefs():
    """The label drawn from beliefs r, answers from the skill model's C, the update EM's W: the
    expected truth gain is the oracle's score averaged over y ~ r with C as the truth; with r = q and
    C = W it is ELR's Brier form."""
    rng = np.random.default_rng(4)
    q = rng.dirichlet(np.full(5, 0.6), size=6)
    r = rng.dirichlet(np.full(5, 0.6), size=6)
    w, c = _confusions(rng, 3, 5), _confusions(rng, 3, 5)
    t = torch.from_numpy
    gain = expected_truth_gain(t(q), t(r), t(w), t(c), 4).numpy()
    averaged = sum(r[:, [y]] * truth_gain(q, np.full(6, y), w, c) for y in range(5))
    np.testing.assert_allclose(gain, averaged, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(expected_truth_gain(t(q), t(q), t(w), t(w), 4).numpy(),
                               expected_brier_gain(t(q), t(w)).numpy(), rtol=1e-12, atol=1e-14)


def test_truth_gain_refuses_beliefs_or_answers_of_another_shape():
    rng = np.random.default_rng(6)
    q = torch.from_numpy(rng.dirichlet(np.ones(3), size=4))
    w = torch.from_numpy(_confusions(rng, 2, 3))
    with pytest.raises(ValueError, match="must match"):
        expected_truth_gain(q, q[:3], w, w)
    with pytest.raises(ValueError, match="must match"):
        expected_truth_gain(q, q, w, w[:1])


def test_elr_prefers_the_worker_the_skill_model_trusts_though_em_judges_them_alike():
    """EM's What judges two workers alike (accuracy a = 0.7); the skill model says the second is right
    with c = 0.9. On a coin-flip image with no answers (r = q) ELR with EM's skill is indifferent, and
    with the skill model it asks the second, by the analytic value (2a - 1)(2c - 1) / 2."""
    q = np.array([[0.5, 0.5]])
    w = np.array([[[0.7, 0.3], [0.3, 0.7]]] * 2)
    c = np.array([[[0.7, 0.3], [0.3, 0.7]], [[0.9, 0.1], [0.1, 0.9]]])
    beliefs = Beliefs(posterior_N_K=q, confusions_M_K_K=w, log_likelihood_N_K=np.zeros_like(q))
    rows = np.array([0])
    plain = elr(beliefs, rows, w, ScoreOptions()).ranking.numpy()[0]
    skilled = elr(beliefs, rows, c, ScoreOptions()).ranking.numpy()[0]
    assert plain[0] == pytest.approx(plain[1]) == pytest.approx(0.4 * 0.4 / 2)
    assert skilled[0] == pytest.approx(0.4 * 0.4 / 2) and skilled[1] == pytest.approx(0.4 * 0.8 / 2)


def test_the_skill_posterior_reweighs_the_answers_by_the_skill_models_confusions():
    """r_i = EM's prior times each answer's C_j[., z]: rebuilt from scratch on random answers, and
    equal to EM's posterior when C is What."""
    rng = np.random.default_rng(5)
    n, m, k = 7, 4, 3
    prior = rng.dirichlet(np.ones(k), size=n)
    w, c = _confusions(rng, m, k), _confusions(rng, m, k)
    image, worker, label = rng.integers(0, n, 12), rng.integers(0, m, 12), rng.integers(0, k, 12)
    log_lik = np.zeros((n, k))
    np.add.at(log_lik, image, np.log(w[worker, :, label]))
    post = prior * np.exp(log_lik)
    post /= post.sum(1, keepdims=True)
    beliefs = Beliefs(posterior_N_K=post, confusions_M_K_K=w, log_likelihood_N_K=log_lik,
                      answers=(image, worker, label))
    rows = np.array([0, 2, 3, 6])
    expected = prior[rows].copy()
    for i, j, z in zip(image, worker, label):
        if i in rows:
            expected[list(rows).index(i)] *= c[j, :, z]
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(skill_posterior(beliefs, rows, c), expected, rtol=1e-10)
    np.testing.assert_allclose(skill_posterior(beliefs, rows, w), post[rows], rtol=1e-10)


def test_the_oracle_prefers_the_worker_who_is_right_on_the_true_class():
    """Two workers EM judges alike; one is right on the image's true class, the other always answers
    class 1. On an image of class 0 the oracle asks the first; on class 1 the two are equal."""
    q = np.array([[0.5, 0.5], [0.5, 0.5]])
    w = np.array([[[0.8, 0.2], [0.2, 0.8]]] * 2)
    c = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    gain = truth_gain(q, np.array([0, 1]), w, c)
    assert gain[0, 0] == pytest.approx(0.3) and gain[0, 1] == pytest.approx(-0.3)
    assert gain[1, 0] == pytest.approx(gain[1, 1]) == pytest.approx(0.3)


def test_a_campaign_cannot_run_the_oracle(tmp_path):
    settings = make_settings(["dataset=digits", "method=oracle", "learner=none"], tmp_path)
    with pytest.raises(LabaldError, match="true labels"):
        build_sampler(settings)
