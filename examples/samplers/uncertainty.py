"""A sampler of your own, in one short file: uncertainty sampling on the EM posterior.

    python run.py method=custom method.sampler=examples.samplers.uncertainty:UncertaintySampler dataset=digits
    python run.py method=custom method.sampler=examples.samplers.uncertainty:UncertaintySampler \\
        +method.options.worker=best dataset=digits

Each step it asks about the images whose aggregated label is least certain, 1 - max_y q_i(y) (q: EM's
posterior, the answers so far with the model as prior), each with one available worker: a random
one (`worker="random"`), or the one most likely to answer it right (`worker="best"`:
sum_y q_i(y) W_j[y, y], with W_j EM's estimate of worker j's confusion matrix). What the loop hands
a sampler and what it must return: docs/samplers.md.
"""

from __future__ import annotations

import time

import numpy as np

from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.selection import greedy_select


class UncertaintySampler:
    """The least certain images first, each with a random (or the best) available worker."""

    name = "uncertainty"

    def __init__(self, worker: str = "random"):
        if worker not in ("random", "best"):
            raise ValueError(f"worker must be 'random' or 'best', got {worker!r}")
        self.worker = worker

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        uncertainty_N = 1.0 - beliefs.posterior_N_K.max(axis=1)
        n, m = candidates.asked_N_M.shape
        if self.worker == "best":
            diag_M_K = np.diagonal(beliefs.confusions_M_K_K, axis1=1, axis2=2)
            worker_score_N_M = beliefs.posterior_N_K @ diag_M_K.T  # expected accuracy of each pair
        else:
            worker_score_N_M = np.zeros((n, m))  # ties: greedy_select breaks them at random
        scored = time.perf_counter()
        # images in descending uncertainty (random among equals), each taking its best valid worker,
        # under the loop's constraints (one pair per image, no repeated pair, worker capacities)
        images, workers = greedy_select(worker_score_N_M, candidates.valid_N_M, candidates.capacity_M,
                                        candidates.batch_size, rng, image_priority_N=uncertainty_N)
        return Selection(images, workers, uncertainty_N[images], seconds_scoring=scored - start,
                         seconds_selection=time.perf_counter() - scored)
