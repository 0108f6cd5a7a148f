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


def top_k_sets(
    rankings: list[Tensor], k: int = 50, valid: Tensor | None = None, ties: torch.Generator | None = None,
) -> list[set[int]]:
    """The top-k valid (image, worker) pairs of each [N, M] score, as sets of flat indices i * M + j.

    valid: optional [N, M] bool mask, pairs where False are ignored; with fewer than k valid pairs,
    all of them. `ties`: each ranking breaks its ties in its own random order drawn from this
    generator, as a sampler selecting at random among equal pairs would (at step 1 every
    worker ties, and index order made the overlaps 0 or 1 by construction); None breaks them by index.
    """
    if not rankings or not all(isinstance(r, Tensor) for r in rankings):
        raise ValueError("rankings must be a non-empty list of torch tensors")
    shape = rankings[0].shape
    if len(shape) != 2 or any(r.shape != shape for r in rankings):
        raise ValueError(f"scores must all be [N, M], got {[tuple(r.shape) for r in rankings]}")
    if valid is not None and (valid.shape != shape or valid.dtype != torch.bool):
        raise ValueError(f"valid must be a bool [N, M] mask of shape {tuple(shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return [_top_k_pairs(r, valid, k, ties) for r in rankings]


def jaccard(a: set[int], b: set[int]) -> float:
    """|a ∩ b| / |a ∪ b|; NaN when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else float("nan")


def top_k_jaccard(
    scores_a: Tensor, scores_b: Tensor, k: int = 50, valid: Tensor | None = None,
    ties: torch.Generator | None = None,
) -> float:
    """J(D_a, D_b) = |D_a ∩ D_b| / |D_a ∪ D_b| for the top-k (image, worker) pairs of two scores
    (`top_k_sets`): with fewer than k valid pairs, all of them form both sets (J = 1); with none, NaN."""
    return jaccard(*top_k_sets([scores_a, scores_b], k, valid, ties))
