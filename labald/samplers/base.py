"""What a sampler sees each step and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Candidates:
    """The constraints of this step: eligible images, pairs already asked, worker capacities."""

    eligible_N: np.ndarray  # bool
    asked_N_M: np.ndarray  # bool
    capacity_M: np.ndarray  # int, tasks each worker may still take this step
    batch_size: int

    @property
    def valid_N_M(self) -> np.ndarray:
        """Pairs a sampler may pick: eligible image, new pair, worker with capacity."""
        return self.eligible_N[:, None] & ~self.asked_N_M & (self.capacity_M > 0)[None, :]


class MCPredictions(Protocol):
    """The model's T MC-dropout predictions of the pool (`labald.learner.PoolPredictions`)."""

    def take(self, images: np.ndarray) -> torch.Tensor:
        """p_t(y | x_i) for the given pool images, [T, R, K]."""
        ...


_NONE = np.zeros(0, dtype=np.int64)  # no answers yet


@dataclass(frozen=True)
class Beliefs:
    """What the loop knows: EM posterior and confusions, the model's MC predictions, the
    log-likelihood of each image's answers (to fold into each MC sample), and the answers."""

    posterior_N_K: np.ndarray
    confusions_M_K_K: np.ndarray
    log_likelihood_N_K: np.ndarray
    mc: MCPredictions | None = None
    # the answers so far as (image, worker, label) arrays, in the order they came
    answers: tuple[np.ndarray, np.ndarray, np.ndarray] = field(default_factory=lambda: (_NONE, _NONE, _NONE))


@dataclass(frozen=True)
class Selection:
    images: np.ndarray
    workers: np.ndarray
    scores: np.ndarray | None = None  # the ranking score of each chosen pair (None: a random pick)
    seconds_scoring: float = 0.0
    seconds_selection: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)  # per-step metrics, e.g. Jaccard similarities


class Sampler(Protocol):
    name: str

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection: ...
