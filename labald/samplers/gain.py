"""EAG: pairs ranked by their expected accuracy gain (`labald.acquisition.gain`)."""

from __future__ import annotations

import time

import numpy as np
import torch

from labald.acquisition.gain import expected_accuracy_gain
from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.selection import greedy_select


class ExpectedAccuracyGain:
    """Every valid pair scored by g_ij = E_z[max_y q'_i(y | z)] - max_y q_i(y), the expected rise in
    the chance that image i's label is right after worker j answers, then the constrained greedy
    selection of every sampler (one pair per image per step, per-worker capacities, random ties).

    q_i is EM's posterior (the model's calibrated prediction as prior, the answers so far) and What
    EM's worker estimate, so the score sees both the model and the crowd. Only images with a valid
    pair are scored.
    """

    name = "eag"

    def __init__(self, chunk: int = 512):
        self.chunk = chunk

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        valid = candidates.valid_N_M
        rows = np.flatnonzero(valid.any(axis=1))
        gain = expected_accuracy_gain(torch.from_numpy(beliefs.posterior_N_K[rows]),
                                      torch.from_numpy(beliefs.confusions_M_K_K), self.chunk)
        full = np.full(valid.shape, -np.inf)
        full[rows] = gain.numpy()
        scored = time.perf_counter()
        images, workers = greedy_select(full, valid, candidates.capacity_M, candidates.batch_size, rng)
        return Selection(images, workers, full[images, workers], seconds_scoring=scored - start,
                         seconds_selection=time.perf_counter() - scored)
