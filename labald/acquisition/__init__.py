"""Acquisition scores of image-worker pairs: global and local influence and LA-BALD, their sum (paper, appendix B.1)."""

from labald.acquisition.gain import expected_accuracy_gain, expected_brier_gain, expected_truth_gain
from labald.acquisition.overlap import jaccard, top_k_jaccard, top_k_sets
from labald.acquisition.posterior import annotation_posterior
from labald.acquisition.scores import (
    InfluenceScores,
    global_influence,
    influence_ranking,
    influence_scores,
    la_bald,
    local_influence,
)

__all__ = [
    "InfluenceScores",
    "expected_accuracy_gain",
    "expected_brier_gain",
    "expected_truth_gain",
    "annotation_posterior",
    "global_influence",
    "influence_ranking",
    "influence_scores",
    "la_bald",
    "local_influence",
    "jaccard",
    "top_k_jaccard",
    "top_k_sets",
]
