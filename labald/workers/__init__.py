"""Simulated annotators: who they are (confusion matrices) and how they answer.

Answers are common random numbers: the answer worker j gives to image i the r-th time it is asked
is fixed by (answer seed, i, j, r) through a counter-based draw (`pair_uniforms`), whatever sampler
asks and in whatever order. Two samplers run with one seed therefore face the same world of
answers, and differ only where they ask different pairs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from labald import checks, streams
from labald.annotations import Annotations
from labald.data import kinds
from labald.data.amt import AmtData
from labald.data.pool import Pool
from labald.data.subtasks import CROWD_ACCURACY
from labald.errors import LabaldError
from labald.workers.crowd import amt_crowd, expert_from, from_log_counts, prior_row_total, synthetic_crowd
from labald.workers.dynamics import DynamicsSettings, WorkerDynamics, occurrence_of

__all__ = ["WorkerSettings", "AnswerSource", "WorkerPool", "build_workers", "pair_uniforms"]

log = logging.getLogger(__name__)

DEFAULT_SYNTHETIC_ACCURACY = 0.7
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a bijective mix of 64-bit words whose
    outputs pass BigCrush; uint64 arithmetic wraps, as the algorithm intends."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def pair_uniforms(key: int, images: np.ndarray, workers: np.ndarray, repeats: np.ndarray) -> np.ndarray:
    """One uniform in [0, 1) per (image, worker, repeat), a pure function of the four: a counter-based
    generator (the key and each coordinate folded in by splitmix64 steps), so a draw never depends on
    which other pairs were drawn, or when."""
    with np.errstate(over="ignore"):
        h = np.full(len(images), np.uint64(key), dtype=np.uint64)
        for coordinate in (images, workers, repeats):
            h = _splitmix64(h + (np.asarray(coordinate, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def occurrence(images: np.ndarray, workers: np.ndarray) -> np.ndarray:
    """How many times each (image, worker) pair occurred earlier in the arrays: 0, 1, 2, ..."""
    if len(images) == 0:
        return np.zeros(0, dtype=np.int64)
    return occurrence_of(np.asarray(images, dtype=np.int64) * (int(np.max(workers)) + 1)
                         + np.asarray(workers, dtype=np.int64))


@dataclass(frozen=True)
class WorkerSettings(DynamicsSettings):
    """`workers.*` config keys, with how the workers' skills change (`DynamicsSettings`)."""

    source: str = "amt"  # amt | synthetic
    n_crowd: int = 50
    n_expert: int = 10
    mean_accuracy: float | None = None  # synthetic crowd; None = the subtask's AMT figure (0.7 otherwise)
    per_worker_per_step: int | str | None = None  # None = ceil(2B / M); "none" = no per-step cap
    max_per_worker: int | None = None  # None = no total cap
    cost_crowd: float = 1.0  # money per answer of a crowd worker (labald.costs); a replayed log's workers too
    cost_expert: float = 1.0  # money per answer of a hired expert

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.choice("workers.source", self.source, ("amt", "synthetic"))  # labelme: an alias (labald.config)
        checks.integer("workers.n_crowd", self.n_crowd, 0)
        checks.integer("workers.n_expert", self.n_expert, 0)
        if self.n_crowd + self.n_expert < 1:
            raise LabaldError("workers.n_crowd + workers.n_expert is 0; at least one worker is needed")
        if self.mean_accuracy is not None:
            checks.open_unit("workers.mean_accuracy", self.mean_accuracy)
        cap = self.per_worker_per_step  # "none": no per-step cap (the paper names none)
        if cap != "none" and (cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1)):
            raise LabaldError(f"workers.per_worker_per_step={cap!r} is invalid; it must be an integer >= 1, null "
                              "(ceil(2B/M), the default) or none (no per-step cap)")
        checks.integer("workers.max_per_worker", self.max_per_worker, 1, optional=True)
        checks.number("workers.cost_crowd", self.cost_crowd, 0.0, strict=True)
        checks.number("workers.cost_expert", self.cost_expert, 0.0, strict=True)


SourceKind = Literal["simulated", "replay", "campaign"]


class AnswerSource(Protocol):
    """Who answers the loop's chosen pairs: the simulated crowd (`WorkerPool`), a replayed log
    (`labald.workers.replay.ReplayWorkers`) or a real campaign's crowd (`labald.cli.campaign`).
    Everything the loop, the experiment and the runner read of a source is declared here."""

    kind: SourceKind  # simulated: answers drawn from true confusions; replay: a log's; campaign: given, never asked
    source: str  # one line for the log and summary.json: who the workers are
    is_expert: np.ndarray  # [M] bool: hired experts (known to a campaign; a batch metric)
    confusions: np.ndarray | None  # [M, K, K] the workers' confusions (a log's estimated); None: unknown (a campaign)
    dynamics: WorkerDynamics | None  # how the workers' skills change during the run; None: they do not
    available_N_M: np.ndarray | None  # pairs that may be asked; None: all
    row_total: float  # EM prior pseudo-counts per confusion row (paper, appendix F)

    @property
    def n_workers(self) -> int: ...

    def answer(self, images: np.ndarray, workers: np.ndarray, history: Annotations | None = None,
               step: int = 1) -> np.ndarray:
        """[P] the answers of worker `workers[p]` on image `images[p]`, asked in `step` after the
        answers in `history` (what a crowd whose skills change answers with)."""
        ...


class WorkerPool:
    """The simulated crowd: M workers with true confusions [M, K, K] who answer the pool's images
    (whose true labels only they and the evaluator hold) from one world of answers, keyed by `seed`."""

    kind: SourceKind = "simulated"

    def __init__(self, confusions: np.ndarray, is_expert: np.ndarray, source: str, row_total: float, seed: int,
                 true_labels: np.ndarray, dynamics: DynamicsSettings | None = None):
        self.confusions = confusions  # base matrices: the static crew's, where a dynamic starts from
        self._true_labels = np.asarray(true_labels, dtype=np.int64)
        self.is_expert = is_expert
        self.source = source
        self.row_total = row_total  # prior pseudo-counts per row for EM (paper, appendix F)
        self.available_N_M: np.ndarray | None = None  # pairs that may be asked; None = all (simulation)
        self._key = int(np.random.SeedSequence([seed, streams.ANSWERS]).generate_state(1, dtype=np.uint64)[0])
        self.dynamics = None if dynamics is None or dynamics.is_static else \
            WorkerDynamics(dynamics, confusions, is_expert, seed)

    @property
    def n_workers(self) -> int:
        return len(self.confusions)

    def answer(self, images: np.ndarray, workers: np.ndarray, history: Annotations | None = None, step: int = 1,
               *, repeats: np.ndarray | None = None) -> np.ndarray:
        """z ~ Categorical(W_j[y_true, :]) for each (image, worker) pair, by inverting the row's CDF at
        the pair's own uniform (`pair_uniforms`). `repeats` counts how often each pair was asked
        before; by default a pair's earlier occurrences in this call (0 for pairs asked once).
        With changing skills (`labald.workers.dynamics`), W_j is the worker's matrix at `step` after
        the answers in `history` (none: a fresh crew) and its earlier answers in this call."""
        images, workers = np.asarray(images, dtype=np.int64), np.asarray(workers, dtype=np.int64)
        if repeats is None:
            repeats = occurrence(images, workers)
        labels = self._true_labels[images]
        if self.dynamics is None:
            rows = self.confusions[workers, labels]
        else:
            done = history if history is not None else Annotations(len(self._true_labels), self.n_workers)
            rows = self.dynamics.rows(workers, labels, done.step, done.worker, step)
        cdf = np.cumsum(rows, axis=1)
        u = pair_uniforms(self._key, images, workers, repeats)[:, None] * cdf[:, -1:]
        return np.minimum((u >= cdf).sum(axis=1), cdf.shape[1] - 1).astype(np.int64)


def is_wnid(name: str) -> bool:
    """Whether a class name is an ImageNet wnid (`n` and 8 digits), which asks for the AMT crowd."""
    return re.fullmatch(r"n\d{8}", str(name).lower()) is not None


def build_workers(settings: WorkerSettings, pool: Pool, amt: AmtData | None, seed: int,
                  answer_seed: int | None = None) -> AnswerSource:
    """The run's crowd (AMT workers and experts as in the paper, appendix F); ids shuffled per seed,
    their world of answers keyed by `answer_seed` (default: `seed`).

    `workers=amt` (the default) asks for the real crowd of the pool's classes: the workers that
    come with the data (LabelMe's), else, when every class is named by an ImageNet wnid, Liao et
    al.'s AMT workers of the group that covers them (a wnid they never saw, or classes of two groups,
    is an error); classes with other names (a folder of cats and owls) get the synthetic crowd, with
    one info line. `workers=synthetic` always gets the synthetic crowd, and so does a pool whose kind
    has no AMT workers (digits). A pool whose kind replays a log gets the log's workers
    (`labald.workers.replay`): who answers is the pool's kind (`labald.data.kinds`)."""
    crowd_kind = pool.kind.crowd
    if crowd_kind == kinds.LOG:
        from labald.workers.replay import replay_workers

        return replay_workers(pool)
    rng = np.random.default_rng([seed, streams.CROWD])
    counts, n_crowd = None, settings.n_crowd
    real = settings.source == "amt"  # workers=labelme arrives as amt (labald.config.settings_from_config)
    amt_answers = crowd_kind == kinds.SIMULATED  # Liao et al.'s workers may have seen its classes
    if real and crowd_kind == kinds.OWN:
        # the data's own real workers, plus experts as in the paper, each the expert version of a real
        # worker drawn at random; `counts` stays None, so the EM prior's pseudo-counts per row are the
        # synthetic crowd's 20, near the AMT subtasks' 20-25 (the whole LabelMe log would give ~320, a
        # prior no answer could move)
        real_workers = from_log_counts(pool.crowd_counts)
        n_crowd = len(real_workers)
        picked = rng.choice(n_crowd, size=settings.n_expert, replace=settings.n_expert > n_crowd)
        crowd = np.concatenate([real_workers, real_workers[picked]])
        source = (f"the {n_crowd} real workers of the data, confusions estimated from their answers "
                  "(labald.workers.crowd.from_log_counts)")
    elif real and amt is not None and amt_answers and all(map(is_wnid, pool.class_names)):
        counts = amt.group_counts(amt.group_of(list(pool.class_names)), list(pool.class_names))
        crowd = amt_crowd(counts, n_crowd + settings.n_expert, rng)
        source = f"AMT workers of Liao et al. ({amt.origin}), {len(counts)} real annotators in the group"
    else:
        accuracy = settings.mean_accuracy or CROWD_ACCURACY.get(pool.name, DEFAULT_SYNTHETIC_ACCURACY)
        crowd = synthetic_crowd(pool.similarity, n_crowd + settings.n_expert, accuracy, rng)
        reason = ("workers=synthetic" if not real else f"{pool.kind.name} has no AMT data" if not amt_answers else
                  "no AMT counts given" if amt is None else "classes that are not ImageNet wnids")
        source = f"synthetic crowd, mean accuracy {accuracy:.2f} ({reason})"
        if real and amt is not None and amt_answers:
            log.info("workers: the classes of %s are not ImageNet wnids, so no real crowd answered them; a "
                     "synthetic crowd answers (mean accuracy %.2f; workers=synthetic says so in the run name)",
                     pool.name, accuracy)
    n = n_crowd + settings.n_expert
    is_expert = np.arange(n) >= n_crowd
    confusions = crowd.copy()
    confusions[is_expert] = np.stack([expert_from(w) for w in crowd[is_expert]]) if settings.n_expert else 0
    order = rng.permutation(n)
    if n == 0:
        raise LabaldError("no workers: set workers.n_crowd or workers.n_expert above 0")
    return WorkerPool(confusions[order], is_expert[order], source, prior_row_total(counts),
                      seed if answer_seed is None else answer_seed, pool.labels, settings)

