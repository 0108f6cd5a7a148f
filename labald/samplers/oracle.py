"""A simulation's reference point: the pair score of a sampler that knows every image's true label and
every worker's true confusion matrix (`method=oracle`). A real campaign knows neither; the oracle
tells how much room a sampler has on the same instrument, not what one can reach.

The score is the expected rise in the posterior probability of the image's true label y_i when
worker j answers, with the answer drawn from j's true confusion row C_j[y_i, .] and the posterior
updated the way EM will update it, with its estimate What_j:

    g_ij = sum_z C_j[y_i, z] q'_i(y_i | z) - q_i(y_i),   q'_i(y | z) = q_i(y) What_j[y, z] / p_ij(z),

with p_ij(z) = sum_y q_i(y) What_j[y, z] and q_i EM's posterior (the model's prior times the answers
so far). It asks, greedily by score, the pairs whose answer is expected to move the labels toward
the truth the most: images the beliefs get wrong or are unsure of, with the workers who are right on
their true class and whose answers EM trusts. It knows the labels and skills, not the answers (the
world's draws), and looks one answer ahead: it bounds what knowing the truth buys a myopic sampler,
not every sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from labald.samplers.base import Beliefs
from labald.samplers.pair_scores import PairScores, ScoreOptions


@dataclass(frozen=True, eq=False)
class TruthGain:
    """The oracle's pair score (module docstring): a PairScore that holds the truth it was given.
    true_labels_N: [N] int; true_confusions_M_K_K: [M, K, K], rows the true class."""

    true_labels_N: np.ndarray
    true_confusions_M_K_K: np.ndarray

    def __call__(self, beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray,
                 options: ScoreOptions) -> PairScores:
        return PairScores(rows, truth_gain(beliefs.posterior_N_K[rows], self.true_labels_N[rows],
                                           confusions_M_K_K, self.true_confusions_M_K_K, options.chunk))


def truth_gain(posterior_R_K: np.ndarray, labels_R: np.ndarray, estimate_M_K_K: np.ndarray,
               true_M_K_K: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """[R, M]: g_ij of the module docstring for images with posteriors q [R, K] and true labels y [R],
    EM's confusions What [M, K, K] and the true ones C [M, K, K]; blocks of `chunk` images."""
    q = torch.as_tensor(posterior_R_K, dtype=torch.float64)
    y = torch.as_tensor(labels_R, dtype=torch.int64)
    w = torch.as_tensor(estimate_M_K_K, dtype=torch.float64)
    c = torch.as_tensor(true_M_K_K, dtype=torch.float64)
    out = torch.empty(len(q), len(w), dtype=torch.float64)
    for c0 in range(0, len(q), chunk):
        q_b, y_b = q[c0:c0 + chunk], y[c0:c0 + chunk]
        evidence_b_M_Z = torch.einsum("bk,mkz->bmz", q_b, w)  # sum_y q(y) What[y, z]
        q_true_b = q_b.gather(1, y_b[:, None])  # q(y_i): [b, 1]
        w_true_b_M_Z = w[:, y_b].transpose(0, 1)  # What_j[y_i, z]: [b, M, Z]
        c_true_b_M_Z = c[:, y_b].transpose(0, 1)  # C_j[y_i, z]
        after = q_true_b[:, :, None] * w_true_b_M_Z / evidence_b_M_Z.clamp_min(1e-300)
        out[c0:c0 + chunk] = (c_true_b_M_Z * after).sum(-1) - q_true_b
    return out.numpy()
