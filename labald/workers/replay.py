"""Replayed workers: the annotators of a real answer log, answering exactly what they logged.

An answer source (`labald.workers.AnswerSource`) of kind replay. Their confusions are estimated
from the log against the true labels (labald.workers.crowd.from_log_counts), for the run's EM
prior. Answers are never drawn: a pair's answer is the logged one.
"""

from __future__ import annotations

import numpy as np

from labald.annotations import Annotations
from labald.data.replay import ReplayPool
from labald.workers import SourceKind
from labald.workers.crowd import from_log_counts


class ReplayWorkers:
    """The M workers of a log; `available_N_M` marks the pairs whose answer the log holds."""

    kind: SourceKind = "replay"
    dynamics = None  # a log's answers were given as they were: no skill changes to simulate

    def __init__(self, answers_N_M: np.ndarray, true_labels_N: np.ndarray, n_classes: int, source: str):
        n, m = answers_N_M.shape
        if len(true_labels_N) != n:
            raise ValueError(f"true_labels_N must have {n} entries to match answers_N_M, got {len(true_labels_N)}")
        self._answers_N_M = answers_N_M
        self.available_N_M = answers_N_M >= 0
        counts = np.zeros((m, n_classes, n_classes))
        image, worker = np.nonzero(self.available_N_M)
        np.add.at(counts, (worker, true_labels_N[image], answers_N_M[image, worker]), 1.0)
        self.counts_M_K_K = counts
        self.confusions = from_log_counts(counts)
        self.is_expert = np.zeros(m, dtype=bool)
        self.source = source
        # EM prior pseudo-counts per row: a worker's answers per true class, averaged (as the AMT
        # matrices' mean row total sets it for the simulated crowd); at least 1.
        self.row_total = float(max(counts.sum(axis=2)[counts.sum(axis=2) > 0].mean(), 1.0)) if len(image) else 1.0

    @property
    def n_workers(self) -> int:
        return self._answers_N_M.shape[1]

    def answer(self, images: np.ndarray, workers: np.ndarray, history: Annotations | None = None,
               step: int = 1) -> np.ndarray:
        """The logged answers of the pairs (a log holds one answer a pair and was given when it was
        given, so `history` and `step` are unused); asking a pair the log lacks is a bug in the caller."""
        answers = self._answers_N_M[np.asarray(images, dtype=np.int64), np.asarray(workers, dtype=np.int64)]
        if (answers < 0).any():
            bad = int(np.argmax(answers < 0))
            raise ValueError(f"pair (image {images[bad]}, worker {workers[bad]}) is not in the answer log")
        return answers.astype(np.int64)


def replay_workers(pool: ReplayPool) -> ReplayWorkers:
    """The workers of a replay pool's log, confusions estimated against the pool's true labels."""
    answered = int((pool.answers_N_M >= 0).sum())
    return ReplayWorkers(
        pool.answers_N_M, pool.labels, pool.n_classes,
        f"replayed log: {len(pool.worker_ids)} real workers, {answered} logged answers on the pool's images",
    )
