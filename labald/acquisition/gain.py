"""Expected accuracy gain of a pair: how much one answer is expected to raise the chance that the
image's label is right (the score of `method=eag`).

Derivation. Let q_i(y) be the current posterior of image i's label (EM's, the model's prediction as
prior) and W_j = What_j worker j's confusion (rows: true class, columns: answer). labald reports
argmax_y q_i(y), which is right with probability max_y q_i(y) under these beliefs. If worker j is
asked, they answer z with probability p(z | i, j) = sum_y q_i(y) W_j[y, z], and Bayes' rule (EM's
update with What held fixed) gives q'_i(y | z) = q_i(y) W_j[y, z] / p(z | i, j). The expected
probability of a right label after the answer is therefore

    E_z[ max_y q'_i(y | z) ] = sum_z p(z | i, j) max_y q_i(y) W_j[y, z] / p(z | i, j)
                             = sum_z max_y q_i(y) W_j[y, z],

and the pair's score is the gain  g_ij = sum_z max_y q_i(y) W_j[y, z] - max_y q_i(y) >= 0
(max is convex, so the expected posterior maximum never falls: Jensen). It is the one-step value of
information of the answer for the 0-1 loss of the label, in the currency the benchmarks count
(label accuracy per annotation), where BALD scores count nats. It is linear in q_i, so the MC
samples' mean gives the same score as averaging over them; no logarithm is taken, and the cost is
one [K, K] max-reduction per pair: O(N M K^2), a fraction of J-BALD's O(T N M K^2).
"""

from __future__ import annotations

import torch
from torch import Tensor

from labald.acquisition._checks import check_chunk, check_probs_and_confusions

_BLOCK_ELEMENTS = 2**23  # numbers in one block's work buffer (64 MiB in float64)


def expected_accuracy_gain(posterior_N_K: Tensor, confusion_M_K_K: Tensor, chunk: int = 512) -> Tensor:
    """g [N, M]: expected rise in max_y q_i(y) from one answer of worker j (see the module docstring).

    posterior_N_K: q_i(y), rows summing to 1; confusion_M_K_K: What_j[true, answered]. Images are
    processed in blocks of at most `chunk`, fewer when a block's [b, M, K, K] work buffer would hold
    more than `_BLOCK_ELEMENTS` numbers, so memory stays flat in N, M and K.
    """
    return _lookahead(posterior_N_K, confusion_M_K_K, chunk, "max")


def expected_brier_gain(posterior_N_K: Tensor, confusion_M_K_K: Tensor, chunk: int = 512) -> Tensor:
    """g [N, M]: expected rise in sum_y q_i(y)^2 from one answer of worker j, the expected fall of
    the label's Brier score (the score of `method=elr`, `labald.samplers.pair_scores.elr`).

    With the module docstring's p(z | i, j) and q'_i(y | z),

        E_z[ sum_y q'_i(y | z)^2 ] = sum_z sum_y (q_i(y) W_j[y, z])^2 / p(z | i, j),

    and g_ij = that - sum_y q_i(y)^2 >= 0 (the square is convex). Unlike the 0-1 gain it credits an
    answer that moves the posterior without flipping its argmax, so an image that needs two answers
    is not worth zero to the first. Same shapes, blocks and cost as `expected_accuracy_gain`.
    """
    return _lookahead(posterior_N_K, confusion_M_K_K, chunk, "square")


def expected_truth_gain(posterior_N_K: Tensor, belief_N_K: Tensor, confusion_M_K_K: Tensor,
                        answers_M_K_K: Tensor, chunk: int = 512) -> Tensor:
    """g [N, M]: the expected rise of the posterior q_i's mass on image i's true label when worker j
    answers, with the truth unknown: the label y ~ r_i (`belief_N_K`), the answer z ~ C_j[y, .]
    (`answers_M_K_K`), the update the one EM makes, q'_i(y | z) = q_i(y) W_j[y, z] / p_W(z | i, j)
    with p_W(z | i, j) = sum_y q_i(y) W_j[y, z] (`confusion_M_K_K`):

        g_ij = sum_y r_i(y) [ sum_z C_j[y, z] q'_i(y | z) - q_i(y) ].

    It is the truth-knowing oracle's score (`labald.samplers.oracle.truth_gain`) averaged over what
    the beliefs say of the label and the worker; with r = q and C = W it is `expected_brier_gain`.
    Same blocks and cost as `expected_brier_gain`, O(N M K^2).
    """
    answers_M_K_K = check_probs_and_confusions(posterior_N_K[None], answers_M_K_K)
    belief_N_K = belief_N_K.to(posterior_N_K)
    if belief_N_K.shape != posterior_N_K.shape or answers_M_K_K.shape != confusion_M_K_K.shape:
        raise ValueError(f"belief {tuple(belief_N_K.shape)} must match the posterior {tuple(posterior_N_K.shape)} "
                         f"and answers {tuple(answers_M_K_K.shape)} the confusions {tuple(confusion_M_K_K.shape)}")
    return _lookahead(posterior_N_K, confusion_M_K_K, chunk, "truth", belief_N_K, answers_M_K_K)


def _lookahead(posterior_N_K: Tensor, confusion_M_K_K: Tensor, chunk: int, utility: str,
               belief_N_K: Tensor | None = None, answers_M_K_K: Tensor | None = None) -> Tensor:
    """E_z[U(q'_i(. | z))] - U(q_i) for U = max (`max`) or the sum of squares (`square`); `truth`:
    E_{y ~ r, z ~ C}[q'_i(y | z)] - E_{y ~ r}[q_i(y)] (`expected_truth_gain`, r and C given)."""
    confusion_M_K_K = check_probs_and_confusions(posterior_N_K[None], confusion_M_K_K)
    check_chunk(chunk)
    N, K = posterior_N_K.shape
    M = confusion_M_K_K.shape[0]
    chunk = max(1, min(chunk, _BLOCK_ELEMENTS // (M * K * K)))
    gain_N_M = posterior_N_K.new_empty(N, M)
    tiny = torch.finfo(posterior_N_K.dtype).tiny
    for c0 in range(0, N, chunk):
        q_b_K = posterior_N_K[c0:c0 + chunk]
        joint_b_M_K_K = q_b_K[:, None, :, None] * confusion_M_K_K[None]  # q(y) W_j[y, z]: [b, M, y, z]
        if utility == "max":
            after_b_M = joint_b_M_K_K.amax(dim=2).sum(dim=-1)  # sum_z max_y
            before_b = q_b_K.amax(dim=-1, keepdim=True)
        elif utility == "square":
            evidence_b_M_K = joint_b_M_K_K.sum(dim=2).clamp_min(tiny)  # p(z)
            after_b_M = (joint_b_M_K_K.square().sum(dim=2) / evidence_b_M_K).sum(dim=-1)
            before_b = q_b_K.square().sum(dim=-1, keepdim=True)
        else:
            r_b_K = belief_N_K[c0:c0 + chunk]
            evidence_b_M_K = joint_b_M_K_K.sum(dim=2).clamp_min(tiny)  # p_W(z)
            drawn_b_M_K_K = r_b_K[:, None, :, None] * answers_M_K_K[None]  # r(y) C_j[y, z]
            after_b_M = ((drawn_b_M_K_K * joint_b_M_K_K).sum(dim=2) / evidence_b_M_K).sum(dim=-1)
            before_b = (r_b_K * q_b_K).sum(dim=-1, keepdim=True)
        gain_N_M[c0:c0 + chunk] = after_b_M - before_b
    return gain_N_M
