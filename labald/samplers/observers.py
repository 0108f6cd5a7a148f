"""Batch observers: diagnostics of a step's selection that the loop records beside the metrics,
computed after the sampler chose and never part of the choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from labald.acquisition import influence_ranking, jaccard, top_k_sets
from labald.samplers.base import Candidates, Selection


class BatchObserver(Protocol):
    def __call__(self, selection: Selection, candidates: Candidates, rng: np.random.Generator) -> dict[str, float]:
        """Named per-step values of the batch (columns of metrics.csv); `rng` is the step's selection
        stream after the sampler drew from it (spawn children from it; never draw from it directly)."""
        ...


JACCARD_TOP = 50  # appendix B.1 compares the top-50 pair sets


@dataclass(frozen=True)
class JaccardOverlaps:
    """Appendix B.1's overlaps of the top-50 valid pairs by LA-BALD (global + local), global and
    local influence: `jaccard_la_global`, `jaccard_la_local`, `jaccard_global_local`. Read from the
    parts of a selection's scores; nothing for samplers whose score has no such parts.

    `ties="random"` orders tied pairs in each ranking by a generator drawn from a child of the step's
    selection stream (so the selection's own draws are untouched); `"index"` by pair index."""

    ties: str = "random"

    def __call__(self, selection: Selection, candidates: Candidates, rng: np.random.Generator) -> dict[str, float]:
        scored = selection.pair_scores
        if scored is None or not {"global", "local"} <= set(scored.parts):
            return {}
        glob, local = scored.parts["global"], scored.parts["local"]
        valid_rows = torch.from_numpy(candidates.valid_N_M[scored.rows]).to(glob.device)
        generator = None
        if self.ties == "random":
            generator = torch.Generator().manual_seed(int(rng.spawn(1)[0].integers(2**62)))
        ranked = [influence_ranking(glob, local), glob, local]
        top_la, top_global, top_local = top_k_sets(ranked, JACCARD_TOP, valid_rows, generator)
        return {
            "jaccard_la_global": jaccard(top_la, top_global),
            "jaccard_la_local": jaccard(top_la, top_local),
            "jaccard_global_local": jaccard(top_global, top_local),
        }
