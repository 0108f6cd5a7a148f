"""Pair scores: how much asking worker j about image i is worth, one function each.

A pair score takes the beliefs, the images still worth scoring (`rows`, those with a valid pair)
and the worker confusions the skill model hands it, and returns the scores of those images' pairs,
[R, M] (higher is asked first), with any named parts a batch observer may read. A new score is one
function here, registered with `@pair_score("name")`, plus `configs/method/<name>.yaml` holding
`name: <name>`: it then runs as `method=<name>`, takes pairs greedily by score under the constraints
(or `acquisition.assignment=matching`), scores with any `acquisition.worker_skill`, and appears in
figures and tables under its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from labald.acquisition import (
    annotation_posterior,
    expected_accuracy_gain,
    expected_brier_gain,
    expected_truth_gain,
    influence_ranking,
    influence_scores,
    local_influence,
)
from labald.samplers.base import Beliefs


@dataclass(frozen=True)
class ScoreOptions:
    """What changes how a score is computed: the local influence's form and the images per block."""

    local: str = "paper"  # paper (Prop. 2) | exact mutual information
    chunk: int = 2048
    prune: bool = True  # greedy J-BALD / LA-BALD score only the images that can matter (`InfluenceBound`)


@dataclass(frozen=True)
class PairScores:
    """Scores of the pairs of the pool images `rows` [R], `ranking` [R, M], and named parts of it
    (each [R, M]) for observers, e.g. LA-BALD's `global` and `local` influence."""

    rows: np.ndarray
    ranking: torch.Tensor | np.ndarray
    parts: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The ranking as a float64 [N, M] pool matrix, -inf for images not scored."""
        out = np.full(shape, -np.inf)
        ranking = self.ranking
        out[self.rows] = ranking.double().cpu().numpy() if isinstance(ranking, torch.Tensor) else ranking
        return out


PairScore = Callable[[Beliefs, np.ndarray, np.ndarray, ScoreOptions], PairScores]
PAIR_SCORES: dict[str, PairScore] = {}


def pair_score(name: str) -> Callable[[PairScore], PairScore]:
    """Register a pair score under `name` (the `method` that ranks pairs by it)."""

    def register(score: PairScore) -> PairScore:
        PAIR_SCORES[name] = score
        return score

    return register


@pair_score("rand_i_greedy_w")
def expected_accuracy(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray,
                      options: ScoreOptions) -> PairScores:
    """Liao et al.'s greedy worker choice: the chance that j's answer on i is right under the
    beliefs, sum_y q_i(y) W_j[y, y] (EM's posterior q)."""
    diag_M_K = np.diagonal(confusions_M_K_K, axis1=1, axis2=2)
    return PairScores(rows, beliefs.posterior_N_K[rows] @ diag_M_K.T)


@pair_score("j_bald")
def j_bald(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions) -> PairScores:
    """Global influence G_ij = I(z_ij; theta): what an answer tells about the model (J-BALD).
    Its local part is computed alongside (a fraction of the cost) for the Jaccard diagnostics."""
    return _influence(beliefs, rows, confusions_M_K_K, options, with_local=False)


@pair_score("la_bald")
def la_bald(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions) -> PairScores:
    """G_ij + L_ij: global plus local influence I(z_ij; y_i | theta), in the paper's Proposition 2
    form or exact (`options.local`): what an answer tells about the model and the image's label."""
    return _influence(beliefs, rows, confusions_M_K_K, options, with_local=True)


@pair_score("eag")
def eag(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions) -> PairScores:
    """g_ij = E_z[max_y q'_i(y | z)] - max_y q_i(y): the expected rise in the chance that image i's
    label is right after j answers (`labald.acquisition.gain`), on EM's posterior, which holds the
    model's calibrated prediction as prior and the answers so far."""
    gain = expected_accuracy_gain(torch.from_numpy(beliefs.posterior_N_K[rows]), torch.from_numpy(confusions_M_K_K),
                                  options.chunk)
    return PairScores(rows, gain)


@pair_score("elr")
def elr(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions) -> PairScores:
    """Expected label-error reduction, in the Brier score: g_ij = E_z[sum_y q'_i(y | z)^2] - sum_y q_i(y)^2
    (`labald.acquisition.expected_brier_gain`), on EM's posterior q (the model's prediction as prior,
    the answers so far). It is the truth-knowing oracle's score (`labald.samplers.oracle`) with the
    unknown true label y_i and true confusions replaced by the beliefs: sum_y q_i(y) [sum_z What_j[y, z]
    q'_i(y | z) - q_i(y)].

    With a skill model other than EM's What (`acquisition.worker_skill`), its confusions C say how
    workers answer and so what the label is: y_i ~ r_i, the posterior of the same prior and answers
    under C (`skill_posterior`), z ~ C_j[y, .], and the update stays EM's (What), since EM makes it:
    g_ij = sum_y r_i(y) [sum_z C_j[y, z] q'_i(y | z) - q_i(y)] (`labald.acquisition.expected_truth_gain`).
    """
    em_M_K_K = beliefs.confusions_M_K_K
    posterior = torch.from_numpy(beliefs.posterior_N_K[rows])
    if confusions_M_K_K is em_M_K_K:
        return PairScores(rows, expected_brier_gain(posterior, torch.from_numpy(em_M_K_K), options.chunk))
    belief = torch.from_numpy(skill_posterior(beliefs, rows, confusions_M_K_K))
    gain = expected_truth_gain(posterior, belief, torch.from_numpy(em_M_K_K), torch.from_numpy(confusions_M_K_K),
                               options.chunk)
    return PairScores(rows, gain)


def skill_posterior(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray) -> np.ndarray:
    """[R, K]: the label's posterior for the images `rows` under the confusions C of a skill model:
    the prior EM used (its posterior with the answers' likelihood under What divided out) times each
    answer's C_j[., z]. With C = What it is EM's posterior."""
    tiny = np.finfo(np.float64).tiny
    log_r = (np.log(np.maximum(beliefs.posterior_N_K[rows].astype(np.float64), tiny))
             - beliefs.log_likelihood_N_K[rows].astype(np.float64))
    image, worker, label = beliefs.answers
    position = np.full(len(beliefs.posterior_N_K), -1)
    position[rows] = np.arange(len(rows))
    keep = position[image] >= 0
    np.add.at(log_r, position[image[keep]],
              np.log(np.maximum(confusions_M_K_K[worker[keep], :, label[keep]].astype(np.float64), tiny)))
    log_r -= log_r.max(axis=1, keepdims=True)
    r = np.exp(log_r)
    return r / r.sum(axis=1, keepdims=True)


def _influence(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions,
               with_local: bool) -> PairScores:
    probs_T_R_K = annotation_posteriors(beliefs, rows)
    scores = influence_scores(probs_T_R_K, torch.from_numpy(confusions_M_K_K).to(probs_T_R_K), options.chunk)
    local = scores.local_paper_N_M if options.local == "paper" else scores.local_exact_N_M
    return PairScores(rows, influence_ranking(scores.global_N_M, local, with_local),
                      {"global": scores.global_N_M, "local": local})


# Scores whose greedy batch can be found without scoring every image (`InfluenceBound`).
BOUNDED_SCORES = {"j_bald": False, "la_bald": True}  # name -> whether the local term is added
BOUND_MARGIN = 1e-4  # nats: float32 rounding of scores and bounds (~1e-6) stays far below it


class InfluenceBound:
    """Upper bounds of J-BALD's and LA-BALD's pair scores that cost no pass over the workers, and
    the exact scores of any subset of the images, from one set of annotation posteriors.

    The global influence cannot exceed what the answer's source, the label, tells about the model:
    theta -> y_i -> z_ij is a Markov chain, and the strong data-processing inequality gives

        G_ij = I(z_ij; theta) <= eta(W_j) I(y_i; theta) <= delta(W_j) BALD_i,

    with BALD_i = H[mean_t q_t(i, .)] - mean_t H[q_t(i, .)] (O(T K) per image, where G is O(T M K^2))
    and delta(W) = max_{y, y'} TV(W[y, .], W[y', .]) <= 1, Dobrushin's coefficient, which bounds the
    KL contraction coefficient eta (Raginsky 2016, "Strong data processing inequalities and
    Phi-Sobolev inequalities for discrete channels"). LA-BALD adds the paper-form local term L_ij,
    linear in the mean posterior and computed exactly for every pair (`local_influence`).
    """

    def __init__(self, beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions,
                 with_local: bool):
        self.rows, self.options, self.with_local = rows, options, with_local
        self.probs_T_R_K = annotation_posteriors(beliefs, rows)
        self.confusions = torch.from_numpy(confusions_M_K_K).to(self.probs_T_R_K)
        self.local_R_M = local_influence(self.probs_T_R_K, self.confusions, "paper", options.chunk)
        bald_R = _bald(self.probs_T_R_K, options.chunk)
        w = confusions_M_K_K.astype(np.float64)
        dobrushin_M = 0.5 * np.abs(w[:, :, None, :] - w[:, None, :, :]).sum(-1).max(axis=(1, 2))
        self.global_bound_R_M = bald_R[:, None] * np.minimum(dobrushin_M, 1.0)[None, :] + BOUND_MARGIN
        self.local_np_R_M = self.local_R_M.double().cpu().numpy()
        # bounds of global plus local influence (LA-BALD's ranking), and of the score ranked by
        self.both_bound_R_M = influence_ranking(self.global_bound_R_M, self.local_np_R_M)
        self.bound_R_M = self.both_bound_R_M if with_local else self.global_bound_R_M

        self.global_R_M = self.local_R_M.new_full(self.local_R_M.shape, -torch.inf)  # -inf: not scored yet

    def score(self, subset: np.ndarray) -> PairScores:
        """Exact scores for the images `subset` (positions in `rows`) too, and all exact scores so far
        with their global and local parts; images never scored are -inf in the ranking and the global
        part (the local part is exact everywhere). A scored image's ranking is the full pass's."""
        if len(subset):
            index = torch.as_tensor(subset, dtype=torch.int64, device=self.probs_T_R_K.device)
            scores = influence_scores(self.probs_T_R_K.index_select(1, index), self.confusions, self.options.chunk)
            self.global_R_M[index] = scores.global_N_M
        ranking = influence_ranking(self.global_R_M, self.local_R_M, self.with_local)
        return PairScores(self.rows, ranking, {"global": self.global_R_M, "local": self.local_R_M})


def _bald(probs_T_R_K: torch.Tensor, chunk: int) -> np.ndarray:
    """[R]: I(y_i; theta) = H[mean_t q_t] - mean_t H[q_t] per image, in blocks of `chunk` (float32
    rounding, ~1e-6 nats, stays far below BOUND_MARGIN)."""
    out = np.empty(probs_T_R_K.shape[1])
    for c0 in range(0, len(out), chunk):
        q = probs_T_R_K[:, c0:c0 + chunk]
        mean = q.mean(0)
        entropy_of_mean = -torch.special.xlogy(mean, mean).sum(-1)
        mean_entropy = -torch.special.xlogy(q, q).sum(-1).mean(0)
        out[c0:c0 + chunk] = (entropy_of_mean - mean_entropy).clamp_min(0).double().cpu().numpy()
    return out


def annotation_posteriors(beliefs: Beliefs, rows: np.ndarray) -> torch.Tensor:
    """q_t for the given images, [T, R, K]: each MC prediction times the image's answer likelihood.

    Without a learner there is a single sample, the EM posterior itself.
    """
    if beliefs.mc is None:
        return torch.from_numpy(beliefs.posterior_N_K[rows]).float()[None]
    # `take` gathers a fresh copy of the learner's (checked) predictions: the posterior is built in it
    return annotation_posterior(beliefs.mc.take(rows), torch.from_numpy(beliefs.log_likelihood_N_K[rows]),
                                scratch=True)
