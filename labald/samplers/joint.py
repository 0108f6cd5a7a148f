"""Joint image-worker samplers ranked by information gain (SPEC 5): J-BALD and LA-BALD."""

from __future__ import annotations

import time

import numpy as np
import torch

from labald.acquisition import annotation_posterior, influence_scores, top_k_jaccard
from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.selection import greedy_select

JACCARD_TOP = 50  # appendix B.1 compares the top-50 pair sets


class JointSampler:
    """Rank every valid pair by its score and take them greedily under the constraints.

    `j_bald` ranks by the global influence G_ij = I(z_ij; theta); `la_bald` by G_ij + L_ij with the
    local influence in the paper's Proposition 2 form (or `local="exact"`). Scores are computed
    only for images that still have a valid pair.
    """

    def __init__(self, name: str, local: str = "paper", chunk: int = 2048, jaccard_ties: str = "random"):
        self.name, self.local, self.chunk, self.jaccard_ties = name, local, chunk, jaccard_ties

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        valid = candidates.valid_N_M
        rows = np.flatnonzero(valid.any(axis=1))
        probs_T_R_K = _annotation_posteriors(beliefs, rows)  # on the learner's device
        confusions = torch.from_numpy(beliefs.confusions_M_K_K).to(probs_T_R_K)
        scores = influence_scores(probs_T_R_K, confusions, self.chunk)
        local = scores.local_paper_N_M if self.local == "paper" else scores.local_exact_N_M
        la = scores.global_N_M + local
        ranked = (la if self.name == "la_bald" else scores.global_N_M).double().cpu()
        scored = time.perf_counter()
        valid_rows = torch.from_numpy(valid[rows]).to(la.device)
        ties = None
        if self.jaccard_ties == "random":  # a child stream: the selection below draws what it drew before
            ties = torch.Generator().manual_seed(int(rng.spawn(1)[0].integers(2**62)))
        extra = {
            "jaccard_la_global": top_k_jaccard(la, scores.global_N_M, JACCARD_TOP, valid_rows, ties),
            "jaccard_la_local": top_k_jaccard(la, local, JACCARD_TOP, valid_rows, ties),
            "jaccard_global_local": top_k_jaccard(scores.global_N_M, local, JACCARD_TOP, valid_rows, ties),
        }
        full = np.full(valid.shape, -np.inf)
        full[rows] = ranked.numpy()
        picked = time.perf_counter()
        images, workers = greedy_select(full, valid, candidates.capacity_M, candidates.batch_size, rng)
        return Selection(
            images, workers, full[images, workers],
            seconds_scoring=scored - start,
            seconds_selection=time.perf_counter() - picked,
            extra=extra,
        )


def _annotation_posteriors(beliefs: Beliefs, rows: np.ndarray) -> torch.Tensor:
    """q_t for the given images, [T, R, K]: each MC prediction times the image's answer likelihood.

    Without a learner there is a single sample, the EM posterior itself.
    """
    if beliefs.mc_probs_T_N_K is None:
        return torch.from_numpy(beliefs.posterior_N_K[rows]).float()[None]
    mc = beliefs.mc_probs_T_N_K[:, torch.from_numpy(rows).to(beliefs.mc_probs_T_N_K.device)]
    return annotation_posterior(mc, torch.from_numpy(beliefs.log_likelihood_N_K[rows]))
