"""The once-per-seed split of the gold prototypes into training and validation halves."""

from __future__ import annotations

import numpy as np


def split_prototypes(labels: np.ndarray, n_train_per_class: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``labels``: per class, ``n_train_per_class`` at random train, the rest validate.

    Both returned arrays are sorted int64 and disjoint; every class keeps at least one
    validation prototype, so the model never validates only on what it trained on.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if n_train_per_class < 0:
        raise ValueError(f"n_train_per_class must be >= 0, got {n_train_per_class}")
    train, val = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if members.size <= n_train_per_class:
            raise ValueError(f"class {cls} has {members.size} prototypes; need more than "
                             f"n_train_per_class={n_train_per_class} to keep one for validation")
        members = rng.permutation(members)
        train.append(members[:n_train_per_class])
        val.append(members[n_train_per_class:])
    empty = np.empty(0, dtype=np.int64)
    train_idx = np.sort(np.concatenate(train)).astype(np.int64) if train else empty
    val_idx = np.sort(np.concatenate(val)).astype(np.int64) if val else empty
    return train_idx, val_idx


def prototype_roles(labels: np.ndarray, train_half: np.ndarray, pseudo_labels: np.ndarray, n_classes: int,
                    policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Which prototypes train and which validate this step (indices into ``labels``).

    ``split``: the fixed half ``train_half`` trains and the rest validates, always. ``adaptive``
    (Liao et al.): a class validates on all its prototypes once it has at least as many confident
    images (``pseudo_labels``) as prototypes; until then it trains on its half of ``train_half``.
    """
    if policy == "split":
        return train_half, np.setdiff1d(np.arange(len(labels)), train_half)
    if policy != "adaptive":
        raise ValueError(f"unknown prototype policy {policy!r}; use 'adaptive' or 'split'")
    labels = np.asarray(labels)
    starved = np.bincount(pseudo_labels, minlength=n_classes) < np.bincount(labels, minlength=n_classes)
    train = train_half[starved[labels[train_half]]]
    return train, np.setdiff1d(np.arange(len(labels)), train)
