"""PowerBALD over pairs: images drawn without replacement in proportion to (best J-BALD score)^beta,
each given its best available worker; checked against a slow sequential-sampling oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labald.acquisition import global_influence
from labald.experiment import build_experiment
from labald.learner import PoolPredictions
from labald.loop import advance, initial_state
from labald.samplers import Beliefs, Candidates, compose
from labald.samplers.selection import power_priorities
from tests.helpers import make_settings


def _problem(seed: int = 0, n: int = 12, m: int = 4, k: int = 3, t: int = 7):
    rng = np.random.default_rng(seed)
    mc = torch.from_numpy(rng.dirichlet(np.full(k, 0.6), size=(t, n)))
    w = rng.dirichlet(np.full(k, 0.5), size=(m, k)) + 2 * np.eye(k)
    w /= w.sum(-1, keepdims=True)
    beliefs = Beliefs(posterior_N_K=mc.mean(0).numpy(), confusions_M_K_K=w, log_likelihood_N_K=np.zeros((n, k)),
                      mc=PoolPredictions(mc))
    return beliefs, torch.from_numpy(w)


def _first_pick_frequencies(scores: np.ndarray, beta: float, draws: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    first = [int(np.argmax(power_priorities(scores, beta, rng))) for _ in range(draws)]
    return np.bincount(first, minlength=len(scores)) / draws


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_priorities_draw_images_in_proportion_to_score_to_the_beta(beta):
    scores = np.array([0.05, 0.1, 0.2, 0.4, 0.8])
    expected = scores**beta / (scores**beta).sum()
    freq = _first_pick_frequencies(scores, beta, 20_000)
    # binomial standard error at 20k draws is <= 0.0036: 5 of them
    np.testing.assert_allclose(freq, expected, atol=0.018)


def test_second_pick_follows_sampling_without_replacement():
    """P(second = j | first = i) = p_j / (1 - p_i): the Gumbel-top-k order is a sequential draw."""
    scores, rng = np.array([1.0, 2.0, 3.0]), np.random.default_rng(2)
    p = scores / scores.sum()
    orders = [tuple(np.argsort(-power_priorities(scores, 1.0, rng))[:2]) for _ in range(30_000)]
    for (i, j) in [(2, 1), (2, 0), (1, 2), (0, 2)]:
        expected = p[i] * p[j] / (1 - p[i])
        assert orders.count((i, j)) / len(orders) == pytest.approx(expected, abs=0.012)


def test_sampler_gives_each_drawn_image_its_best_worker_in_priority_order():
    beliefs, w = _problem()
    n, m = beliefs.posterior_N_K.shape[0], w.shape[0]
    asked = np.zeros((n, m), dtype=bool)
    asked[0, :] = [True, False, False, False]
    candidates = Candidates(np.arange(n) != 5, asked, np.full(m, 10), batch_size=6)
    picked = compose("power_bald", power_beta=1.0).select(candidates, beliefs, np.random.default_rng(3))
    # slow oracle: the same draws, one image at a time
    scores = global_influence(beliefs.mc.dense(), w).numpy()
    valid = candidates.valid_N_M
    rows = np.flatnonzero(valid.any(axis=1))
    best = np.where(valid, scores, -np.inf).max(axis=1)
    priority = power_priorities(best[rows], 1.0, np.random.default_rng(3))
    order = rows[np.argsort(-priority, kind="stable")][:6]
    workers = [int(np.argmax(np.where(valid[i], scores[i], -np.inf))) for i in order]
    assert picked.images.tolist() == order.tolist() and picked.workers.tolist() == workers
    assert 5 not in picked.images  # not eligible
    np.testing.assert_allclose(picked.scores, scores[order, workers], rtol=1e-12)


def test_a_huge_beta_is_j_balds_image_ranking():
    beliefs, w = _problem(seed=4, n=30)
    n, m = 30, w.shape[0]
    candidates = Candidates(np.ones(n, dtype=bool), np.zeros((n, m), dtype=bool), np.full(m, 30), batch_size=8)
    picked = compose("power_bald", power_beta=1e6).select(candidates, beliefs, np.random.default_rng(0))
    best = global_influence(beliefs.mc.dense(), w).numpy().max(axis=1)
    assert picked.images.tolist() == np.argsort(-best)[:8].tolist()


def test_power_bald_runs_under_the_constraints_and_reproduces(tmp_path):
    runs = []
    for name in ("a", "b"):
        exp = build_experiment(make_settings(["dataset=digits", "method=power_bald", f"run_dir={tmp_path / name}"],
                                             tmp_path))
        state = initial_state(exp)
        for _ in range(3):
            assert advance(exp, state, "label")
        runs.append(state.annotations)
        for step in (1, 2, 3):
            picked = state.annotations.step == step
            assert picked.sum() == 100 and len(np.unique(state.annotations.image[picked])) == 100
            assert np.bincount(state.annotations.worker[picked]).max() <= exp.capacity_per_step
    assert np.array_equal(runs[0].image, runs[1].image) and np.array_equal(runs[0].worker, runs[1].worker)
