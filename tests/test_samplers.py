"""Batch selection under the constraints of SPEC 5, and the random-image samplers."""

import itertools

import numpy as np
import pytest

from labald.identity import output_dir
from labald.samplers import Beliefs, Candidates, compose
from labald.samplers.selection import greedy_select, greedy_select_reference, matching_select


def _check_constraints(images, workers, valid, capacity, batch):
    assert len(images) <= batch
    assert len(set(images.tolist())) == len(images), "an image got two pairs in one step"
    assert valid[images, workers].all(), "an invalid (asked, ineligible or full) pair was chosen"
    assert (np.bincount(workers, minlength=len(capacity)) <= capacity).all()


@pytest.mark.parametrize("seed", range(6))
def test_greedy_equals_the_sequential_definition(seed):
    rng = np.random.default_rng(seed)
    n, m, batch = 60, 7, 25
    scores = rng.random((n, m))
    scores[rng.integers(0, n, 5)] += 1.0  # a few images that every worker wants
    valid = rng.random((n, m)) > 0.3
    capacity = rng.integers(0, 6, m)
    images, workers = greedy_select(scores, valid, capacity, batch, np.random.default_rng(0))
    expected = greedy_select_reference(scores, valid, capacity, batch, np.zeros((n, m)))
    assert list(zip(images.tolist(), workers.tolist())) == expected
    _check_constraints(images, workers, valid, capacity, batch)


@pytest.mark.parametrize("seed, scored_rows", [(0, 40), (1, 40), (2, 6), (3, 3)])
def test_greedy_with_unscored_images_at_minus_inf_equals_the_sequential_definition(seed, scored_rows):
    """Unscored images (-inf, as a pruned score leaves them) are taken, in their random tie order,
    only where the scored pairs cannot fill the batch; each pair is the sequential rule's, ties too."""
    rng = np.random.default_rng(seed)
    n, m, batch = 80, 6, 12
    scores = np.full((n, m), -np.inf)
    scored = rng.choice(n, scored_rows, replace=False)
    scores[scored] = rng.random((scored_rows, m))
    scores[scored[0], :3] = -np.inf  # a scored image with some pairs left unscored
    valid = rng.random((n, m)) > 0.2
    capacity = np.full(m, 3)
    images, workers = greedy_select(scores, valid, capacity, batch, np.random.default_rng(0))
    rows = np.flatnonzero(valid.any(axis=1))
    tie = np.zeros((n, m))
    tie[rows] = np.random.default_rng(0).random((len(rows), m))  # the tie keys greedy_select draws
    assert list(zip(images.tolist(), workers.tolist())) == greedy_select_reference(scores, valid, capacity, batch, tie)
    assert len(images) == batch
    assert np.isinf(scores[images, workers]).any() == (scored_rows < batch)


def test_ties_are_broken_at_random_not_by_index():
    n, m = 500, 10
    valid = np.ones((n, m), dtype=bool)
    firsts = []
    for seed in range(20):
        images, workers = greedy_select(np.zeros((n, m)), valid, np.full(m, 100), 50, np.random.default_rng(seed))
        firsts.append(images.mean())
        assert workers.min() >= 0
    assert 150 < np.mean(firsts) < 350  # uniform over 0..499 would give about 250
    assert len({tuple(sorted(greedy_select(np.zeros((n, m)), valid, np.full(m, 100), 50,
                                           np.random.default_rng(s))[0])) for s in range(3)}) == 3


def test_selection_stops_when_no_pair_is_left():
    valid = np.zeros((5, 3), dtype=bool)
    valid[2, 1] = True
    images, workers = greedy_select(np.ones((5, 3)), valid, np.array([1, 1, 1]), 100, np.random.default_rng(0))
    assert images.tolist() == [2] and workers.tolist() == [1]


def _best_b_matching(scores, valid, capacity, batch):
    """Slow oracle: every way to give each image one worker or none; the largest number of pairs
    (up to `batch`) the constraints allow, and among those the largest total score."""
    n, m = scores.shape
    best = (-1, -np.inf)
    for choice in itertools.product(range(-1, m), repeat=n):
        pairs = [(i, j) for i, j in enumerate(choice) if j >= 0]
        if len(pairs) > batch or any(not valid[i, j] for i, j in pairs):
            continue
        if any(sum(j == w for _, j in pairs) > capacity[w] for w in range(m)):
            continue
        best = max(best, (len(pairs), sum(scores[i, j] for i, j in pairs)))
    return best


@pytest.mark.parametrize("seed", range(30))
def test_matching_takes_the_pairs_of_the_largest_total_score(seed):
    """`matching_select` against brute force: as many pairs as the constraints allow (up to B), of
    the largest total score; the constraints hold; greedy never does better."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 7)), int(rng.integers(1, 4))
    scores = rng.random((n, m)).round(1)  # ties, often
    valid = rng.random((n, m)) > 0.25
    capacity = rng.integers(0, 3, m)
    batch = int(rng.integers(1, n + 1))
    images, workers = matching_select(scores, valid, capacity, batch, np.random.default_rng(seed))
    _check_constraints(images, workers, valid, capacity, batch)
    count, total = _best_b_matching(scores, valid, capacity, batch)
    assert len(images) == count
    assert scores[images, workers].sum() == pytest.approx(total, abs=1e-12)
    assert (np.diff(scores[images, workers]) <= 0).all(), "returned in descending score"
    g_images, g_workers = greedy_select(scores, valid, capacity, batch, np.random.default_rng(0))
    assert len(g_images) <= count
    if len(g_images) == count:  # greedy can stop short (a full worker strands an image); else never better
        assert scores[g_images, g_workers].sum() <= total + 1e-12


def test_matching_beats_greedy_where_greedy_spends_the_expert_badly():
    """One expert slot: greedy gives it to the image it scores best (0.9, where the novice scores
    0.8); the matching gives it to the image only the expert can answer well (0.7 vs 0.1)."""
    scores = np.array([[0.9, 0.8], [0.7, 0.1]])
    valid = np.ones((2, 2), dtype=bool)
    capacity = np.array([1, 1])
    g_images, g_workers = greedy_select(scores, valid, capacity, 2, np.random.default_rng(0))
    images, workers = matching_select(scores, valid, capacity, 2, np.random.default_rng(0))
    assert scores[g_images, g_workers].sum() == pytest.approx(1.0)
    assert sorted(zip(images.tolist(), workers.tolist())) == [(0, 1), (1, 0)]


def _candidates(n, m, rng, batch=30):
    eligible = rng.random(n) > 0.4
    asked = rng.random((n, m)) > 0.7
    return Candidates(eligible, asked, np.full(m, 4), batch)


def _beliefs(n, m, k, rng):
    posterior = rng.dirichlet(np.ones(k), size=n)
    confusions = rng.dirichlet(np.ones(k), size=(m, k))
    return Beliefs(posterior_N_K=posterior, confusions_M_K_K=confusions, log_likelihood_N_K=np.zeros((n, k)))


def test_ss_picks_only_eligible_images_uniformly():
    rng = np.random.default_rng(0)
    n, m = 200, 12
    cands = _candidates(n, m, rng)
    counts = np.zeros(n)
    sampler = compose("ss")
    for seed in range(200):
        sel = sampler.select(cands, _beliefs(n, m, 3, rng), np.random.default_rng(seed))
        _check_constraints(sel.images, sel.workers, cands.valid_N_M, cands.capacity_M, cands.batch_size)
        assert len(sel.images) == cands.batch_size
        counts[sel.images] += 1
    pickable = cands.valid_N_M.any(1)
    assert counts[~pickable].sum() == 0
    expected = 200 * cands.batch_size / pickable.sum()
    assert np.abs(counts[pickable] / expected - 1).max() < 0.6


def test_rand_i_greedy_w_gives_each_image_its_best_available_worker():
    rng = np.random.default_rng(1)
    n, m, k = 80, 9, 4
    cands = Candidates(np.ones(n, dtype=bool), rng.random((n, m)) > 0.8, np.full(m, 100), 20)
    beliefs = _beliefs(n, m, k, rng)
    sel = compose("rand_i_greedy_w").select(cands, beliefs, np.random.default_rng(0))
    expected_acc = beliefs.posterior_N_K @ np.diagonal(beliefs.confusions_M_K_K, axis1=1, axis2=2).T
    for i, j in zip(sel.images, sel.workers):
        available = np.flatnonzero(cands.valid_N_M[i])
        assert expected_acc[i, j] == expected_acc[i, available].max()


def test_a_new_pair_score_is_one_function(tmp_path):
    """A score registered with @pair_score runs as a method: validated, scored with the skill model's
    confusions, pairs taken by score under the constraints (or by matching), named in run directories."""
    import dataclasses

    from labald.config import validate
    from labald.experiment import build_experiment
    from labald.loop import advance, eligible, initial_state
    from labald.samplers import PAIR_SCORES, PairScores, pair_score
    from tests.helpers import make_settings

    @pair_score("test_margin")
    def margin(beliefs, rows, confusions_M_K_K, options):
        """1 - (top - second posterior) of the image, plus the worker's mean diagonal: unsure images first."""
        top2 = np.sort(beliefs.posterior_N_K[rows], axis=1)[:, -2:]
        skill_M = np.diagonal(confusions_M_K_K, axis1=1, axis2=2).mean(axis=1)
        return PairScores(rows, (1 - (top2[:, 1] - top2[:, 0]))[:, None] + skill_M[None, :])

    try:
        base = make_settings(["dataset=digits", "learner.max_epochs=2", "learner.min_updates=20", "batch_size=20"],
                             tmp_path)
        for assignment in ("greedy", "matching"):
            settings = dataclasses.replace(base, method="test_margin",
                                           acquisition=dataclasses.replace(base.acquisition, assignment=assignment))
            validate(settings)
            tag = "+acquisition.assignment=matching" if assignment == "matching" else ""
            assert output_dir(settings).parent.name.startswith(f"test_margin+batch_size=20{tag}")
            exp = build_experiment(settings)
            state = initial_state(exp)
            margin_N = 1 - np.diff(np.sort(state.posterior_N_K, axis=1)[:, -2:], axis=1)[:, 0]
            margin_N[~eligible(exp, state, "label")] = -np.inf
            assert np.isfinite(margin_N).sum() > 40 and np.unique(margin_N).size > 40  # a real ranking
            assert advance(exp, state, "label")
            picked = state.annotations.image
            assert len(picked) == 20 and margin_N[picked].min() >= np.sort(margin_N)[-20] - 1e-12
            assert "jaccard_la_global" not in state.rows[-1]
    finally:
        PAIR_SCORES.pop("test_margin")


def _influence_problem(seed: int, n: int = 1500, m: int = 12, k: int = 5, t: int = 8, same_workers: bool = False):
    import torch

    from labald.learner import PoolPredictions

    rng = np.random.default_rng(seed)
    sharp = rng.choice([0.05, 0.5, 3.0], size=n)[None, :, None]  # some images sure, some torn between samples
    mc = torch.from_numpy(rng.dirichlet(np.ones(k), size=(t, n)) ** (1 / sharp)).float()
    mc /= mc.sum(-1, keepdim=True)
    skill = np.full(m, 0.6) if same_workers else rng.uniform(0.3, 0.95, m)
    w = np.stack([np.full((k, k), (1 - a) / (k - 1)) + np.eye(k) * (a - (1 - a) / (k - 1)) for a in skill])
    beliefs = Beliefs(posterior_N_K=mc.mean(0).double().numpy(), confusions_M_K_K=w,
                      log_likelihood_N_K=np.zeros((n, k)), mc=PoolPredictions(mc))
    eligible = rng.random(n) > 0.2
    asked = rng.random((n, m)) > 0.9
    return Candidates(eligible, asked, rng.integers(1, 25, m), 100), beliefs


@pytest.mark.parametrize("method", ["j_bald", "la_bald"])
@pytest.mark.parametrize("seed, same_workers", [(0, False), (1, False), (2, True)])
def test_pruned_scoring_gives_the_full_scorings_batch_and_top_pairs(method, seed, same_workers):
    """Scoring only the images whose bound can reach the batch changes nothing: the same pairs in the
    same order, the same draws from the selection stream, the same Jaccard overlaps (ties included:
    `same_workers` makes every worker of an image tie)."""
    from labald.samplers import JaccardOverlaps, ScoreOptions

    candidates, beliefs = _influence_problem(seed, same_workers=same_workers)
    picks = []
    for prune in (True, False):
        sampler = compose(method, options=ScoreOptions(prune=prune))
        rng = np.random.default_rng([seed, 7])
        selection = sampler.select(candidates, beliefs, rng)
        overlaps = JaccardOverlaps()(selection, candidates, rng)
        picks.append((selection.images.tolist(), selection.workers.tolist(), overlaps, rng.random()))
        if prune and (method == "j_bald" or same_workers):  # LA-BALD's local term of very unequal workers
            assert selection.extra["scored_images"] < candidates.valid_N_M.any(axis=1).sum()  # it pruned
    assert picks[0] == picks[1]


def test_the_influence_bound_bounds_every_pair():
    import torch

    from labald.acquisition import influence_scores
    from labald.samplers.pair_scores import InfluenceBound, ScoreOptions

    candidates, beliefs = _influence_problem(3, n=300)
    rows = np.arange(300)
    for with_local in (False, True):
        bound = InfluenceBound(beliefs, rows, beliefs.confusions_M_K_K, ScoreOptions(), with_local)
        exact = influence_scores(beliefs.mc.dense(), torch.from_numpy(beliefs.confusions_M_K_K).float())
        score = exact.la_bald_N_M if with_local else exact.global_N_M
        slack = bound.bound_R_M - score.double().numpy()
        assert slack.min() > 0 and np.median(slack) < np.median(bound.bound_R_M)  # above, and not vacuous
