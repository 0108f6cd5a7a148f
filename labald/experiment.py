"""Everything a run is made of, built once from its settings: pool, workers, learner, sampler."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch

from labald import streams
from labald.aggregation import dirichlet_prior
from labald.costs import worker_costs
from labald.data import Pool, dataset_kind, load_pool
from labald.data.amt import AmtData, amt_file, load_amt
from labald.device import pin_numerics, resolve_device
from labald.errors import LabaldError
from labald.learner import CrossFitLearner, split_prototypes
from labald.methods import CUSTOM, ORACLE, skill_of
from labald.metrics import Evaluator
from labald.samplers import JaccardOverlaps, Sampler, ScoreOptions, compose, uses_influence
from labald.samplers.custom import make_custom_sampler
from labald.samplers.observers import BatchObserver
from labald.samplers.oracle import TruthGain
from labald.samplers.skill import EMSkill, GroupSkill, OneCoinSkill, OracleSkill, SkillModel
from labald.settings import RunSettings
from labald.workers import AnswerSource, build_workers

log = logging.getLogger("labald")


@dataclass(kw_only=True)
class Experiment:
    settings: RunSettings
    pool: Pool
    workers: AnswerSource  # who answers the chosen pairs: the simulated crowd, a replayed log, a campaign's crowd
    evaluator: Evaluator  # the metrics that need the true labels (none on a real campaign)
    sampler: Sampler
    observers: tuple[BatchObserver, ...]  # batch diagnostics recorded each step (labald.samplers.observers)
    learner: CrossFitLearner | None
    alpha_K_K: np.ndarray  # Dirichlet prior of every worker's confusion (paper, appendix F)
    prior_accuracy: float | np.ndarray  # the prior's diagonal: one number, or [K] (prior_diagonal=per_class)
    x_pool: torch.Tensor  # [N, D] float32, on the run's device
    train_prototypes: np.ndarray  # indices into the prototypes: the half that trains, the other validates
    val_prototypes: np.ndarray  # the other half

    @property
    def joint(self) -> bool:
        """Whether the run records the Jaccard overlaps of its top pairs."""
        return any(isinstance(o, JaccardOverlaps) for o in self.observers)

    @functools.cached_property
    def folds(self) -> np.ndarray:
        """The cross-fitting fold of every pool image (all 0 with one model or none)."""
        if self.learner is None:
            return np.zeros(self.pool.n_images, dtype=np.int64)
        return self.learner.folds(self.pool.n_images)

    @functools.cached_property
    def cost_M(self) -> np.ndarray:
        """[M] money per answer of each worker (`labald.costs.worker_costs`): experts' price for the
        hired experts, the crowd's for everyone else."""
        w = self.settings.workers
        return worker_costs(self.workers.is_expert, w.cost_crowd, w.cost_expert)

    @property
    def capacity_per_step(self) -> int:
        """Per-worker tasks per step: the configured value, else ceil(2B / M) (the paper names no cap); a replayed log
        says itself who can answer what, so there the default is no per-step cap."""
        configured = self.settings.workers.per_worker_per_step
        if configured == "none" or (configured is None and self.workers.available_N_M is not None):
            return self.settings.batch_size  # the literal paper: a worker may take the whole batch
        return configured or -(-2 * self.settings.batch_size // self.workers.n_workers)


def build_experiment(settings: RunSettings) -> Experiment:
    """Load data and workers, and set up the learner and sampler; logs where the data come from."""
    amt = _load_amt_if_wanted(settings)
    pool = load_pool(settings.dataset, amt, settings.seed, settings.device, settings.data_dir)
    workers = build_workers(settings.workers, pool, amt, settings.seed, answer_seed=settings.answer_seed)
    log.info("data: %s: %d images, %d classes, %d prototypes", pool.source, pool.n_images,
             pool.n_classes, len(pool.prototype_labels))
    log.info("workers: %d (%d experts), %s", workers.n_workers, int(workers.is_expert.sum()), workers.source)
    knows_truth = ORACLE in (settings.method, settings.acquisition.worker_skill)
    if knows_truth and workers.dynamics is not None:
        log.warning("workers.dynamics=%s: the oracle knows the workers' base skills, not the changed ones, "
                    "so it is no longer a bound", settings.workers.dynamics)
    agg = settings.aggregation
    diagonals = np.diagonal(workers.confusions, axis1=1, axis2=2)  # [M, K]
    if agg.prior_accuracy is not None:
        accuracy = agg.prior_accuracy
    elif agg.prior_diagonal == "per_class":
        accuracy = diagonals.mean(axis=0)  # [K]: each class's mean accuracy over the workers
    else:
        accuracy = float(diagonals.mean())
    alpha = dirichlet_prior(pool.n_classes, accuracy, workers.row_total, agg.prior_strength)
    n_train = settings.dataset.n_prototypes // 2
    split_rng = np.random.default_rng([settings.seed, streams.PROTOTYPES])
    train_idx, val_idx = split_prototypes(pool.prototype_labels, n_train, split_rng)
    learner = None
    device = resolve_device(settings.device)
    pin_numerics(device)
    if settings.learner is not None:
        learner = CrossFitLearner(settings.learner, pool.features.shape[1], pool.n_classes, settings.luck_seed,
                                  device)
        log.info("device: %s (learner, MC inference, scoring)", device)
    return Experiment(
        settings=settings, pool=pool, workers=workers, evaluator=Evaluator(pool.labels, settings.confidence),
        sampler=build_sampler(settings, workers, truth_N=pool.labels), observers=build_observers(settings),
        learner=learner, alpha_K_K=alpha, prior_accuracy=accuracy, x_pool=torch.from_numpy(pool.features).to(device),
        train_prototypes=train_idx, val_prototypes=val_idx,
    )


def build_sampler(settings: RunSettings, workers: AnswerSource | None = None,
                  skill_groups_M: np.ndarray | None = None, truth_N: np.ndarray | None = None) -> Sampler:
    """The sampler `method` names, composed from its pair score, the skill model of
    `acquisition.worker_skill` and its assignment rule (`acquisition.assignment` for the methods that
    take pairs by score). `oracle` reads the simulated crew's true skills (each worker's mean true
    accuracy) from `workers`: a bound for simulations; `acquisition.skill_groups=experts` which workers
    are experts (a campaign knows whom it hired), or `skill_groups_M` (a campaign roster's groups).
    `method=oracle` scores with the true labels `truth_N` and the crew's true confusions: a bound."""
    acq = settings.acquisition
    if settings.method == CUSTOM:
        return make_custom_sampler(settings.sampler, settings.sampler_options)
    skill: SkillModel = EMSkill()
    worker_skill, skill_groups = skill_of(settings.method, acq.worker_skill, acq.skill_groups)
    if worker_skill == "oracle":
        if workers is None or workers.confusions is None:
            raise LabaldError("acquisition.worker_skill=oracle needs the simulated crew's true skills; "
                              "a campaign has none")
        skill = OracleSkill(np.diagonal(workers.confusions, axis1=1, axis2=2).mean(axis=1))
    elif worker_skill in ("one_coin", "group"):
        if skill_groups_M is None and skill_groups == "experts" and workers is not None:
            skill_groups_M = workers.is_expert.astype(np.int64)  # who was hired as an expert: known
        skill = OneCoinSkill(skill_groups_M) if worker_skill == "one_coin" else GroupSkill(skill_groups_M)
    score_function = None
    if settings.method == ORACLE:
        if workers is None or workers.confusions is None or truth_N is None:
            raise LabaldError("method=oracle scores with the simulation's true labels and worker skills; "
                              "a campaign has none")
        score_function = TruthGain(np.asarray(truth_N, dtype=np.int64), workers.confusions)
    return compose(settings.method, skill, acq.assignment, ScoreOptions(acq.local, acq.chunk, acq.prune),
                   acq.power_beta, score_function, acq.per_cost)


def build_observers(settings: RunSettings) -> tuple[BatchObserver, ...]:
    """The batch diagnostics the loop records each step: the Jaccard overlaps of the top pairs for
    the methods scored by global and local influence."""
    if settings.method != CUSTOM and uses_influence(settings.method):
        return (JaccardOverlaps(settings.acquisition.jaccard_ties),)
    return ()


def _load_amt_if_wanted(settings: RunSettings) -> AmtData | None:
    """The AMT counts (real crowd and sandbox geometry): the original from the data directory when
    there, else the embedded copy; none for a kind that reads none (`labald.data.kinds`: a replayed
    log or LabelMe, whose own workers answer)."""
    if not dataset_kind(settings.dataset.kind, settings.dataset.replay).reads_amt:
        return None
    return load_amt(amt_file(settings.data_dir))
