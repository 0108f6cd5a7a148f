"""The package's samplers as compositions: a pair score x a worker-skill model x an
assignment rule, each a small named object.

- The pair score (`labald.samplers.pair_scores`) rates every valid pair from the beliefs: J-BALD's
  global influence, LA-BALD's global + local influence, EAG's expected accuracy gain, Liao et al.'s
  expected accuracy; SS has none.
- The worker-skill model (`labald.samplers.skill`) gives the confusions the score reads: EM's What,
  one-coin skills learned from the answers, or the simulated crew's true skills.
- The assignment rule (`labald.samplers.selection`) turns scores into a batch under the constraints:
  pairs greedily by score, a max-weight matching, random images each with its best worker, or
  PowerBALD's stochastic image order; with `per_cost`, any of them on score per unit of money
  (`PerCost`).

`labald.methods` says which score, assignment and skill model each built-in method is; any other
registered pair score is a method that takes its pairs by score. Batch diagnostics (the Jaccard
overlaps of the top pairs) are not the sampler's business: the loop's observers read the scores'
parts afterwards.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from labald.acquisition import influence_ranking
from labald.methods import BY_NAME, NAMES, parts
from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.observers import JACCARD_TOP
from labald.samplers.pair_scores import (
    BOUNDED_SCORES,
    PAIR_SCORES,
    InfluenceBound,
    PairScore,
    ScoreOptions,
)
from labald.samplers.selection import ASSIGNMENTS, Assignment, PerCost, PowerOrder
from labald.samplers.skill import EMSkill, SkillModel


def methods() -> tuple[str, ...]:
    """Every built-in method: the registry's (`labald.methods`), then any other registered pair score."""
    return (*NAMES, *(name for name in PAIR_SCORES if name not in BY_NAME))


@dataclass(frozen=True, eq=False)
class ComposedSampler:
    """Score the pairs of the images that still have a valid pair with the skill model's confusions,
    then let the assignment rule take the batch. The Selection carries the scores for observers."""

    name: str
    score: PairScore | None
    assignment: Assignment
    skill: SkillModel = EMSkill()
    options: ScoreOptions = ScoreOptions()

    # with_local of the bounded score when the batch is found by pruning (`pruned_greedy`), else None
    pruning: bool | None = None

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        if self.pruning is not None:
            return pruned_greedy(self, candidates, beliefs, rng, start)
        scored, full = None, None
        if self.score is not None:
            valid = candidates.valid_N_M
            rows = np.flatnonzero(valid.any(axis=1))
            scored = self.score(beliefs, rows, self.skill.confusions(beliefs), self.options)
            full = scored.full(valid.shape)
        picked = time.perf_counter()
        images, workers = self.assignment(full, candidates, rng)
        return Selection(images, workers, None if full is None else full[images, workers],
                         seconds_scoring=picked - start if scored is not None else 0.0,
                         seconds_selection=time.perf_counter() - picked, pair_scores=scored)


MIN_MORE = 128  # images scored at least per round after the first (fewer rounds of selection)


def pruned_greedy(sampler: ComposedSampler, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator,
                  start: float) -> Selection:
    """The greedy batch of a bounded score (J-BALD, LA-BALD) with exact scores for only as many images
    as it takes: the same batch, and the same top JACCARD_TOP pairs of the ranking and of the global
    part, as scoring every image.

    Images are scored in descending order of their best pair's upper bound (`InfluenceBound`), the
    first max(2B, 256) of them, then more (up to the last image whose bound still reaches the batch, at
    least MIN_MORE, at most doubling), until the greedy batch over them is full, every unscored pair's
    bound is below the score at which the scan would have rejected it (`_reachable`),
    and the JACCARD_TOP-th best scored pair of the global part, and of global plus local (LA-BALD's
    ranking; J-BALD ranks by the global part), exceeds every unscored bound of the same: then no
    unscored pair could have been taken or ranked there, since the greedy rule takes pairs in
    descending score. Unscored images stay in the pool at -inf, so the selection's random
    tie-breaks draw exactly what a full scoring draws.
    """
    valid = candidates.valid_N_M
    rows = np.flatnonzero(valid.any(axis=1))
    bound = InfluenceBound(beliefs, rows, sampler.skill.confusions(beliefs), sampler.options, sampler.pruning)
    valid_rows = valid[rows]
    image_bound = np.where(valid_rows, bound.bound_R_M, -np.inf).max(axis=1, initial=-np.inf)
    global_bound = np.where(valid_rows, bound.global_bound_R_M, -np.inf).max(axis=1, initial=-np.inf)
    local = bound.local_np_R_M
    both_bound = image_bound if sampler.pruning else \
        np.where(valid_rows, bound.both_bound_R_M, -np.inf).max(axis=1, initial=-np.inf)
    order = np.argsort(-image_bound, kind="stable")
    done, k = 0, min(len(rows), max(2 * candidates.batch_size, 256))
    while True:
        scored = bound.score(order[done:k])  # only the images not scored yet
        done = k
        full = scored.full(valid.shape)
        trial = copy.deepcopy(rng)
        picked = time.perf_counter()
        images, workers = sampler.assignment(full, candidates, trial)
        if k == len(rows):
            break
        unscored, done_rows = order[k:], order[:k]
        reach = _reachable(full[images, workers], workers, candidates, bound.bound_R_M[unscored], valid_rows[unscored])
        global_done = _rows_of(scored.parts["global"], done_rows)
        valid_done = valid_rows[done_rows]
        if (not reach.any()
                and _kth(global_done, valid_done, JACCARD_TOP) > global_bound[unscored].max()
                and _kth(influence_ranking(global_done, local[done_rows]), valid_done, JACCARD_TOP)
                > both_bound[unscored].max()):
            break
        # next: up to the last image that could still enter (at least MIN_MORE more), at most twice as many
        need = int(np.flatnonzero(reach)[-1]) + 1 if reach.any() else k
        k = min(len(rows), k + min(max(need, MIN_MORE), k))
    rng.bit_generator.state = trial.bit_generator.state  # the caller's stream moves on as the selection drew
    return Selection(images, workers, full[images, workers], seconds_scoring=picked - start,
                     seconds_selection=time.perf_counter() - picked, pair_scores=scored,
                     extra={"scored_images": float(k)})


def _reachable(chosen: np.ndarray, workers: np.ndarray, candidates: Candidates, bound_U_M: np.ndarray,
               valid_U_M: np.ndarray) -> np.ndarray:
    """[U]: which unscored images could still enter the greedy batch (all of them while it is not
    full): those with a valid pair whose bound reaches its worker's threshold, the score of the pair
    that filled the worker (the sequential scan rejects every later pair of a full worker), else the
    batch's lowest score (the scan stops there)."""
    if len(chosen) < candidates.batch_size:
        return np.ones(len(bound_U_M), dtype=bool)
    threshold_M = np.full(len(candidates.capacity_M), chosen.min())
    filled = np.bincount(workers, minlength=len(threshold_M)) >= candidates.capacity_M
    for j in np.flatnonzero(filled):  # its last pair in selection order, which is descending score
        threshold_M[j] = chosen[workers == j].min()
    return (valid_U_M & (bound_U_M >= threshold_M[None, :])).any(axis=1)


def _rows_of(values_R_M: torch.Tensor, positions: np.ndarray) -> np.ndarray:
    """The given rows of a score tensor as float64 numpy."""
    index = torch.as_tensor(positions, dtype=torch.int64, device=values_R_M.device)
    return values_R_M.index_select(0, index).double().cpu().numpy()


def _kth(scores_R_M: np.ndarray, valid_R_M: np.ndarray, k: int) -> float:
    """The k-th largest valid score (-inf with fewer than k valid pairs)."""
    values = scores_R_M[valid_R_M]
    return -np.inf if len(values) < k else float(np.partition(values, len(values) - k)[len(values) - k])


def compose(method: str, skill: SkillModel | None = None, assignment: str = "greedy",
            options: ScoreOptions | None = None, power_beta: float = 1.0,
            score_function: PairScore | None = None, per_cost: bool = False) -> ComposedSampler:
    """The built-in `method` with a skill model (EM's What by default) and, for a method that takes
    its pairs by score, `assignment` (greedy or matching). `score_function` replaces the registered
    pair score (the oracle's, which holds the simulation's truth). `per_cost`: rank by score per unit
    of money (`PerCost`); every image is then scored, since the pruning bounds are the score's."""
    score, rule = parts(method)
    if score_function is None and score is not None and score not in PAIR_SCORES:
        raise ValueError(f"method={method} needs its pair score given (score_function)")
    if rule == "greedy":
        rule = assignment
    options = options or ScoreOptions()
    chosen = PowerOrder(power_beta) if rule == "power" else ASSIGNMENTS[rule]
    if per_cost and score is not None:
        chosen = PerCost(chosen)
    pruning = None
    if rule == "greedy" and score in BOUNDED_SCORES and options.local == "paper" and options.prune and not per_cost:
        pruning = BOUNDED_SCORES[score]
    function = score_function or (None if score is None else PAIR_SCORES[score])
    return ComposedSampler(method, function, chosen, skill=skill or EMSkill(), options=options, pruning=pruning)
