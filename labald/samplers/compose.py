"""The package's samplers as compositions (SPEC 5): a pair score x a worker-skill model x an
assignment rule, each a small named object.

- The pair score (`labald.samplers.pair_scores`) rates every valid pair from the beliefs: J-BALD's
  global influence, LA-BALD's global + local influence, EAG's expected accuracy gain, Liao et al.'s
  expected accuracy; SS has none.
- The worker-skill model (`labald.samplers.skill`) gives the confusions the score reads: EM's What,
  one-coin skills learned from the answers, or the simulated crew's true skills.
- The assignment rule (`labald.samplers.selection`) turns scores into a batch under the constraints:
  pairs greedily by score, a max-weight matching, random images each with its best worker, or
  PowerBALD's stochastic image order.

`METHOD_PARTS` says which score and assignment each built-in method is; any other registered pair
score is a method that takes its pairs by score. Batch diagnostics (the Jaccard overlaps of the top
pairs) are not the sampler's business: the loop's observers read the scores' parts afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from labald.samplers.base import Beliefs, Candidates, Selection
from labald.samplers.pair_scores import INFLUENCE_SCORES, PAIR_SCORES, PairScore, ScoreOptions
from labald.samplers.selection import ASSIGNMENTS, Assignment, PowerOrder
from labald.samplers.skill import EMSkill, SkillModel

# method -> (pair score or None, assignment rule); registered pair scores not listed here take
# their pairs by score ("greedy", or `acquisition.assignment`)
METHOD_PARTS: dict[str, tuple[str | None, str]] = {
    "ss": (None, "random_images"),
    "rand_i_greedy_w": ("rand_i_greedy_w", "random_images"),
    "j_bald": ("j_bald", "greedy"),
    "la_bald": ("la_bald", "greedy"),
    "eag": ("eag", "greedy"),
    "power_bald": ("j_bald", "power"),
}


def methods() -> tuple[str, ...]:
    """Every built-in method: the table's, then any other registered pair score."""
    return (*METHOD_PARTS, *(name for name in PAIR_SCORES if name not in METHOD_PARTS))


def parts(method: str) -> tuple[str | None, str]:
    """(pair score, assignment rule) of a built-in method."""
    return METHOD_PARTS.get(method, (method, "greedy"))


def uses_influence(method: str) -> bool:
    """Whether the method's score has the global and local influence as parts (the Jaccard columns;
    `acquisition.local` changes its results)."""
    return parts(method)[0] in INFLUENCE_SCORES


@dataclass(frozen=True, eq=False)
class ComposedSampler:
    """Score the pairs of the images that still have a valid pair with the skill model's confusions,
    then let the assignment rule take the batch. The Selection carries the scores for observers."""

    name: str
    score: PairScore | None
    assignment: Assignment
    skill: SkillModel = EMSkill()
    options: ScoreOptions = ScoreOptions()

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        start = time.perf_counter()
        scored, full = None, None
        if self.score is not None:
            valid = candidates.valid_N_M
            rows = np.flatnonzero(valid.any(axis=1))
            scored = self.score(beliefs, rows, self.skill.confusions(beliefs), self.options)
            full = scored.full(valid.shape)
        picked = time.perf_counter()
        images, workers = self.assignment(full, candidates, rng)
        return Selection(images, workers, None if full is None else full[images, workers],
                         seconds_scoring=picked - start if scored is not None else 0.0,
                         seconds_selection=time.perf_counter() - picked, pair_scores=scored)


def compose(method: str, skill: SkillModel | None = None, assignment: str = "greedy",
            options: ScoreOptions | None = None, power_beta: float = 1.0) -> ComposedSampler:
    """The built-in `method` with a skill model (EM's What by default) and, for a method that takes
    its pairs by score, `assignment` (greedy or matching)."""
    score, rule = parts(method)
    if rule == "greedy":
        rule = assignment
    chosen = PowerOrder(power_beta) if rule == "power" else ASSIGNMENTS[rule]
    return ComposedSampler(method, None if score is None else PAIR_SCORES[score], chosen, skill or EMSkill(),
                           options or ScoreOptions())
