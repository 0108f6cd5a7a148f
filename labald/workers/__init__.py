"""Simulated annotators: who they are (confusion matrices) and how they answer (seeded draws)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from labald.data.amt import AmtData
from labald.data.pool import Pool
from labald.data.subtasks import CROWD_ACCURACY
from labald.errors import LabaldError
from labald.workers.crowd import amt_crowd, expert_from, prior_row_total, synthetic_crowd

__all__ = ["WorkerSettings", "WorkerPool", "build_workers"]

log = logging.getLogger(__name__)

DEFAULT_SYNTHETIC_ACCURACY = 0.7


@dataclass(frozen=True)
class WorkerSettings:
    """`workers.*` config keys (SPEC 9)."""

    source: str = "amt"  # amt | synthetic
    n_crowd: int = 50
    n_expert: int = 10
    mean_accuracy: float | None = None  # synthetic crowd; None = the subtask's AMT figure (0.7 otherwise)
    per_worker_per_step: int | str | None = None  # None = ceil(2B / M); "none" = no per-step cap
    max_per_worker: int | None = None  # None = no total cap


class WorkerPool:
    """M workers with true confusions [M, K, K] and one seeded answer generator each."""

    def __init__(self, confusions: np.ndarray, is_expert: np.ndarray, source: str, row_total: float, seed: int):
        self.confusions = confusions
        self.is_expert = is_expert
        self.source = source
        self.row_total = row_total  # prior pseudo-counts per row for EM (SPEC 3)
        self.available_N_M: np.ndarray | None = None  # pairs that may be asked; None = all (simulation)
        self._rngs = [np.random.default_rng([seed, 202, j]) for j in range(len(confusions))]

    @property
    def n_workers(self) -> int:
        return len(self.confusions)

    def answer(self, images: np.ndarray, workers: np.ndarray, true_labels: np.ndarray) -> np.ndarray:
        """Each worker answers its images: z ~ Categorical(W_j[y_true, :]), in the order given."""
        answers = np.empty(len(images), dtype=np.int64)
        y = true_labels[images]
        for j in np.unique(workers):
            mine = np.flatnonzero(workers == j)
            cdf = np.cumsum(self.confusions[j][y[mine]], axis=1)
            u = self._rngs[j].random(len(mine))[:, None] * cdf[:, -1:]
            answers[mine] = (u >= cdf).sum(axis=1)
        return answers

    def rng_states(self) -> list[dict]:
        return [r.bit_generator.state for r in self._rngs]

    def set_rng_states(self, states: list[dict]) -> None:
        for r, s in zip(self._rngs, states):
            r.bit_generator.state = s


def build_workers(settings: WorkerSettings, pool: Pool, amt: AmtData | None, seed: int,
                  answer_seed: int | None = None) -> WorkerPool:
    """The run's crowd (SPEC 2): AMT-derived (``workers=amt``) or synthetic; ids shuffled per seed.
    Their answers are drawn from streams seeded by `answer_seed` (default: `seed`)."""
    if hasattr(pool, "answers_N_M"):  # dataset=replay: the log's own workers answer
        from labald.workers.replay import replay_workers

        return replay_workers(pool)
    rng = np.random.default_rng([seed, 201])
    n = settings.n_crowd + settings.n_expert
    counts = None
    if settings.source == "amt" and amt is not None and pool.name != "digits":
        counts = amt.group_counts(amt.group_of(list(pool.class_names)), list(pool.class_names))
        crowd = amt_crowd(counts, n, rng)
        source = f"AMT workers of Liao et al. ({amt.origin}), {len(counts)} real annotators in the group"
    else:
        accuracy = settings.mean_accuracy or CROWD_ACCURACY.get(pool.name, DEFAULT_SYNTHETIC_ACCURACY)
        crowd = synthetic_crowd(pool.similarity, n, accuracy, rng)
        reason = ("workers=synthetic" if settings.source == "synthetic" else
                  "digits has no AMT data" if pool.name == "digits" else "no AMT counts given")
        source = f"synthetic crowd, mean accuracy {accuracy:.2f} ({reason})"
    is_expert = np.arange(n) >= settings.n_crowd
    confusions = crowd.copy()
    confusions[is_expert] = np.stack([expert_from(w) for w in crowd[is_expert]]) if settings.n_expert else 0
    order = rng.permutation(n)
    if n == 0:
        raise LabaldError("no workers: set workers.n_crowd or workers.n_expert above 0")
    return WorkerPool(confusions[order], is_expert[order], source, prior_row_total(counts),
                      seed if answer_seed is None else answer_seed)

