"""A real campaign's state, rebuilt from its answer log by replaying the online loop round by round.

The loop's state after step s depends on every earlier step: EM is warm-started from the previous
confusions with the previous model as prior, and the learner is warm-started and kept only when
its validation loss improves. So `propose` and `aggregate` do not guess a state from the answers
at once: they run the loop's own steps (`initial_state`, `advance`), each given round r's logged
pairs and answers (`labald.loop.Round`). Nobody knows the true labels, so the pool has none and the
evaluator's columns stay empty. With the same settings and seed, a campaign driven through CSV files
therefore has exactly the in-process loop's state; the EM prior is one of those settings, so that
holds with `--prior-accuracy` (the simulator's symmetric prior), while by default a campaign takes the
prior's mean from its own log (`crowd_confusion`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from labald import streams
from labald.aggregation import EMOptions, dawid_skene, prior_mean
from labald.annotations import Annotations
from labald.cli.io import Campaign
from labald.data import DatasetSettings, Pool, dataset_kind
from labald.data.features import prepare_features
from labald.errors import LabaldError
from labald.experiment import Experiment, build_observers, build_sampler
from labald.learner import CrossFitLearner, LearnerSettings, split_prototypes
from labald.loop import LoopState, Round, advance, aggregate, initial_state, retrain_on_confident
from labald.metrics import Evaluator
from labald.settings import AcquisitionSettings, AggregationSettings, RunSettings
from labald.stopping import StoppingSettings
from labald.workers import SourceKind, WorkerSettings
from labald.workers.crowd import SYNTHETIC_ROW_TOTAL

log = logging.getLogger("labald")

DEFAULT_PRIOR_ACCURACY = 0.7  # the prior mean accuracy of a worker without gold answers to estimate it
# EM iterations at most for the crowd's one confusion matrix (`crowd_confusion`): run to `tol`, which took
# 9-19 on the logs measured; one matrix, so cheap
CROWD_MAX_ITER = 100


@dataclass(frozen=True)
class Options:
    """What the command line sets; the rest are the run defaults (configs/)."""

    seed: int = 0
    method: str = "la_bald"  # a built-in method, or custom: `sampler`, a sampler a user brings
    sampler: str | None = None  # method=custom: its class, module:Class
    batch_size: int = 100
    max_per_image: int = 3
    confidence: float = 0.9
    prior_strength: float = 1.0
    prior_accuracy: float | None = None  # None: the prior's mean is the crowd's confusion (`crowd_confusion`)
    learner: bool = True
    epochs: int = 50  # learner.max_epochs
    worker_skill: str = "em"  # acquisition.worker_skill (propose)
    standardize: bool = True  # z-score each feature column (dataset.standardize)
    skill_groups: str = "none"  # acquisition.skill_groups: "experts" when the roster gives groups


def prior_accuracy(campaign: Campaign, options: Options) -> float:
    """The given value, else the mean per-class accuracy of the answers on gold tasks, else 0.7: the
    diagonal of the symmetric prior (the workers' with --prior-accuracy, else `crowd_confusion`'s)."""
    if options.prior_accuracy is not None:
        return options.prior_accuracy
    if len(campaign.gold_truth) == 0:
        return DEFAULT_PRIOR_ACCURACY
    correct = campaign.gold_answer == campaign.gold_truth
    per_class = [correct[campaign.gold_truth == y].mean() for y in np.unique(campaign.gold_truth)]
    k = len(campaign.classes)
    return float(np.clip(np.mean(per_class), 1.0 / k + 1e-3, 0.99))


def prior_alpha(campaign: Campaign, options: Options) -> tuple[np.ndarray, np.ndarray | float]:
    """The Dirichlet prior alpha [K, K] every worker's confusion starts from, and its diagonal.

    With --prior-accuracy: the simulator's prior, that accuracy on the diagonal and the errors spread
    evenly. Without it the prior's mean is the crowd's own confusion (`crowd_confusion`); either way
    `prior_strength` x SYNTHETIC_ROW_TOTAL pseudo-answers per row.
    """
    k, accuracy = len(campaign.classes), prior_accuracy(campaign, options)
    total = options.prior_strength * SYNTHETIC_ROW_TOTAL
    symmetric = total * prior_mean(k, accuracy)
    if options.prior_accuracy is not None:
        return symmetric, accuracy
    mean = crowd_confusion(campaign, symmetric, accuracy)
    return total * mean, np.diagonal(mean).copy()


def crowd_confusion(campaign: Campaign, alpha_K_K: np.ndarray, accuracy: float) -> np.ndarray:
    """[K, K] the crowd's confusion: Dawid-Skene EM over the log as if one worker gave every answer,
    under the prior `alpha_K_K`, started at `accuracy` on the diagonal, with no model; each answer on a
    gold task takes part as a task whose prior is its known class, so it counts under that class.

    Why: a symmetric prior holds every class equally hard and spreads a worker's errors evenly over the
    other classes, but a real crowd shares its confusions (LabelMe-AMT: 92% of the wrong answers on tall
    buildings say inside city, 83% of those on streets; accuracy .52-.97 by class), and with a few
    answers per worker and class the prior, not the worker, sets those rows. One matrix for the whole
    log is pinned down by hundreds of answers a row, so each worker is shrunk towards the crowd, as
    labald's estimates of real workers from a log with known truth are
    (labald.workers.crowd.from_log_counts). One matrix is fitted rather than each worker's pooled, in
    which a worker's own answers confirm themselves and inflate the diagonal. Tasks with one answer are
    left out: under a uniform class prior a lone answer tells only how often each class is answered,
    not how it is confused, and EM would fit it by echoing its own start. With no task of 2+ answers
    and no gold answer it is the prior's mean.
    """
    n, k = len(campaign.task_ids), len(campaign.classes)
    n_gold = len(campaign.gold_truth)
    prior_N_K = np.concatenate([np.full((n, k), 1.0 / k), np.eye(k)[campaign.gold_truth]])  # a gold answer: a task
    several = np.bincount(campaign.image, minlength=n)[campaign.image] >= 2
    image = np.concatenate([campaign.image[several], n + np.arange(n_gold)])
    label = np.concatenate([campaign.label[several], campaign.gold_answer])
    return dawid_skene(image, np.zeros_like(image), label, prior_N_K, alpha_K_K, 1,
                       options=EMOptions(max_iter=CROWD_MAX_ITER, tol=AggregationSettings().tol,
                                         init_accuracy=accuracy)).confusions[0]


def build(campaign: Campaign, options: Options, n_workers: int, groups_M: np.ndarray | None = None) -> Experiment:
    """An Experiment over the campaign's pool with the loop's settings, its real crowd and its sampler
    (`groups_M`: a roster's worker groups, the one-coin skill model's priors)."""
    n, k = len(campaign.task_ids), len(campaign.classes)
    if n == 0:
        raise LabaldError("there is no task to label: every task is a gold task")
    use_learner = options.learner and campaign.features is not None
    train_idx = val_idx = np.zeros(0, dtype=np.int64)
    if use_learner:
        train_idx, val_idx = _split_gold(campaign, options.seed)
        use_learner = train_idx is not None
    features = campaign.features if campaign.features is not None else np.zeros((n, 1), dtype=np.float32)
    protos = campaign.prototype_features
    if campaign.features is not None:  # one set of column statistics for tasks and gold, as for a features file
        both = prepare_features(np.concatenate([features, protos if protos is not None else features[:0]]),
                                options.standardize, "--features")
        features, protos = both[:n], (both[n:] if protos is not None else None)
    pool = Pool(
        name="campaign", class_names=tuple(campaign.classes), features=features,
        labels=None,  # nobody knows them
        prototype_features=protos if protos is not None else np.zeros((0, features.shape[1]), np.float32),
        prototype_labels=campaign.prototype_labels, similarity=np.zeros((k, k)), source="campaign files",
        kind=dataset_kind("custom"),  # features files, as its settings' dataset says
    )
    settings = RunSettings(
        seed=options.seed, method=options.method, sampler=options.sampler,
        dataset=DatasetSettings(name="campaign", kind="custom"),
        workers=WorkerSettings(), aggregation=AggregationSettings(prior_strength=options.prior_strength),
        learner=LearnerSettings(max_epochs=options.epochs) if use_learner else None,
        acquisition=AcquisitionSettings(worker_skill=options.worker_skill, skill_groups=options.skill_groups),
        stopping=StoppingSettings(), batch_size=options.batch_size, max_per_image=options.max_per_image,
        confidence=options.confidence,
    )
    alpha, accuracy = prior_alpha(campaign, options)
    learner = CrossFitLearner(settings.learner, features.shape[1], k, options.seed) if use_learner else None
    return Experiment(
        settings=settings, pool=pool, workers=CampaignCrowd(n_workers), evaluator=Evaluator(None, settings.confidence),
        sampler=build_sampler(settings, skill_groups_M=groups_M), observers=build_observers(settings), learner=learner,
        alpha_K_K=alpha, prior_accuracy=accuracy, x_pool=torch.from_numpy(features), train_prototypes=train_idx,
        val_prototypes=val_idx,
    )


def _split_gold(campaign: Campaign, seed: int):
    """The loop's prototype split: per class, half the gold tasks train and the rest validate.

    None (learner off, with a note) when some class has fewer than 2 gold tasks with features.
    """
    counts = np.bincount(campaign.prototype_labels, minlength=len(campaign.classes))
    if counts.min() < 2:
        short = campaign.classes[int(np.argmin(counts))]
        log.warning("the learner is off: it needs --prototypes with at least 2 gold tasks per class among the "
                    "--ids (half train, half validate); class %r has %d", short, int(counts.min()))
        return None, None
    return split_prototypes(campaign.prototype_labels, int(counts.min()) // 2,
                            np.random.default_rng([seed, streams.PROTOTYPES]))


class CampaignCrowd:
    """The real workers of a campaign: they answer outside labald (`labald propose` writes their tasks,
    the answers come back in the log), so a campaign's steps are given rounds, never asked. Nobody knows
    their confusions, and what their skills do is in their answers, not simulated."""

    kind: SourceKind = "campaign"
    source = "the campaign's real workers, answering outside labald"
    confusions = None
    dynamics = None
    available_N_M = None
    row_total = SYNTHETIC_ROW_TOTAL

    def __init__(self, n_workers: int):
        self.n_workers = n_workers
        self.is_expert = np.zeros(n_workers, dtype=bool)

    def answer(self, images: np.ndarray, workers: np.ndarray, history: Annotations | None = None,
               step: int = 1) -> np.ndarray:
        raise LabaldError("a campaign's workers answer outside labald: write their tasks with `labald propose` "
                          "and add their answers to the log")


def replay(exp: Experiment, campaign: Campaign) -> LoopState:
    """Step 0, then one loop step per round of the log (rounds in increasing order)."""
    state = initial_state(exp)
    for r in np.unique(campaign.round):
        mine = campaign.round == r
        advance(exp, state, "label", Round(campaign.image[mine], campaign.worker[mine], campaign.label[mine]))
    return state


def refine(exp: Experiment, state: LoopState, rounds: int) -> None:
    """`rounds` more EM solves without new answers, each with the latest model as prior; the learner
    retrains on the confident images between them (steps after the log's, for fresh seeds)."""
    for r in range(rounds):
        aggregate(exp, state)
        if r < rounds - 1 and exp.learner is not None:
            state.step += 1
            retrain_on_confident(exp, state)
