"""Surrogate features for the ImageNet100 subtasks when no real features file is given.

Class centres are placed by classical multidimensional scaling so that classes people confuse lie
closer (distance shrinks with the class similarity), then images are the centre plus isotropic
Gaussian noise of unit variance per dimension. `separation` is the centre distance, in noise
standard deviations, of two classes nobody confuses; the most confused pair sits at half of it.
"""

from __future__ import annotations

import numpy as np


def class_centres(similarity: np.ndarray, separation: float, dim: int, rng: np.random.Generator) -> np.ndarray:
    """[K, dim] centres whose pairwise distances approximate separation * (1 - 0.5 * s_yy')."""
    k = len(similarity)
    sym = (similarity + similarity.T) / 2.0
    off = ~np.eye(k, dtype=bool)
    strength = sym / max(sym[off].max(), 1e-12) if k > 1 else sym
    dist = separation * (1.0 - 0.5 * strength)
    np.fill_diagonal(dist, 0.0)
    # Classical MDS: double-centre the squared distances, keep the non-negative spectrum.
    j = np.eye(k) - 1.0 / k
    gram = -0.5 * j @ (dist**2) @ j
    vals, vecs = np.linalg.eigh(gram)
    coords = vecs * np.sqrt(np.clip(vals, 0.0, None))  # [K, K]
    if dim < k:
        coords = coords[:, -dim:]
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return coords @ rotation[: coords.shape[1]]


def sandbox_features(
    similarity: np.ndarray,
    n_per_class: int,
    feature_dim: int,
    separation: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_class` images of every class: features [K * n, D] float32 and labels [K * n]."""
    k = len(similarity)
    centres = class_centres(similarity, separation, feature_dim, rng)
    labels = np.repeat(np.arange(k), n_per_class)
    noise = rng.standard_normal((len(labels), feature_dim), dtype=np.float32)
    return (centres[labels].astype(np.float32) + noise), labels.astype(np.int64)
