"""Entry checks shared by the acquisition functions: shapes, dtypes, distributions."""

from __future__ import annotations

import torch
from torch import Tensor

_FLOAT_DTYPES = (torch.float32, torch.float64)
# Rows must sum to 1 within this absolute tolerance (float32 softmax outputs drift ~1e-6).
_SUM_ATOL = 1e-3


def check_distributions(name: str, x: Tensor) -> None:
    """Raise ValueError unless `x` is non-negative with last-axis rows summing to 1."""
    if x.numel() == 0:
        return
    # Row sums are finite iff every entry is (given none is -inf); no [T, N, K] mask is built.
    row_sums = x.sum(-1)
    if not bool(torch.isfinite(row_sums).all()) or x.min().item() < 0:
        raise ValueError(f"{name} must be finite and non-negative (probabilities)")
    worst = (row_sums - 1).abs().max().item()
    if worst > _SUM_ATOL:
        raise ValueError(
            f"{name} rows must sum to 1 over the last axis (worst |sum - 1| = {worst:.3g}); "
            "pass probabilities, not logits"
        )


def check_probs_and_confusions(probs_T_N_K: Tensor, confusion_M_K_K: Tensor) -> Tensor:
    """Check `probs` [T, N, K] and `confusions` [M, K, K]; return confusions as probs' dtype."""
    if not isinstance(probs_T_N_K, Tensor) or not isinstance(confusion_M_K_K, Tensor):
        raise ValueError("probs and confusions must be torch tensors")
    if probs_T_N_K.dim() != 3:
        raise ValueError(f"probs must be [T, N, K] (MC samples, images, classes), "
                         f"got shape {tuple(probs_T_N_K.shape)}")
    if probs_T_N_K.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"probs must be float32 or float64, got {probs_T_N_K.dtype}")
    T, _, K = probs_T_N_K.shape
    if T == 0 or K == 0:
        raise ValueError(f"probs needs T >= 1 MC samples and K >= 1 classes, "
                         f"got shape {tuple(probs_T_N_K.shape)}")
    if confusion_M_K_K.dim() != 3 or confusion_M_K_K.shape[1:] != (K, K):
        raise ValueError(f"confusions must be [M, K, K] = [workers, true, answered] with K={K} "
                         f"from probs, got shape {tuple(confusion_M_K_K.shape)}")
    if not confusion_M_K_K.is_floating_point():
        raise ValueError(f"confusions must be floating point, got {confusion_M_K_K.dtype}")
    check_distributions("probs", probs_T_N_K)
    check_distributions("confusions", confusion_M_K_K)
    return confusion_M_K_K.to(dtype=probs_T_N_K.dtype, device=probs_T_N_K.device)


def check_chunk(chunk: int) -> None:
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer (images per block), got {chunk!r}")
