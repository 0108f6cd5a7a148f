"""Confusion matrices of simulated workers: AMT-derived crowds and experts (paper, appendix F), synthetic crowds.

Layout everywhere: `confusion[j, y, z] = p(z | y, w_j)`, rows sum to 1.
"""

from __future__ import annotations

import numpy as np

EXPERT_BOOST = 0.5  # probability mass added to the diagonal of an expert (W + 0.5 I) / 1.5
AMT_PERSONAL_WEIGHT = 10.0  # C = S + 10 A
AMT_WORKERS_PER_SIMULATED = 3
SYNTHETIC_ROW_TOTAL = 20.0  # prior pseudo-counts per row for synthetic crowds (AMT count rows hold about 20-25)
LOG_SMOOTHING = 1.0  # pseudo-answers per confusion row of a worker estimated from a real log


def normalize_rows(counts: np.ndarray, empty_accuracy: float) -> np.ndarray:
    """Rows normalized to probabilities; an empty row gets `empty_accuracy` on the diagonal and the
    rest spread evenly, so a class with no annotations still has a distribution."""
    k = counts.shape[-1]
    rows = counts.sum(axis=-1, keepdims=True)
    fallback = np.full((k, k), (1.0 - empty_accuracy) / max(k - 1, 1))
    np.fill_diagonal(fallback, empty_accuracy if k > 1 else 1.0)
    return np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), fallback)


def expert_from(confusion_K_K: np.ndarray) -> np.ndarray:
    """An expert: the crowd matrix with half its mass added to the diagonal, W_e = (W + 0.5 I) / 1.5."""
    k = len(confusion_K_K)
    return (confusion_K_K + EXPERT_BOOST * np.eye(k)) / (1.0 + EXPERT_BOOST)


def amt_crowd(counts_W_K_K: np.ndarray, n_workers: int, rng: np.random.Generator) -> np.ndarray:
    """Simulated crowd workers from one AMT group restricted to the subtask's classes [n, K, K].

    For each: S = all annotations of the group summed, A = the annotations of 3 different AMT
    workers sampled at random, C = S + 10 A, rows normalized (Liao et al.; appendix F).
    """
    total = counts_W_K_K.sum(axis=0)
    mean_accuracy = float(np.diag(normalize_rows(total, 0.5)).mean())
    pick = min(AMT_WORKERS_PER_SIMULATED, len(counts_W_K_K))
    out = []
    for _ in range(n_workers):
        chosen = rng.choice(len(counts_W_K_K), size=pick, replace=False)
        personal = counts_W_K_K[chosen].sum(axis=0)
        out.append(normalize_rows(total + AMT_PERSONAL_WEIGHT * personal, mean_accuracy))
    return np.stack(out) if out else np.zeros((0,) + total.shape)


def synthetic_crowd(
    similarity_K_K: np.ndarray, n_workers: int, mean_accuracy: float, rng: np.random.Generator
) -> np.ndarray:
    """Seeded synthetic crowd [n, K, K] whose mean diagonal is `mean_accuracy`.

    Worker skill and per-class skill vary (sd 0.1 each); each row's error mass goes to similar
    classes (Dirichlet around `similarity`), so confusions concentrate where people confuse.
    """
    k = len(similarity_K_K)
    if n_workers == 0:
        return np.zeros((0, k, k))
    skill = rng.normal(0.0, 0.1, size=(n_workers, 1)) + rng.normal(0.0, 0.1, size=(n_workers, k))
    accuracy = np.clip(mean_accuracy + skill - skill.mean(), 1.0 / k, 0.99)
    accuracy += mean_accuracy - accuracy.mean()  # undo the small shift clipping caused
    accuracy = np.clip(accuracy, 1.0 / k, 0.99)
    concentration = 5.0 * k * similarity_K_K + 0.05
    out = np.empty((n_workers, k, k))
    for y in range(k):
        errors = rng.gamma(concentration[y], size=(n_workers, k))
        errors[:, y] = 0.0
        errors /= errors.sum(axis=1, keepdims=True)
        out[:, y, :] = errors * (1.0 - accuracy[:, y : y + 1])
        out[:, y, y] = accuracy[:, y]
    return out


def from_log_counts(counts_M_K_K: np.ndarray, smoothing: float = LOG_SMOOTHING) -> np.ndarray:
    """Confusions [M, K, K] of real workers from their answer counts against the true labels.

    Each row is the worker's answers to that true class plus `smoothing` pseudo-answers spread as
    the crowd's pooled row (all workers' answers to the class, plus 1/K each):
    W_j[y] = (A_j[y] + s P[y]) / (n_j[y] + s). A class a worker never answered takes the crowd's
    confusion there, not a guesser's uniform row, and one answer cannot make a row of 0s and a 1;
    a worker with many answers keeps their own rates.
    """
    k = counts_M_K_K.shape[-1]
    pooled = counts_M_K_K.sum(axis=0) + 1.0 / k  # [K, K]: the crowd's answers per true class
    pooled /= pooled.sum(axis=1, keepdims=True)
    smoothed = counts_M_K_K + smoothing * pooled[None]
    return smoothed / smoothed.sum(axis=2, keepdims=True)


def prior_row_total(counts_W_K_K: np.ndarray | None) -> float:
    """Mean row total of the subtask's summed AMT count matrix (about 20-25), or 20 for synthetic."""
    if counts_W_K_K is None:
        return SYNTHETIC_ROW_TOTAL
    return float(counts_W_K_K.sum(axis=0).sum(axis=1).mean())
