"""Agreement of two pair rankings (appendix B.1): Jaccard similarity of their top-k sets."""

from __future__ import annotations

import torch
from torch import Tensor


def _ranked_candidates(scores_N_M: Tensor, valid_N_M: Tensor | None,
                       ties: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """The valid pairs' scores and flat indices i * M + j, in a random order drawn from `ties` (or
    index order): a stable descending sort of them is the ranking with seeded random ties."""
    flat = scores_N_M.reshape(-1)
    index = torch.arange(flat.numel(), device=flat.device)
    if valid_N_M is not None:
        keep = valid_N_M.reshape(-1)
        flat, index = flat[keep], index[keep]
    if ties is not None:
        shuffle = torch.randperm(flat.numel(), generator=ties, device=ties.device).to(flat.device)
        flat, index = flat[shuffle], index[shuffle]
    return flat, index


def _top_k_pairs(scores_N_M: Tensor, valid_N_M: Tensor | None, k: int, ties: torch.Generator | None) -> set[int]:
    """Flat indices i * M + j of the k best valid pairs; ties in a random order drawn from `ties`
    (the first k of a stable descending sort of a random permutation), or to the lower index
    without it. The k-th best value is found by `topk`, not a sort: every pair above it is in, and
    the pairs equal to it fill the rest in (permuted) position order, as the stable sort takes them."""
    flat, index = _ranked_candidates(scores_N_M, valid_N_M, ties)
    if flat.numel() <= k:
        return set(index.tolist())
    kth = torch.topk(flat, k).values[-1]
    above = torch.nonzero(flat > kth).flatten()
    tied = torch.nonzero(flat == kth).flatten()[: k - len(above)]  # ascending positions
    return set(index[torch.cat([above, tied])].tolist())


def _top_k_pairs_by_sort(scores_N_M: Tensor, valid_N_M: Tensor | None, k: int,
                         ties: torch.Generator | None) -> set[int]:
    """Reference for `_top_k_pairs` (tests): the stable descending sort it stands for."""
    flat, index = _ranked_candidates(scores_N_M, valid_N_M, ties)
    order = torch.sort(flat, descending=True, stable=True).indices[:k]
    return set(index[order].tolist())


def top_k_jaccard(
    scores_a: Tensor, scores_b: Tensor, k: int = 50, valid: Tensor | None = None,
    ties: torch.Generator | None = None,
) -> float:
    """J(D_a, D_b) = |D_a ∩ D_b| / |D_a ∪ D_b| for the top-k (image, worker) pairs of two scores.

    scores_a, scores_b: [N, M]; valid: optional [N, M] bool mask, pairs where False are ignored.
    With fewer than k valid pairs, all of them form both sets (J = 1); with none, J is NaN.
    `ties`: each ranking breaks its ties in its own random order drawn from this generator, as two
    samplers selecting at random among equal pairs would (issue 13: at step 1 every worker ties, and
    index order made J 0 or 1 by construction); None breaks them by index.
    """
    if not isinstance(scores_a, Tensor) or not isinstance(scores_b, Tensor):
        raise ValueError("scores_a and scores_b must be torch tensors")
    if scores_a.dim() != 2 or scores_a.shape != scores_b.shape:
        raise ValueError(f"scores must both be [N, M], got {tuple(scores_a.shape)} and "
                         f"{tuple(scores_b.shape)}")
    if valid is not None and (valid.shape != scores_a.shape or valid.dtype != torch.bool):
        raise ValueError(f"valid must be a bool [N, M] mask of shape {tuple(scores_a.shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    top_a = _top_k_pairs(scores_a, valid, k, ties)
    top_b = _top_k_pairs(scores_b, valid, k, ties)
    union = top_a | top_b
    if not union:
        return float("nan")
    return len(top_a & top_b) / len(union)
