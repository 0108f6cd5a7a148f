"""What a sampler sees each step and what it returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from labald.aggregation.em import answer_periods


@dataclass(frozen=True)
class Candidates:
    """The constraints of this step: eligible images, pairs already asked, worker capacities, and
    each worker's price per answer (`labald.costs`), which a sampler may weigh."""

    eligible_N: np.ndarray  # bool
    asked_N_M: np.ndarray  # bool
    capacity_M: np.ndarray  # int, tasks each worker may still take this step
    batch_size: int
    cost_M: np.ndarray | None = None  # float, money per answer of each worker; None: every answer costs 1

    @property
    def valid_N_M(self) -> np.ndarray:
        """Pairs a sampler may pick: eligible image, new pair, worker with capacity."""
        return self.eligible_N[:, None] & ~self.asked_N_M & (self.capacity_M > 0)[None, :]


class MCPredictions(Protocol):
    """The model's T MC-dropout predictions of the pool (`labald.learner.PoolPredictions`)."""

    def take(self, images: np.ndarray) -> torch.Tensor:
        """p_t(y | x_i) for the given pool images, [T, R, K]: a new tensor, which the caller may
        overwrite (the annotation posteriors are built in it)."""
        ...


_NONE = np.zeros(0, dtype=np.int64)  # no answers yet


@dataclass(frozen=True, kw_only=True)
class Beliefs:
    """What the loop knows: EM posterior and confusions, the model's MC predictions, the
    log-likelihood of each image's answers (to fold into each MC sample), and the answers.
    Built with keywords only: its many arrays are easy to swap by position."""

    posterior_N_K: np.ndarray
    confusions_M_K_K: np.ndarray
    log_likelihood_N_K: np.ndarray
    mc: MCPredictions | None = None
    # the answers so far as (image, worker, label) arrays, in the order they came
    answers: tuple[np.ndarray, np.ndarray, np.ndarray] = field(default_factory=lambda: (_NONE, _NONE, _NONE))
    # the step of each answer; with EM that forgets (aggregation.forgetting < 1) the steps with answers
    # [P] and each one's confusions [P, M, K, K], None for the paper's EM, whose one What holds for every step
    answer_steps: np.ndarray | None = None
    periods: np.ndarray | None = None
    period_confusions: np.ndarray | None = None
    forgetting: float = 1.0  # EM's forgetting factor gamma (aggregation.forgetting): 1.0 is the paper's EM

    def answer_likelihoods(self) -> np.ndarray:
        """[A, K]: What_j[y, z] over y of each answer (i, j, z), from the confusions of the answer's own
        step when EM keeps one per step (answers after the last such step take the last)."""
        _, worker, label = self.answers
        if self.period_confusions is None:
            return self.confusions_M_K_K[worker, :, label]
        return self.period_confusions[answer_periods(self.periods, self.answer_steps), worker, :, label]

    def answer_weights(self) -> np.ndarray | None:
        """[A]: gamma^(S - s) of each answer given at step s, S the latest step with answers: the weight
        EM that forgets gives it in the latest step's confusions; None for the paper's EM (every answer 1)."""
        if self.forgetting >= 1.0 or self.answer_steps is None or len(self.answer_steps) == 0:
            return None
        steps = np.asarray(self.answer_steps, dtype=np.float64)
        return self.forgetting ** (steps.max() - steps)


@dataclass(frozen=True)
class Selection:
    """A sampler's batch: the chosen pairs as index arrays (pool image, worker), in selection order."""

    images: np.ndarray
    workers: np.ndarray
    scores: np.ndarray | None = None  # the ranking score of each chosen pair (None: a random pick)
    seconds_scoring: float = 0.0
    seconds_selection: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)  # per-step metrics the sampler reports itself
    # the scores of every scored pair with their named parts (labald.samplers.pair_scores.PairScores),
    # for the loop's batch observers; None for a sampler without them
    pair_scores: Any = None


class Sampler(Protocol):
    name: str

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection: ...


def tensor_fields(selection: Selection) -> dict[str, torch.device]:
    """The index and score fields of a selection that are torch tensors, with their devices (a
    selection holds NumPy arrays; `Beliefs.mc.take()` is the one field a sampler sees on the run's
    device)."""
    return {name: value.device for name in ("images", "workers", "scores")
            if isinstance(value := getattr(selection, name), torch.Tensor)}


def as_numpy(selection: Selection) -> tuple[Selection, list[str]]:
    """The selection with any CPU tensor field as a NumPy array (device tensors stay: see
    `check_selection`), and the names of the fields converted."""
    moved = {name: getattr(selection, name).numpy() for name, device in tensor_fields(selection).items()
             if device.type == "cpu"}
    return (dataclasses.replace(selection, **moved) if moved else selection), list(moved)


def check_selection(selection: Selection, candidates: Candidates) -> str | None:
    """What is wrong with a sampler's batch under this step's constraints, or None: equal-length
    integer index arrays, at most `batch_size` pairs, each a valid pair (eligible image, not asked
    before, worker with capacity), at most one pair per image, no worker over its capacity."""
    on_device = {name: device for name, device in tensor_fields(selection).items() if device.type != "cpu"}
    if on_device:
        name, device = next(iter(on_device.items()))
        return (f"{name} is a torch tensor on {device}; return NumPy arrays ({name}.cpu().numpy()), as on a "
                "CPU-only machine")
    images, workers = np.asarray(selection.images), np.asarray(selection.workers)
    n, m = candidates.asked_N_M.shape
    if images.shape != workers.shape or images.ndim != 1:
        return f"images and workers must be 1-d arrays of one length, got shapes {images.shape} and {workers.shape}"
    if len(images) and not (np.issubdtype(images.dtype, np.integer) and np.issubdtype(workers.dtype, np.integer)):
        return f"images and workers must be integer indices, got {images.dtype} and {workers.dtype}"
    if len(images) > candidates.batch_size:
        return f"{len(images)} pairs, more than the batch size {candidates.batch_size}"
    if len(images) and (images.min() < 0 or images.max() >= n or workers.min() < 0 or workers.max() >= m):
        return f"an index outside the pool ({n} images) or the crowd ({m} workers)"
    invalid = ~candidates.valid_N_M[images, workers]
    if invalid.any():
        i = int(np.argmax(invalid))
        return (f"pair (image {images[i]}, worker {workers[i]}) is not valid (an ineligible image, a pair asked "
                "before, or a worker without capacity)")
    if len(np.unique(images)) < len(images):
        return "an image appears twice in one batch"
    over = np.bincount(workers, minlength=m) > candidates.capacity_M
    if over.any():
        return f"worker {int(np.argmax(over))} gets more tasks than its capacity"
    return None

