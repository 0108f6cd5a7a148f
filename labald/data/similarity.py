"""Which classes get mistaken for which: from human confusions, feature centroids, or seeded at random.

The result `similarity[y, y']` (zero diagonal, rows sum to 1) shapes both the sandbox feature
geometry and where synthetic workers put their errors.
"""

from __future__ import annotations

import numpy as np


def normalize_off_diagonal(weights: np.ndarray) -> np.ndarray:
    """Zero the diagonal and normalize rows; a row with no weight becomes uniform over the others."""
    k = len(weights)
    w = np.asarray(weights, dtype=np.float64).copy()
    np.fill_diagonal(w, 0.0)
    rows = w.sum(axis=1, keepdims=True)
    uniform = (1.0 - np.eye(k)) / max(k - 1, 1)
    return np.where(rows > 0, w / np.where(rows > 0, rows, 1.0), uniform)


def from_human_confusions(counts_K_K: np.ndarray, smoothing: float = 0.05) -> np.ndarray:
    """Symmetrized human confusion rates, lightly smoothed so no pair is impossible."""
    rows = counts_K_K.sum(axis=1, keepdims=True)
    rates = counts_K_K / np.where(rows > 0, rows, 1.0)
    off = rates + rates.T
    np.fill_diagonal(off, 0.0)
    k = len(off)
    mean_off = off.sum() / max(k * (k - 1), 1)
    return normalize_off_diagonal(off + smoothing * max(mean_off, 1e-3))


def from_centroids(features: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Classes whose feature centroids lie close are confused more: softmax of -distance^2 / scale."""
    centroids = np.stack([features[labels == k].mean(axis=0) for k in range(n_classes)])
    d2 = ((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    scale = np.median(d2[~np.eye(n_classes, dtype=bool)]) if n_classes > 1 else 1.0
    return normalize_off_diagonal(np.exp(-2.0 * d2 / max(scale, 1e-12)))


def random_similarity(n_classes: int, rng: np.random.Generator, dim: int = 4) -> np.ndarray:
    """Seeded similarity from random low-dimensional class positions (near classes are confused)."""
    pos = rng.normal(size=(n_classes, dim))
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    return normalize_off_diagonal(np.exp(-d2))
