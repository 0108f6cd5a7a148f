"""The answers collected so far: parallel integer arrays, one entry per (image, worker, answer)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass
class Annotations:
    """Append-only log of answers; `step` records when each was collected."""

    n_images: int
    n_workers: int
    image: np.ndarray = field(default_factory=_empty)
    worker: np.ndarray = field(default_factory=_empty)
    label: np.ndarray = field(default_factory=_empty)
    step: np.ndarray = field(default_factory=_empty)

    def __len__(self) -> int:
        return len(self.image)

    def add(self, image: np.ndarray, worker: np.ndarray, label: np.ndarray, step: int) -> None:
        """Append a batch; a repeated (image, worker) pair is a bug in the caller."""
        self.image = np.concatenate([self.image, np.asarray(image, dtype=np.int64)])
        self.worker = np.concatenate([self.worker, np.asarray(worker, dtype=np.int64)])
        self.label = np.concatenate([self.label, np.asarray(label, dtype=np.int64)])
        self.step = np.concatenate([self.step, np.full(len(image), step, dtype=np.int64)])

    def per_image(self) -> np.ndarray:
        """Number of answers of each image [N]."""
        return np.bincount(self.image, minlength=self.n_images)

    def per_worker(self) -> np.ndarray:
        """Number of answers of each worker [M]."""
        return np.bincount(self.worker, minlength=self.n_workers)

    def asked(self) -> np.ndarray:
        """[N, M] True where the worker has already answered the image."""
        out = np.zeros((self.n_images, self.n_workers), dtype=bool)
        out[self.image, self.worker] = True
        return out

    def state_dict(self) -> dict:
        return {"image": self.image, "worker": self.worker, "label": self.label, "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        for name in ("image", "worker", "label", "step"):
            setattr(self, name, np.asarray(state[name], dtype=np.int64))
