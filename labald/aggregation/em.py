"""Soft Dawid-Skene EM with a per-image prior and a Dirichlet prior on worker confusions (SPEC 3).

Model (Dawid & Skene 1979; Liao et al. 2021; LA-BALD appendix F):
    E step:  q_i(y) ∝ pi_i(y) * prod_{(j, z) answered for i} What_j[y, z]
    M step:  What_j[y, z] ∝ alpha[y, z] + sum_i q_i(y) [z_ij = z]
The M step is the exact maximiser of the objective
    log p(Z | What, pi) + sum_{j, y, z} alpha[y, z] log What_j[y, z]
(a Dirichlet(alpha + 1) MAP), so EM never lowers it. Everything is vectorised over annotations
with `index_add_`; there is no Python loop over images or answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_TINY = 1e-300


@dataclass(frozen=True)
class EMResult:
    posterior: np.ndarray  # [N, K] q_i(y)
    confusions: np.ndarray  # [M, K, K] What_j[y, z]
    iterations: int
    objective: float
    converged: bool


def dirichlet_prior(n_classes: int, mean_accuracy: float, row_total: float, strength: float) -> np.ndarray:
    """alpha [K, K]: the same for every worker; row mean has `mean_accuracy` on the diagonal and the
    rest spread evenly, with `strength * row_total` pseudo-counts per row (SPEC 3)."""
    return strength * row_total * prior_mean(n_classes, mean_accuracy)


def prior_mean(n_classes: int, mean_accuracy: float) -> np.ndarray:
    """[K, K] confusion with `mean_accuracy` on the diagonal, the rest uniform off it."""
    k = n_classes
    off = (1.0 - mean_accuracy) / max(k - 1, 1)
    mean = np.full((k, k), off)
    np.fill_diagonal(mean, mean_accuracy if k > 1 else 1.0)
    return mean


def annotation_log_likelihood(
    image: np.ndarray, worker: np.ndarray, label: np.ndarray, confusions_M_K_K: np.ndarray, n_images: int
) -> np.ndarray:
    """[N, K] log p(Z_i | y_i = y, What) = sum over i's answers (j, z) of log What_j[y, z]."""
    log_w = torch.from_numpy(np.log(np.clip(confusions_M_K_K, _TINY, None)))
    return _log_likelihood(_as_index(image), _as_index(worker), _as_index(label), log_w, n_images).numpy()


def dawid_skene(
    image: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    prior_N_K: np.ndarray,
    alpha_K_K: np.ndarray,
    n_workers: int,
    init_confusions: np.ndarray | None = None,
    init_accuracy: float = 0.7,
    max_iter: int = 10,
    tol: float = 1e-3,
) -> EMResult:
    """Aggregate answers (parallel arrays `image`, `worker`, `label`) into posteriors and confusions.

    Starts from `init_confusions` (the previous step's estimate) or a matrix with `init_accuracy`
    on the diagonal, then alternates M and E steps until the mean absolute change of q is below
    `tol` or `max_iter` M steps were taken.
    """
    n, k = prior_N_K.shape
    img, wrk, lab = _as_index(image), _as_index(worker), _as_index(label)
    log_prior = torch.from_numpy(np.log(np.clip(np.asarray(prior_N_K, dtype=np.float64), _TINY, None)))
    alpha = torch.from_numpy(np.asarray(alpha_K_K, dtype=np.float64))
    if init_confusions is None:
        confusions = torch.from_numpy(np.broadcast_to(prior_mean(k, init_accuracy), (n_workers, k, k)).copy())
    else:
        confusions = torch.from_numpy(np.array(init_confusions, dtype=np.float64))
    q, _ = _e_step(img, wrk, lab, log_prior, confusions)
    iterations, converged = 0, len(img) == 0
    while not converged and iterations < max_iter:
        confusions = _m_step(img, wrk, lab, q, alpha, n_workers)
        q_new, _ = _e_step(img, wrk, lab, log_prior, confusions)
        delta = (q_new - q).abs().sum(dim=1).mean().item()
        q, iterations, converged = q_new, iterations + 1, delta < tol
    objective = log_objective(img, wrk, lab, log_prior, confusions, alpha)
    return EMResult(q.numpy(), confusions.numpy(), iterations, objective, converged)


def log_objective(img, wrk, lab, log_prior: torch.Tensor, confusions: torch.Tensor, alpha: torch.Tensor) -> float:
    """log p(Z | What, pi) + sum alpha log What: the quantity EM climbs."""
    _, log_evidence = _e_step(img, wrk, lab, log_prior, confusions)
    log_w = torch.log(confusions.clamp_min(_TINY))
    return float(log_evidence.sum() + (alpha * log_w).sum())


def _e_step(img, wrk, lab, log_prior: torch.Tensor, confusions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior q [N, K] and per-image log evidence log p(Z_i) [N]."""
    log_w = torch.log(confusions.clamp_min(_TINY))
    joint = log_prior + _log_likelihood(img, wrk, lab, log_w, log_prior.shape[0])
    log_evidence = torch.logsumexp(joint, dim=1)
    return torch.exp(joint - log_evidence[:, None]), log_evidence


def _m_step(img, wrk, lab, q: torch.Tensor, alpha: torch.Tensor, n_workers: int) -> torch.Tensor:
    """What_j[y, z] ∝ alpha[y, z] + soft counts; an all-zero row (no prior, no answers) becomes uniform."""
    k = q.shape[1]
    counts = torch.zeros(n_workers * k, k, dtype=q.dtype)  # [(j, z), y]
    counts.index_add_(0, wrk * k + lab, q[img])
    counts = counts.view(n_workers, k, k).transpose(1, 2) + alpha  # [j, y, z]
    rows = counts.sum(dim=2, keepdim=True)
    return torch.where(rows > 0, counts / rows.clamp_min(_TINY), torch.full_like(counts, 1.0 / k))


def _log_likelihood(img, wrk, lab, log_w: torch.Tensor, n_images: int) -> torch.Tensor:
    out = torch.zeros(n_images, log_w.shape[1], dtype=log_w.dtype)
    return out.index_add_(0, img, log_w[wrk, :, lab])


def _as_index(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.int64))
