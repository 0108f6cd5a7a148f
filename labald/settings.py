"""Typed run settings: one frozen dataclass per config group, each range-checking its own values
as it is built, and `RunSettings`, which holds them and checks what spans groups. Components only
ever see these dataclasses; `labald.config` builds them from a config mapping, `labald.identity`
names and fingerprints a run from them. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labald import checks, streams
from labald.data import DatasetSettings
from labald.errors import LabaldError
from labald.learner.settings import LearnerSettings
from labald.methods import CUSTOM, NAMES, custom_method_key, own_skill, parts
from labald.stopping import StoppingSettings
from labald.workers import WorkerSettings

LOCAL_FORMS = ("paper", "exact")
PRIOR_DIAGONALS = ("scalar", "per_class")
JACCARD_TIES = ("random", "index")
ASSIGNMENTS = ("greedy", "matching")
WORKER_SKILLS = ("em", "one_coin", "group", "oracle")
SKILL_GROUPS = ("none", "experts")


@dataclass(frozen=True)
class AggregationSettings:
    """`aggregation.*`: Dirichlet prior strength, EM iterations and tolerance, prior mean accuracy
    (None = the average per-class accuracy of the run's workers, as the paper sets it), and whether
    EM runs again after the learner is retrained (`reinfer`, Liao et al.'s order)."""

    prior_strength: float = 1.0
    max_iter: int = 10
    tol: float = 1e-3
    prior_accuracy: float | None = None
    reinfer: bool = True  # EM again after the learner is retrained, with the new model as prior
    # "average per-class accuracy" (paper, Sec. 4) read as one number (scalar: the mean over classes
    # and workers of W_j[k, k]) or as one per class (per_class: row k's diagonal is the mean over
    # workers of W_j[k, k]); ignored when prior_accuracy is given
    prior_diagonal: str = "scalar"
    # workers whose skill changes: each step's confusions estimated from every step's answers weighted
    # forgetting^(steps apart) (labald.aggregation.em); 1.0: one confusion per worker (the paper)
    forgetting: float = 1.0

    def __post_init__(self) -> None:
        checks.number("aggregation.prior_strength", self.prior_strength, 0.0)
        checks.integer("aggregation.max_iter", self.max_iter, 1)
        f = self.forgetting
        if not (isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1):
            raise LabaldError(f"aggregation.forgetting={f!r} is invalid; it must lie in (0, 1], e.g. 0.9 "
                              "(1: the paper's EM, one confusion per worker)")
        checks.number("aggregation.tol", self.tol, 0.0, strict=True)
        if self.prior_accuracy is not None:
            checks.open_unit("aggregation.prior_accuracy", self.prior_accuracy)
        checks.choice("aggregation.prior_diagonal", self.prior_diagonal, PRIOR_DIAGONALS)
        checks.boolean("aggregation.reinfer", self.reinfer)


@dataclass(frozen=True)
class AcquisitionSettings:
    """`acquisition.*`: form of the local influence and images per scoring block."""

    local: str = "paper"
    chunk: int = 2048
    # greedy J-BALD / LA-BALD score only the images whose score bound can reach the batch (the same
    # batch and Jaccard columns as scoring every image, faster); false scores every image
    prune: bool = True
    # ties in the top-k pair sets of the Jaccard columns: a seeded random order per ranking, as
    # selection breaks them (random), or by pair index (index)
    jaccard_ties: str = "random"
    # method=power_bald: images drawn with probability proportional to (best J-BALD score)^power_beta
    power_beta: float = 1.0
    # methods that take pairs by score (j_bald, la_bald, eag): greedily by score (the paper's rule), or the B pairs
    # of the largest total score under the same constraints (matching: a max-weight b-matching)
    assignment: str = "greedy"
    # methods with a pair score (all but ss): the worker confusions the score uses: EM's What (the paper's),
    # or What with each worker's diagonal set to its one-coin skill learned from the answers (one_coin;
    # labald.samplers.skill), or to the simulated crew's true skill (oracle: a bound, never available on
    # a real campaign), or each group's confusion pooled over its answers (group)
    worker_skill: str = "em"
    # with worker_skill=one_coin: one prior for the crew (none), or one per group of workers known in
    # advance (experts: hired experts and crowd, each with its own type-II-ML prior); with group: the
    # groups whose answers are pooled (none: the whole crew is one group)
    skill_groups: str = "none"
    # methods with a pair score (all but ss): rank pairs by score per unit of money, s_ij / c_j (the
    # worker's price, `workers.cost_crowd` / `cost_expert`), instead of by score (`PerCost`)
    per_cost: bool = False

    def __post_init__(self) -> None:
        checks.choice("acquisition.local", self.local, LOCAL_FORMS)
        checks.integer("acquisition.chunk", self.chunk, 1)
        checks.boolean("acquisition.prune", self.prune)
        checks.choice("acquisition.jaccard_ties", self.jaccard_ties, JACCARD_TIES)
        checks.number("acquisition.power_beta", self.power_beta, 0.0)
        checks.choice("acquisition.assignment", self.assignment, ASSIGNMENTS)
        checks.choice("acquisition.worker_skill", self.worker_skill, WORKER_SKILLS)
        checks.choice("acquisition.skill_groups", self.skill_groups, SKILL_GROUPS)
        checks.boolean("acquisition.per_cost", self.per_cost)
        if self.skill_groups != "none" and self.worker_skill not in ("one_coin", "group"):
            raise LabaldError(f"acquisition.skill_groups={self.skill_groups} needs acquisition.worker_skill="
                              "one_coin or group (the groups set the skills' priors or pools)")


@dataclass(frozen=True)
class RunSettings:
    """One run: its seed and method, each group's settings, and the protocol (batch, caps,
    confidence, where results go)."""

    seed: int
    method: str
    dataset: DatasetSettings
    workers: WorkerSettings
    aggregation: AggregationSettings
    learner: LearnerSettings | None  # None: learner=none, uniform prior
    acquisition: AcquisitionSettings
    stopping: StoppingSettings
    batch_size: int = 100
    # None: B pairs every step. b: step 1 asks b pairs, each later step twice its predecessor, up to B
    # (`step_batch`): the first retrainings lift the labels by themselves, with or without answers
    batch_ramp: int | None = None
    max_per_image: int = 3
    confidence: float = 0.9
    max_steps: int = 10_000
    results_dir: str = "results"
    data_dir: str | None = None
    run_dir: str | None = None  # None: <results_dir>/runs/<dataset>/<method>/seed=<seed>
    threads: int | None = None  # torch/BLAS threads; None: all cores, or a sweep job's share (run.py)
    device: str = "auto"  # auto | cpu | cuda: where the learner and the scoring run (labald.device)
    # 0: the seed's world of answers. r > 0: another world on the same pool, crowd and prototype split
    # (every pair's answer drawn anew); the runs of all samplers with one replicate share it
    replicate: int = 0
    # 0: the seed's own luck. r > 0: the same world with other luck in what the run itself draws
    # (selection ties, the learner's initialisation, batches, dropout and folds): a sampler against
    # itself on one world, the A/A check of a paired comparison
    rerun: int = 0
    # method=custom: the sampler's class, `module:Class`, and its constructor's keyword arguments
    sampler: str | None = None
    sampler_options: tuple[tuple[str, Any], ...] = ()

    @property
    def method_key(self) -> str:
        """The method as figures and tables name it: `method`, or a custom sampler's `module.Class[...]`."""
        if self.method == CUSTOM:
            return custom_method_key(self.sampler, self.sampler_options)
        return self.method

    @property
    def answer_seed(self) -> int:
        """The key of the world of answers: `seed` for replicate 0, else derived from (seed, replicate)."""
        return _derived(self.seed, streams.REPLICATE, self.replicate)

    @property
    def luck_seed(self) -> int:
        """The seed of the run's own draws (selection, learner): `seed` for rerun 0, else derived from
        (seed, rerun)."""
        return _derived(self.seed, streams.RERUN, self.rerun)

    def __post_init__(self) -> None:
        checks.integer("seed", self.seed, 0)
        checks.integer("replicate", self.replicate, 0)
        checks.integer("rerun", self.rerun, 0)
        checks.integer("batch_size", self.batch_size, 1)
        checks.integer("batch_ramp", self.batch_ramp, 1, optional=True)
        if self.batch_ramp is not None and self.batch_ramp > self.batch_size:
            raise LabaldError(f"batch_ramp={self.batch_ramp} is larger than batch_size={self.batch_size}; the ramp "
                              "starts below B (e.g. batch_ramp=1) or is null")
        checks.integer("max_per_image", self.max_per_image, 1)
        checks.open_unit("confidence", self.confidence)
        checks.integer("max_steps", self.max_steps, 1)
        checks.integer("threads", self.threads, 1, optional=True)
        budget = self.stopping.annotations_per_image
        if self.stopping.rule == "budget" and budget > self.max_per_image:
            raise LabaldError(f"stopping.annotations_per_image={budget} exceeds max_per_image={self.max_per_image}; "
                              "lower the budget or raise max_per_image")
        self._check_method()

    def _check_method(self) -> None:
        """The acquisition options against the method: each option only for the methods it changes."""
        acq = self.acquisition
        score, rule = (None, None) if self.method == CUSTOM else parts(self.method)
        if self.method != CUSTOM:
            if acq.assignment != "greedy" and rule != "greedy":
                takers = ", ".join(m for m in NAMES if parts(m)[1] == "greedy")
                raise LabaldError(f"acquisition.assignment={acq.assignment} is for methods that take pairs by score "
                                  f"({takers}); method={self.method} assigns {rule.replace('_', ' ')}")
            if acq.worker_skill != "em" and score is None:
                raise LabaldError(f"acquisition.worker_skill={acq.worker_skill} changes a pair score's worker "
                                  f"confusions; method={self.method} has no score")
        if acq.per_cost and score is None:
            raise LabaldError(f"acquisition.per_cost=true ranks a pair score per unit of money; method={self.method} "
                              "has no score of the package's (a custom sampler reads candidates.cost_M itself)")
        skill = own_skill(self.method)
        if skill and (acq.worker_skill, acq.skill_groups) != ("em", "none"):
            raise LabaldError(f"method={self.method} scores with worker_skill={skill[0]} and skill_groups={skill[1]} "
                              "by definition; leave acquisition.worker_skill and skill_groups unset, or take method="
                              f"{parts(self.method)[0]} with the skill model you want")


# The config groups: a group's name to its settings class (`learner` may also be none).
GROUPS: dict[str, type] = {"dataset": DatasetSettings, "workers": WorkerSettings, "aggregation": AggregationSettings,
                           "learner": LearnerSettings, "acquisition": AcquisitionSettings,
                           "stopping": StoppingSettings}
# Top-level settings a config may set (the rest of RunSettings' fields are groups or method's).
TOP_LEVEL = ("batch_size", "batch_ramp", "max_per_image", "confidence", "max_steps", "results_dir", "data_dir",
             "run_dir", "threads", "device", "replicate", "rerun")


def defaults(group: str, **values: Any):
    """The settings of `group` at their defaults (a dataset needs its name: `defaults("dataset", name=...)`)."""
    if group == "dataset":
        values.setdefault("name", "")
    return GROUPS[group](**values)


def _derived(seed: int, purpose: int, index: int) -> int:
    """`seed` itself for index 0, else a 63-bit seed drawn from (seed, purpose, index)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, purpose, index]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
