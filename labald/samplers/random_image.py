"""Samplers that visit eligible images in random order: SS and Rand-I+Greedy-W (SPEC 5)."""

from __future__ import annotations

import time

import numpy as np

from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.selection import greedy_select


class StandardSampler:
    """SS (Liao et al.): eligible images uniformly at random, each with a random available worker."""

    name = "ss"

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        n, m = candidates.asked_N_M.shape
        images, workers = greedy_select(
            np.zeros((n, m)), candidates.valid_N_M, candidates.capacity_M, candidates.batch_size, rng,
            image_priority_N=rng.random(n),
        )
        return Selection(images, workers, seconds_selection=time.perf_counter() - start)


class RandomImageGreedyWorker:
    """Rand-I+Greedy-W (Liao et al.'s greedy task assignment): random images, each given the
    available worker with the highest expected accuracy on it, sum_y q_i(y) What_j[y, y]."""

    name = "rand_i_greedy_w"

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        diag_M_K = np.diagonal(beliefs.confusions_M_K_K, axis1=1, axis2=2)
        expected_accuracy = beliefs.posterior_N_K @ diag_M_K.T  # [N, M]
        scored = time.perf_counter()
        images, workers = greedy_select(
            expected_accuracy, candidates.valid_N_M, candidates.capacity_M, candidates.batch_size, rng,
            image_priority_N=rng.random(len(expected_accuracy)),
        )
        return Selection(
            images, workers, expected_accuracy[images, workers],
            seconds_scoring=scored - start, seconds_selection=time.perf_counter() - scored,
        )
