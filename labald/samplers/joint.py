"""Joint image-worker samplers ranked by information gain (SPEC 5): J-BALD and LA-BALD."""

from __future__ import annotations

import time

import numpy as np
import torch

from labald.acquisition import annotation_posterior, global_influence, influence_scores, jaccard, top_k_sets
from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.selection import greedy_select, matching_select
from labald.samplers.skill import skilled_confusions, worker_skills

JACCARD_TOP = 50  # appendix B.1 compares the top-50 pair sets


class JointSampler:
    """Rank every valid pair by its score and take them greedily under the constraints.

    `j_bald` ranks by the global influence G_ij = I(z_ij; theta); `la_bald` by G_ij + L_ij with the
    local influence in the paper's Proposition 2 form (or `local="exact"`). Scores are computed
    only for images that still have a valid pair. `assignment="matching"` takes the B pairs of the
    largest total score instead (``matching_select``: a max-weight b-matching under the constraints).
    `worker_skill="one_coin"` scores with What at each worker's skill learned from its answers
    (``labald.samplers.skill``) instead of EM's What, with one prior per group of `skill_groups_M`
    when given (known hired experts); `"oracle"` at the given `true_skill_M`.
    """

    def __init__(self, name: str, local: str = "paper", chunk: int = 2048, jaccard_ties: str = "random",
                 assignment: str = "greedy", worker_skill: str = "em", true_skill_M: np.ndarray | None = None,
                 skill_groups_M: np.ndarray | None = None):
        if worker_skill == "oracle" and true_skill_M is None:
            raise ValueError("worker_skill='oracle' needs true_skill_M")
        self.name, self.local, self.chunk, self.jaccard_ties = name, local, chunk, jaccard_ties
        self.assignment, self.worker_skill, self.true_skill_M = assignment, worker_skill, true_skill_M
        self.skill_groups_M = skill_groups_M

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        valid = candidates.valid_N_M
        rows = np.flatnonzero(valid.any(axis=1))
        probs_T_R_K, confusions_M_K_K = _scoring_inputs(beliefs, rows)
        skill_M = self._skills(beliefs)
        if skill_M is not None:
            confusions_M_K_K = torch.from_numpy(skilled_confusions(beliefs.confusions_M_K_K, skill_M)).to(probs_T_R_K)
        scores = influence_scores(probs_T_R_K, confusions_M_K_K, self.chunk)
        local = scores.local_paper_N_M if self.local == "paper" else scores.local_exact_N_M
        la = scores.global_N_M + local
        ranked = (la if self.name == "la_bald" else scores.global_N_M).double().cpu()
        scored = time.perf_counter()
        valid_rows = torch.from_numpy(valid[rows]).to(la.device)
        ties = None
        if self.jaccard_ties == "random":  # a child stream: the selection below draws what it drew before
            ties = torch.Generator().manual_seed(int(rng.spawn(1)[0].integers(2**62)))
        top_la, top_global, top_local = top_k_sets([la, scores.global_N_M, local], JACCARD_TOP, valid_rows, ties)
        extra = {
            "jaccard_la_global": jaccard(top_la, top_global),
            "jaccard_la_local": jaccard(top_la, top_local),
            "jaccard_global_local": jaccard(top_global, top_local),
        }
        full = np.full(valid.shape, -np.inf)
        full[rows] = ranked.numpy()
        picked = time.perf_counter()
        select = matching_select if self.assignment == "matching" else greedy_select
        images, workers = select(full, valid, candidates.capacity_M, candidates.batch_size, rng)
        return Selection(
            images, workers, full[images, workers],
            seconds_scoring=scored - start,
            seconds_selection=time.perf_counter() - picked,
            extra=extra,
        )

    def _skills(self, beliefs: Beliefs) -> np.ndarray | None:
        """[M] the skills the scores put on What's diagonals, or None to score with EM's What (also
        one_coin's answer before any answer, when What is the prior for every worker)."""
        if self.worker_skill == "one_coin":
            return worker_skills(beliefs, self.skill_groups_M)
        return self.true_skill_M if self.worker_skill == "oracle" else None


def _scoring_inputs(beliefs: Beliefs, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(q_t of the given images [T, R, K], What [M, K, K]), both on the learner's device: what the
    pair scores of `labald.acquisition.scores` take."""
    probs_T_R_K = _annotation_posteriors(beliefs, rows)
    return probs_T_R_K, torch.from_numpy(beliefs.confusions_M_K_K).to(probs_T_R_K)


def _annotation_posteriors(beliefs: Beliefs, rows: np.ndarray) -> torch.Tensor:
    """q_t for the given images, [T, R, K]: each MC prediction times the image's answer likelihood.

    Without a learner there is a single sample, the EM posterior itself.
    """
    if beliefs.mc is None:
        return torch.from_numpy(beliefs.posterior_N_K[rows]).float()[None]
    return annotation_posterior(beliefs.mc.take(rows), torch.from_numpy(beliefs.log_likelihood_N_K[rows]))


class PowerSampler:
    """PowerBALD over image-worker pairs: images drawn in proportion to a power of their
    best J-BALD score, each given its best available worker.

    Why. J-BALD takes the B pairs of highest G_ij = I(z_ij; theta) as if their information added up.
    It does not: the images the model is most unsure about are unsure for the same few reasons (one
    confusable class pair, one region of feature space), so a top-B batch asks B near-copies of one
    question, and BatchBALD's joint information of the batch is far below the sum. Kirsch et al.
    (2023, "Stochastic Batch Acquisition", TMLR) show that sampling the batch without replacement with
    probabilities p_i proportional to s_i^beta matches BatchBALD at top-k's cost: the scores still
    decide, but the batch spreads. Sampling B of N without replacement from p is the Gumbel-top-B
    trick: the B largest of beta log s_i + g_i, g_i ~ Gumbel(0, 1) i.i.d. (Kool et al. 2019).

    Here s_i = max_j G_ij over the workers still valid for image i (the most an answer on i can tell
    about theta), priorities beta log s_i + g_i order the images, and the constrained greedy selection
    of every sampler gives each image, in that order, its best available worker by G_ij (one pair
    per image, per-worker capacities). beta -> infinity is J-BALD's image ranking; beta = 0 is random
    images with J-BALD's worker choice. beta = 1 (`acquisition.power_beta`) is Kirsch et al.'s default.

    Measured (docs/research_notes.md, "Does LA-BALD beat J-BALD?", 4 subtasks x 5 seeds at 200 images per class): it
    needs 32.8% more annotations than J-BALD (ahead on 1 of 5 seeds) on the cold-start core; on the
    previous core 16.1% more (1 of 5), and 9.2% more with beta = 4 (2 of 5): the drawn images are
    more confident than J-BALD's top ones, and the top-B batch was not redundant enough for
    spreading to pay. Kept as an option.
    """

    name = "power_bald"

    def __init__(self, beta: float = 1.0, chunk: int = 2048):
        self.beta, self.chunk = beta, chunk

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        valid = candidates.valid_N_M
        rows = np.flatnonzero(valid.any(axis=1))
        scores = global_influence(*_scoring_inputs(beliefs, rows), self.chunk).double().cpu().numpy()
        full = np.full(valid.shape, -np.inf)
        full[rows] = np.where(valid[rows], scores, -np.inf)
        priority = np.full(len(full), -np.inf)
        priority[rows] = power_priorities(full[rows].max(axis=1), self.beta, rng)
        scored = time.perf_counter()
        images, workers = greedy_select(full, valid, candidates.capacity_M, candidates.batch_size, rng,
                                        image_priority_N=priority)
        return Selection(images, workers, full[images, workers], seconds_scoring=scored - start,
                         seconds_selection=time.perf_counter() - scored)


def power_priorities(scores: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
    """beta log s + Gumbel noise: the order of a draw without replacement with p proportional to s^beta
    (Gumbel-top-k). Scores at or below 0 get the smallest positive float's log (they come last unless
    every score is 0, and then the order is uniform)."""
    gumbel = -np.log(-np.log(rng.random(len(scores)).clip(np.finfo(float).tiny, 1.0)))
    log_s = np.log(np.maximum(scores, np.finfo(float).tiny))
    return beta * log_s + gumbel
