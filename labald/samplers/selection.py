"""Constrained batch selection, shared by every sampler, and the assignment rules built on it.

Pairs are taken in descending score, skipping any that would give an image a second pair this
step, repeat an (image, worker) pair, or exceed a worker's capacity, until B pairs are chosen.
Ties are broken by a seeded random order, never by index.

The sequential rule is computed in rounds, exactly: every free image proposes its best pair among
workers with capacity left; proposals are ranked, and the longest prefix in which no worker
exceeds its capacity is accepted (it is what the sequential scan would accept); then workers that
filled up drop out and the rest propose again. Each round is a few array operations, and there are
at most as many rounds as workers that fill up, plus one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labald.samplers.base import Candidates


def greedy_select(
    scores_N_M: np.ndarray,
    valid_N_M: np.ndarray,
    capacity_M: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    image_priority_N: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose up to `batch_size` (image, worker) pairs; returns (images, workers) in selection order.

    With `image_priority_N`, images are visited in descending priority and each takes its best
    valid worker by `scores_N_M` (Rand-I samplers); otherwise pairs compete on score alone.
    """
    _check_shapes(scores_N_M, valid_N_M, capacity_M)
    rows = np.flatnonzero(valid_N_M.any(axis=1))
    if len(rows) == 0 or batch_size <= 0:
        return _no_pairs()
    valid = valid_N_M[rows]
    score = np.where(valid, scores_N_M[rows].astype(np.float64), -np.inf)
    tie = rng.random(score.shape)
    row_tie = rng.random(len(rows))
    priority = None if image_priority_N is None else image_priority_N[rows]
    if priority is None:
        # Pairs at -inf (images a pruned score left unscored) come after every scored pair, so the
        # images with a finite pair decide the batch alone unless it cannot be filled without them.
        scored = np.flatnonzero((score > -np.inf).any(axis=1))
        if len(scored) < len(rows):
            picked, workers = _greedy(score[scored], valid[scored], tie[scored], row_tie[scored], capacity_M,
                                      batch_size, None)
            if len(picked) == batch_size and np.isfinite(score[scored[picked], workers]).all():
                return rows[scored[picked]], workers
    picked, workers = _greedy(score, valid, tie, row_tie, capacity_M, batch_size, priority)
    return rows[picked], workers


def _greedy(score: np.ndarray, valid: np.ndarray, tie: np.ndarray, row_tie: np.ndarray, capacity_M: np.ndarray,
            batch_size: int, priority: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """`greedy_select` on the rows given ([R, M] scores with -inf where invalid, their tie keys):
    positions of the chosen rows and their workers, in selection order."""
    order = np.lexsort((tie, -score), axis=-1)  # per image: workers from best to worst
    valid_sorted = np.take_along_axis(valid, order, axis=1)
    capacity = capacity_M.astype(np.int64).copy()
    free = np.ones(len(score), dtype=bool)
    chosen_rows, chosen_workers = [], []
    left = batch_size
    while left > 0:
        open_sorted = valid_sorted & (capacity[order] > 0)
        proposing = np.flatnonzero(free & open_sorted.any(axis=1))
        if len(proposing) == 0:
            break
        first = open_sorted[proposing].argmax(axis=1)
        worker = order[proposing, first]
        if priority is None:
            rank = np.lexsort((tie[proposing, worker], -score[proposing, worker]))
        else:
            rank = np.lexsort((row_tie[proposing], -priority[proposing]))
        proposing, worker = proposing[rank], worker[rank]
        cut = min(_first_overflow(worker, capacity), left)
        accepted, accepted_workers = proposing[:cut], worker[:cut]
        free[accepted] = False
        np.subtract.at(capacity, accepted_workers, 1)
        chosen_rows.append(accepted)
        chosen_workers.append(accepted_workers)
        left -= cut
    if not chosen_rows:  # no worker with capacity has a valid pair
        return _no_pairs()
    return np.concatenate(chosen_rows), np.concatenate(chosen_workers).astype(np.int64)


def _check_shapes(scores_N_M: np.ndarray, valid_N_M: np.ndarray, capacity_M: np.ndarray) -> None:
    n, m = scores_N_M.shape
    if valid_N_M.shape != (n, m) or capacity_M.shape != (m,):
        raise ValueError(f"valid {valid_N_M.shape} and capacity {capacity_M.shape} must match scores {(n, m)}")


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _first_overflow(worker_seq: np.ndarray, capacity_M: np.ndarray) -> int:
    """Position of the first proposal whose worker has no capacity left after the earlier ones."""
    position = np.arange(len(worker_seq))
    by_worker = np.lexsort((position, worker_seq))
    sorted_w = worker_seq[by_worker]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_w)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_w)]))
    occurrence = np.empty(len(worker_seq), dtype=np.int64)
    occurrence[by_worker] = np.arange(len(sorted_w)) - run_start
    over = occurrence >= capacity_M[worker_seq]
    return int(np.argmax(over)) if over.any() else len(worker_seq)


def greedy_select_reference(
    scores_N_M: np.ndarray,
    valid_N_M: np.ndarray,
    capacity_M: np.ndarray,
    batch_size: int,
    tie_N_M: np.ndarray,
) -> list[tuple[int, int]]:
    """The sequential definition, pair by pair (slow; for tests): descending score, then tie key."""
    pairs = [(i, j) for i, j in zip(*np.nonzero(valid_N_M))]
    pairs.sort(key=lambda p: (-scores_N_M[p], tie_N_M[p]))
    capacity = capacity_M.copy()
    taken: set[int] = set()
    out = []
    for i, j in pairs:
        if len(out) == batch_size:
            break
        if i in taken or capacity[j] <= 0:
            continue
        out.append((int(i), int(j)))
        taken.add(i)
        capacity[j] -= 1
    return out


def matching_select(
    scores_N_M: np.ndarray,
    valid_N_M: np.ndarray,
    capacity_M: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The `batch_size` pairs (or as many as the constraints allow) of the largest total score,
    each image at most once and worker j at most capacity_j times: a max-weight b-matching with a
    cardinality, where the greedy rule is a 1/2-approximation (the "optimal instead of
    greedy batch assignment"). Returned in descending score, ties in a seeded random order.

    Solved as one rectangular assignment (``scipy.optimize.linear_sum_assignment``): a row per
    worker slot (min(capacity_j, B) of them, S in all), a column per candidate image, and S - B
    "idle" columns worth more than any set of pairs, so an optimum fills every idle column and
    leaves exactly B slots to images. Candidates: the images in some worker's top B, enough,
    since an image that B others outrank for its worker can be swapped for an unused one of them.
    """
    from scipy.optimize import linear_sum_assignment

    _check_shapes(scores_N_M, valid_N_M, capacity_M)
    n, m = scores_N_M.shape
    slots = np.minimum(capacity_M.astype(np.int64), batch_size).clip(min=0)
    valid = valid_N_M & (slots > 0)[None, :]
    if batch_size <= 0 or not valid.any():
        return _no_pairs()
    score = np.where(valid, scores_N_M.astype(np.float64), -np.inf)
    top = min(batch_size, n)
    best_rows = np.argpartition(-score, top - 1, axis=0)[:top] if top < n else np.arange(n)[:, None]
    candidates = np.unique(best_rows)
    candidates = candidates[valid[candidates].any(axis=1)]
    candidates = candidates[rng.permutation(len(candidates))]  # ties: a seeded order, never by index
    slot_worker = np.repeat(np.arange(m), slots)
    weight = score[candidates][:, slot_worker].T  # [S, C]
    finite = np.isfinite(weight)
    spread = float(np.abs(weight[finite]).sum()) + 1.0
    n_idle = max(len(slot_worker) - batch_size, 0)
    weight = np.where(finite, weight, -2.0 * spread * (batch_size + 1))  # never worth taking
    cost = -np.concatenate([weight, np.full((len(slot_worker), n_idle), 2.0 * spread)], axis=1)
    slot_rows, cols = linear_sum_assignment(cost)
    keep = cols < len(candidates)
    slot_rows, cols = slot_rows[keep], cols[keep]
    keep = finite[slot_rows, cols]
    images, workers = candidates[cols[keep]], slot_worker[slot_rows[keep]]
    picked = score[images, workers]
    order = np.lexsort((rng.random(len(images)), -picked))
    return images[order].astype(np.int64), workers[order].astype(np.int64)


# Assignment rules: how a sampler turns its pair scores ([N, M], -inf where not scored; None for a
# sampler without scores) into a batch under the step's constraints. `method` picks one;
# `acquisition.assignment` swaps `greedy` for `matching`.
Assignment = Callable[[np.ndarray | None, Candidates, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def by_score(scores_N_M: np.ndarray, candidates: Candidates, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`greedy`: pairs in descending score under the constraints (`greedy_select`)."""
    return greedy_select(scores_N_M, candidates.valid_N_M, candidates.capacity_M, candidates.batch_size, rng)


def by_matching(scores_N_M: np.ndarray, candidates: Candidates,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`matching`: the B pairs of the largest total score under the constraints (`matching_select`)."""
    return matching_select(scores_N_M, candidates.valid_N_M, candidates.capacity_M, candidates.batch_size, rng)


def random_images(scores_N_M: np.ndarray | None, candidates: Candidates,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eligible images in a uniformly random order, each given its best valid worker by score (a
    random one without scores): SS and Rand-I+Greedy-W."""
    n, m = candidates.asked_N_M.shape
    priority = rng.random(n)
    scores = np.zeros((n, m)) if scores_N_M is None else scores_N_M
    return greedy_select(scores, candidates.valid_N_M, candidates.capacity_M, candidates.batch_size, rng,
                         image_priority_N=priority)


@dataclass(frozen=True)
class PowerOrder:
    """PowerBALD's order: images drawn without replacement with probability proportional to their
    best pair's score to the power `beta` (Gumbel-top-k, `power_priorities`), each given its best
    valid worker by score.

    Why. Top-B by score asks B near-copies of one question when the images the model is most unsure
    about are unsure for the same reason; BatchBALD's joint information of such a batch is far below
    the sum. Kirsch et al. (2023, "Stochastic Batch Acquisition", TMLR) show that sampling the batch
    with p_i proportional to s_i^beta matches BatchBALD at top-k's cost. beta -> infinity is the
    score's own image ranking; beta = 0 random images with the score's worker choice; beta = 1
    (`acquisition.power_beta`) is Kirsch et al.'s default.
    """

    beta: float = 1.0

    def __call__(self, scores_N_M: np.ndarray, candidates: Candidates,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        valid = candidates.valid_N_M
        rows = np.flatnonzero(valid.any(axis=1))
        priority = np.full(len(scores_N_M), -np.inf)
        priority[rows] = power_priorities(np.where(valid[rows], scores_N_M[rows], -np.inf).max(axis=1), self.beta, rng)
        return greedy_select(scores_N_M, valid, candidates.capacity_M, candidates.batch_size, rng,
                             image_priority_N=priority)


def power_priorities(scores: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
    """beta log s + Gumbel noise: the order of a draw without replacement with p proportional to s^beta
    (Gumbel-top-k, Kool et al. 2019). Scores at or below 0 get the smallest positive float's log
    (they come last unless every score is 0, and then the order is uniform)."""
    gumbel = -np.log(-np.log(rng.random(len(scores)).clip(np.finfo(float).tiny, 1.0)))
    log_s = np.log(np.maximum(scores, np.finfo(float).tiny))
    return beta * log_s + gumbel


ASSIGNMENTS: dict[str, Assignment] = {"greedy": by_score, "matching": by_matching, "random_images": random_images}


@dataclass(frozen=True)
class PerCost:
    """An assignment rule that ranks by score per unit of money (`acquisition.per_cost`): s_ij / c_j,
    what asking worker j about image i is expected to gain per unit of what j's answer costs (c_j:
    `Candidates.cost_M`; without prices, the scores as they are). The one place a price meets a
    ranking, so it holds for every rule alike: greedy and matching take pairs by it, Rand-I+Greedy-W
    gives each image its best worker by it, PowerBALD draws images by their best pair's. Scores are
    expected gains, >= 0 (every pair score of labald is): a negative score divided by a larger price
    would rank higher."""

    assignment: Assignment

    def __call__(self, scores_N_M: np.ndarray | None, candidates: Candidates,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if scores_N_M is not None and candidates.cost_M is not None:
            scores_N_M = per_cost(scores_N_M, candidates.cost_M)
        return self.assignment(scores_N_M, candidates, rng)


def per_cost(scores_N_M: np.ndarray, cost_M: np.ndarray) -> np.ndarray:
    """[N, M] s_ij / c_j; unscored pairs (-inf) stay unscored."""
    cost_M = np.asarray(cost_M, dtype=np.float64)
    if cost_M.shape != (scores_N_M.shape[1],) or not (cost_M > 0).all():
        raise ValueError(f"costs {cost_M.shape} must be positive, one per worker of scores {scores_N_M.shape}")
    return scores_N_M / cost_M[None, :]
