"""Calibration: temperature scaling (Guo et al. 2017) and the expected calibration error."""

from __future__ import annotations

import math

import torch
from scipy import optimize
from torch import Tensor

LOG_T_RANGE = (math.log(1e-2), math.log(1e2))
# Brent's bounded search on log T stops when log T is known to 1e-3, i.e. T to 0.1%: ~10 NLL evaluations
# where a golden-section search to 5e-5 took 27 (each a log-softmax over all T x n x K validation logits).
LOG_T_TOLERANCE = 1e-3


def _check_logits_labels(scores_N_K: Tensor, labels_N: Tensor, what: str) -> None:
    if scores_N_K.ndim != 2 or labels_N.ndim != 1 or scores_N_K.shape[0] != labels_N.shape[0]:
        raise ValueError(f"{what} must be [N, K] with labels [N], got "
                         f"{tuple(scores_N_K.shape)} and {tuple(labels_N.shape)}")
    if labels_N.numel() and (labels_N.min() < 0 or labels_N.max() >= scores_N_K.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores_N_K.shape[1]}), got "
                         f"[{int(labels_N.min())}, {int(labels_N.max())}]")


def _check_logits(logits: Tensor, labels_N: Tensor) -> None:
    """[N, K] logits of one network, or [T, N, K] logits of T sampled networks."""
    if logits.ndim not in (2, 3):
        raise ValueError(f"logits must be [N, K] or [T, N, K], got {tuple(logits.shape)}")
    _check_logits_labels(logits[0] if logits.ndim == 3 else logits, labels_N, "logits")


def nll(logits: Tensor, labels_N: Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats), in float64, of softmax(logits / temperature) for [N, K]
    logits, or of the mean over samples of those softmaxes for [T, N, K] logits (the MC mean)."""
    _check_logits(logits, labels_N)
    return _nll(logits.double(), labels_N.long()[:, None], temperature)


def nll_against(labels_N: Tensor, n_classes: int):
    """`nll(logits, labels_N)` as a function of the logits alone, the labels checked once here: a
    validation that runs every few updates then waits on the device once, for its value."""
    _check_logits_labels(torch.zeros(len(labels_N), n_classes, device=labels_N.device), labels_N, "logits")
    labels_N_1 = labels_N.long()[:, None]

    def of(logits: Tensor) -> float:
        if logits.shape[-2:] != (len(labels_N), n_classes):
            raise ValueError(f"logits must be [N, K] = [{len(labels_N)}, {n_classes}], got {tuple(logits.shape)}")
        return _nll(logits.double(), labels_N_1, 1.0)

    return of


def _nll(logits: Tensor, labels_N_1: Tensor, temperature: float) -> float:
    log_p = torch.log_softmax(logits / temperature, dim=-1)
    if log_p.ndim == 3:  # log of the mean over the T samples
        log_p = torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])
    return float(-log_p.gather(1, labels_N_1).mean())


def fit_temperature(logits: Tensor, labels_N: Tensor) -> float:
    """Scalar T > 0 minimising `nll(logits, labels, T)`; 1.0 when no T improves on T = 1.

    For [N, K] logits the NLL is convex in 1/T, hence unimodal in log T; for the MC mean of
    [T, N, K] logits it is unimodal in practice. Brent's bounded search on log T in [1e-2, 1e2]
    (golden sections with parabolic steps) finds the minimiser deterministically, with no optimiser
    state.
    """
    _check_logits(logits, labels_N)
    if labels_N.numel() == 0:
        return 1.0
    # the MC mean's search runs in float32: T * N * K values per evaluation, precision to spare
    logits = logits.detach().float() if logits.ndim == 3 else logits.detach().double()
    labels = labels_N.long()[:, None]
    found = optimize.minimize_scalar(lambda log_t: _nll(logits, labels, math.exp(log_t)), bounds=LOG_T_RANGE,
                                     method="bounded",
                                     options={"xatol": LOG_T_TOLERANCE, "maxiter": 100})
    best = math.exp(float(found.x))
    return best if float(found.fun) < _nll(logits, labels, 1.0) else 1.0


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
