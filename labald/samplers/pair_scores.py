"""Pair scores: how much asking worker j about image i is worth (SPEC 5), one function each.

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

from labald.acquisition import annotation_posterior, expected_accuracy_gain, influence_scores
from labald.samplers.base import Beliefs


@dataclass(frozen=True)
class ScoreOptions:
    """What changes how a score is computed: the local influence's form and the images per block."""

    local: str = "paper"  # paper (Prop. 2) | exact mutual information
    chunk: int = 2048


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
# scores whose parts are the global and local influence (the Jaccard columns of metrics.csv)
INFLUENCE_SCORES = ("j_bald", "la_bald")


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


def _influence(beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray, options: ScoreOptions,
               with_local: bool) -> PairScores:
    probs_T_R_K = annotation_posteriors(beliefs, rows)
    scores = influence_scores(probs_T_R_K, torch.from_numpy(confusions_M_K_K).to(probs_T_R_K), options.chunk)
    local = scores.local_paper_N_M if options.local == "paper" else scores.local_exact_N_M
    ranking = scores.global_N_M + local if with_local else scores.global_N_M
    return PairScores(rows, ranking, {"global": scores.global_N_M, "local": local})


def annotation_posteriors(beliefs: Beliefs, rows: np.ndarray) -> torch.Tensor:
    """q_t for the given images, [T, R, K]: each MC prediction times the image's answer likelihood.

    Without a learner there is a single sample, the EM posterior itself.
    """
    if beliefs.mc is None:
        return torch.from_numpy(beliefs.posterior_N_K[rows]).float()[None]
    return annotation_posterior(beliefs.mc.take(rows), torch.from_numpy(beliefs.log_likelihood_N_K[rows]))
