"""Calibration: temperature scaling (Guo et al. 2017) and the expected calibration error."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_T_RANGE = (math.log(1e-2), math.log(1e2))
GOLDEN_ITERATIONS = 60  # interval shrinks 0.618^60 ~ 3e-13


def _check_logits_labels(scores_N_K: Tensor, labels_N: Tensor, what: str) -> None:
    if scores_N_K.ndim != 2 or labels_N.ndim != 1 or scores_N_K.shape[0] != labels_N.shape[0]:
        raise ValueError(f"{what} must be [N, K] with labels [N], got "
                         f"{tuple(scores_N_K.shape)} and {tuple(labels_N.shape)}")
    if labels_N.numel() and (labels_N.min() < 0 or labels_N.max() >= scores_N_K.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores_N_K.shape[1]}), got "
                         f"[{int(labels_N.min())}, {int(labels_N.max())}]")


def nll(logits_N_K: Tensor, labels_N: Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of softmax(logits / temperature), in float64."""
    _check_logits_labels(logits_N_K, labels_N, "logits")
    return _nll(logits_N_K.double(), labels_N.long()[:, None], temperature)


def _nll(logits_N_K: Tensor, labels_N_1: Tensor, temperature: float) -> float:
    log_p = torch.log_softmax(logits_N_K / temperature, dim=-1)
    return float(-log_p.gather(1, labels_N_1).mean())


def fit_temperature(logits_N_K: Tensor, labels_N: Tensor) -> float:
    """Scalar T > 0 minimising NLL(softmax(logits / T)); 1.0 when no T improves on T = 1.

    NLL is convex in 1/T, hence unimodal in log T: a golden-section search on log T in
    [1e-2, 1e2] finds the minimiser deterministically, with no optimiser state.
    """
    _check_logits_labels(logits_N_K, labels_N, "logits")
    if labels_N.numel() == 0:
        return 1.0
    logits, labels = logits_N_K.detach().double(), labels_N.long()[:, None]
    lo, hi = LOG_T_RANGE
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    fa, fb = _nll(logits, labels, math.exp(a)), _nll(logits, labels, math.exp(b))
    for _ in range(GOLDEN_ITERATIONS):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - inv_phi * (hi - lo)
            fa = _nll(logits, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + inv_phi * (hi - lo)
            fb = _nll(logits, labels, math.exp(b))
    best = math.exp((lo + hi) / 2.0)
    return best if _nll(logits, labels, best) < _nll(logits, labels, 1.0) else 1.0


def expected_calibration_error(probs_N_K: Tensor, labels_N: Tensor, n_bins: int = 15) -> float:
    """ECE = sum_b |B_b| / N * |accuracy(B_b) - mean confidence(B_b)| (Guo et al. 2017).

    Confidence is max_k p; bins are equal-width on (0, 1], bin b holding (b/n, (b+1)/n].
    """
    _check_logits_labels(probs_N_K, labels_N, "probs")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    n = labels_N.shape[0]
    if n == 0:
        return 0.0
    conf, pred = probs_N_K.double().max(dim=1)
    correct = (pred == labels_N.long()).double()
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, conf)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, correct)
    return float((conf_sum - correct_sum).abs().sum() / n)
