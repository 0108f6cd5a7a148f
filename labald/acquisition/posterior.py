"""MC posteriors q_t of each image's label: the model's t-th prediction times its annotations."""

from __future__ import annotations

import torch
from torch import Tensor

from labald.acquisition._checks import check_distributions
from labald.acquisition._cpu import flushing_denormals
from labald.numerics import softmax_rows


def annotation_posterior(mc_probs: Tensor, log_likelihood: Tensor, *, scratch: bool = False) -> Tensor:
    """q_t(i, y) = p(y_i | x_i, theta_t, Z_t, What), [T, N, K], rows summing to 1.

        q_t(i, y) ∝ p(y | x_i, theta_t) * exp(log_likelihood[i, y]),
        log_likelihood[i, y] = sum over i's annotations (j, z) of log What_j[y, z]

    mc_probs: the model's MC-dropout predictions p(y | x_i, theta_t), [T, N, K]; log_likelihood:
    [N, K] (the caller sums it). Computed in log space with the row maximum subtracted, so very
    negative log-likelihoods (many annotations) neither underflow nor produce NaN. A zero model
    probability is floored at the dtype's smallest normal number, so a row is never all zero; a
    row whose log-likelihood is -inf for every label (What rules out all) falls back to the model.

    `scratch=True` says mc_probs is a copy of already-checked predictions (the learner's own,
    gathered for these images) that may be overwritten: no distribution check and one [T, N, K]
    buffer fewer, the same values.
    """
    if not isinstance(mc_probs, Tensor) or mc_probs.dim() != 3:
        raise ValueError("mc_probs must be a [T, N, K] tensor (MC samples, images, classes)")
    if mc_probs.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"mc_probs must be float32 or float64, got {mc_probs.dtype}")
    _, N, K = mc_probs.shape
    if not isinstance(log_likelihood, Tensor) or log_likelihood.shape != (N, K):
        got = tuple(log_likelihood.shape) if isinstance(log_likelihood, Tensor) else log_likelihood
        raise ValueError(f"log_likelihood must be [N, K] = [{N}, {K}] to match mc_probs, got {got}")
    if bool(torch.isnan(log_likelihood).any()) or bool((log_likelihood == float("inf")).any()):
        raise ValueError("log_likelihood must not contain NaN or +inf")
    if not scratch:
        check_distributions("mc_probs", mc_probs)
    finfo = torch.finfo(mc_probs.dtype)
    # Shift each row so its best label has log-likelihood 0: exp never underflows to all zeros.
    log_lik_N_K = log_likelihood.to(mc_probs)
    row_max_N_1 = log_lik_N_K.amax(-1, keepdim=True)
    all_impossible_N_1 = torch.isneginf(row_max_N_1)
    log_lik_N_K = (log_lik_N_K - row_max_N_1.masked_fill(all_impossible_N_1, 0))
    log_lik_N_K = log_lik_N_K.masked_fill(all_impossible_N_1, 0)
    # One [T, N, K] buffer, written in place (`softmax_rows`); denormals flushed, as in the scores
    # (their products take ~100x).
    with flushing_denormals(mc_probs.device.type == "cpu"):
        floored = mc_probs.clamp_min_(finfo.tiny) if scratch and mc_probs.is_contiguous() else \
            mc_probs.clamp_min(finfo.tiny).contiguous()
        logits_T_N_K = floored.log_().add_(log_lik_N_K)
        return softmax_rows(logits_T_N_K.view(-1, K)).view(mc_probs.shape)
