"""Task samplers: which image-worker pairs to ask next.

Every built-in sampler is a composition (`labald.samplers.compose`): a pair score, a worker-skill
model and an assignment rule; `method=custom` runs a sampler a user brings (`labald.samplers.custom`).
"""

from labald.methods import uses_influence
from labald.samplers.base import Beliefs, Candidates, Sampler, Selection
from labald.samplers.compose import ComposedSampler, compose, methods
from labald.samplers.observers import JaccardOverlaps
from labald.samplers.pair_scores import PAIR_SCORES, PairScores, ScoreOptions, pair_score
from labald.samplers.selection import greedy_select

__all__ = ["PAIR_SCORES", "Beliefs", "Candidates", "ComposedSampler", "JaccardOverlaps", "PairScores", "Sampler",
           "ScoreOptions", "Selection", "compose", "greedy_select", "methods", "pair_score", "uses_influence"]
