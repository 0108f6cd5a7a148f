"""The online labeling loop: select pairs, ask them, aggregate, retrain, record.

The loop never sees the true labels: the answer source (the simulated crowd, a replayed log) answers
the chosen pairs, and the evaluator (`labald.metrics.Evaluator`) scores the labels.

All of a run's mutable state lives in `LoopState`, saved after every completed step, so a killed
run resumes where it stopped. Answers are a pure function of (answer seed, image, worker) and every
other draw comes from a generator derived from (luck seed, step), so resuming needs no RNG state.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from labald import metrics, streams
from labald.aggregation import (
    EMOptions,
    EMResult,
    Forgetting,
    annotation_log_likelihood,
    confidence,
    dawid_skene,
    prior_mean,
)
from labald.annotations import Annotations
from labald.costs import affordable_answers, affordable_prefix, spent
from labald.errors import LabaldError
from labald.experiment import Experiment
from labald.learner import PoolPredictions, prototype_roles
from labald.methods import CUSTOM
from labald.samplers import Beliefs, Candidates, Selection
from labald.samplers.base import as_numpy, check_selection
from labald.settings import RunSettings
from labald.stopping import decide

log = logging.getLogger("labald")


@dataclass
class LoopState:
    """Everything that changes during a run."""

    step: int
    annotations: Annotations
    posterior_N_K: np.ndarray  # EM posterior q
    confusions_M_K_K: np.ndarray  # EM estimate What
    prior_N_K: np.ndarray  # the kept model's calibrated mean prediction (uniform without a learner)
    mc_step: int = -1  # step whose generator drew the kept model's MC predictions (-1: none)
    rows: list[dict] = field(default_factory=list)
    stop_reason: str | None = None
    mc: PoolPredictions | None = None  # the kept model's MC predictions, derived from the learner; not saved
    periods: np.ndarray | None = None  # aggregation.forgetting < 1: the steps with answers [P]
    period_confusions: np.ndarray | None = None  # ... and each one's confusions [P, M, K, K]


def initial_state(exp: Experiment) -> LoopState:
    """Step 0: no answers yet; the learner trains on the training prototypes alone."""
    n, k, m = exp.pool.n_images, exp.pool.n_classes, exp.workers.n_workers
    state = LoopState(
        step=0,
        annotations=Annotations(n, m),
        posterior_N_K=np.full((n, k), 1.0 / k),
        confusions_M_K_K=np.broadcast_to(prior_mean(k, exp.prior_accuracy), (m, k, k)).copy(),
        prior_N_K=np.full((n, k), 1.0 / k),
    )
    started = time.perf_counter()
    timing = retrain(exp, state, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    result = aggregate(exp, state)
    timing["seconds_em"] = result.seconds
    state.rows.append(_row(exp, state, result.em, "label", n_eligible=eligible(exp, state, "label").sum(),
                           timing=timing, started=started))
    return state


def most_steps(exp: Experiment) -> int:
    """Steps a run can take at most: every image answered up to its cap (or the budget, or as many
    of the cheapest answers as the money budget pays for), B a step."""
    s = exp.settings
    per_image = s.stopping.annotations_per_image if s.stopping.rule == "budget" else s.max_per_image
    if s.stopping.rule == "cost":
        per_image = min(per_image, s.stopping.cost_per_image / float(exp.cost_M.min()))
    return min(s.max_steps, math.ceil(per_image * exp.pool.n_images / s.batch_size))


def money_budget(exp: Experiment) -> float | None:
    """The run's budget in money, `stopping.cost_per_image` x N under stopping=cost, else None."""
    st = exp.settings.stopping
    return st.cost_per_image * exp.pool.n_images if st.rule == "cost" else None


def run_steps(exp: Experiment, state: LoopState, on_step=None, progress: bool = True,
              log_every: int = 0) -> LoopState:
    """Advance until a stopping rule fires; `on_step(state)` runs after every completed step.

    `progress`: a bar whose total is `most_steps` (the stopping rule usually fires well before; its
    ETA is an upper bound). `log_every` > 0: a log line every that many steps instead, for logs and
    pipes (step, annotations per image, label accuracy, eligible images, elapsed time)."""
    s = exp.settings
    bar = tqdm(initial=state.step, total=most_steps(exp), disable=not progress, unit="step",
               desc=f"{s.dataset.name}/{s.method_key} seed {s.seed} (steps at most)")
    started = time.perf_counter()
    try:
        while state.stop_reason is None:
            decision = decide(state.rows, s.stopping, s.batch_size, s.max_steps,
                              cheapest_per_image=float(exp.cost_M.min()) / exp.pool.n_images)
            if decision.stop is not None:
                state.stop_reason = decision.stop
                break
            if not advance(exp, state, decision.phase):
                state.stop_reason = "no eligible image-worker pair left"
                break
            row = state.rows[-1]
            bar.update(1)
            bar.set_postfix_str(
                f"ann/img {row['annotations_per_image']:.3f} acc {row['label_accuracy']:.3f} "
                f"eligible {row['n_eligible']}"
            )
            if log_every and state.step % log_every == 0:
                log.info("%s/%s seed %d: step %d, %.3f annotations/image, label accuracy %.4f, %d eligible, %.0f s",
                         s.dataset.name, s.method_key, s.seed, state.step, row["annotations_per_image"],
                         row["label_accuracy"], row["n_eligible"], time.perf_counter() - started)
            if on_step is not None:
                on_step(state)
    finally:
        bar.close()
    return state


@dataclass(frozen=True)
class Round:
    """A step whose pairs were chosen and answered outside the loop: a real campaign's logged round."""

    images: np.ndarray
    workers: np.ndarray
    labels: np.ndarray


def advance(exp: Experiment, state: LoopState, phase: str, given: Round | None = None) -> bool:
    """One step: select, answer, aggregate, retrain, re-aggregate with the new model as prior
    (`aggregation.reinfer`, as Liao et al. do, so the next selection, the stopping rule and the metrics
    see labels from the model just trained), record. The sampler chooses the pairs and the answer
    source (`exp.workers`) answers them, unless the step is `given` (a campaign's logged round).
    False if nothing could be asked."""
    s = exp.settings
    started = time.perf_counter()
    step = state.step + 1
    if given is None:
        used = state.annotations.per_worker()
        capacity = np.full(exp.workers.n_workers, exp.capacity_per_step)
        if s.workers.max_per_worker is not None:
            capacity = np.minimum(capacity, np.maximum(s.workers.max_per_worker - used, 0))
        selection = select_pairs(exp, state, phase, capacity, step)
        if len(selection.images) == 0:
            return False
        answers = exp.workers.answer(selection.images, selection.workers, history=state.annotations, step=step)
    else:
        selection, answers = Selection(given.images, given.workers), given.labels
    batch = {**metrics.batch_diagnostics(state.posterior_N_K, exp.workers.is_expert, selection.images,
                                         selection.workers),
             **exp.evaluator.answers(selection.images, answers)}
    state.annotations.add(selection.images, selection.workers, answers, step)
    state.step = step
    result = aggregate(exp, state)
    timing = retrain_on_confident(exp, state)
    seconds_em = result.seconds
    if s.aggregation.reinfer and timing["model_adopted"]:  # labels from the model just trained
        result = aggregate(exp, state)
        seconds_em += result.seconds
    timing.update(seconds_em=seconds_em, seconds_scoring=selection.seconds_scoring,
                  seconds_selection=selection.seconds_selection)
    n_eligible = int(eligible(exp, state, "label").sum())
    state.rows.append(_row(exp, state, result.em, phase, n_eligible, timing, started, {**batch, **selection.extra}))
    return True


def step_batch(settings: RunSettings, step: int) -> int:
    """Pairs step `step` (1, 2, ...) may ask: B, or with `batch_ramp` b, min(B, b 2^(step - 1)).

    Why a ramp: in the first steps label accuracy rises mostly by retraining on the model's own
    confident predictions, with few answers or many (docs/results.md, "What limits a sampler");
    a doubling batch spends little there and reaches B within log2(B / b) + 1 steps."""
    if settings.batch_ramp is None:
        return settings.batch_size
    return int(min(settings.batch_size, settings.batch_ramp * 2 ** min(step - 1, 62)))


_WARNED_TENSORS: set[str] = set()  # custom samplers already told that they return torch tensors


def select_pairs(exp: Experiment, state: LoopState, phase: str, capacity_M: np.ndarray, step: int) -> Selection:
    """The sampler's batch for `step` under the constraints: eligible images, new pairs,
    pairs the worker pool can answer, `capacity_M` tasks per worker; seeded by (seed, step).

    Under a budget in money (`stopping=cost`) the step asks only what the rest pays for: each worker
    at most the answers the rest pays for, the batch at most as many as it pays for of the cheapest,
    and the sampler's batch is cut to its longest prefix (in selection order) that the rest pays for."""
    s = exp.settings
    unavailable = state.annotations.asked()
    if exp.workers.available_N_M is not None:  # a replayed log answers only the pairs it holds
        unavailable |= ~exp.workers.available_N_M
    batch_size, budget = step_batch(s, step), money_budget(exp)
    if budget is not None:
        left = budget - spent(exp.cost_M, state.annotations.worker)
        affordable_M = affordable_answers(exp.cost_M, left, budget)
        capacity_M = np.minimum(capacity_M, affordable_M)
        batch_size = int(min(batch_size, affordable_M.max()))
    candidates = Candidates(eligible(exp, state, phase), unavailable, capacity_M, batch_size, exp.cost_M)
    ann = state.annotations
    beliefs = Beliefs(
        posterior_N_K=state.posterior_N_K,
        confusions_M_K_K=state.confusions_M_K_K,
        log_likelihood_N_K=annotation_log_likelihood(ann.image, ann.worker, ann.label, state.confusions_M_K_K,
                                                     exp.pool.n_images, ann.step, state.periods,
                                                     state.period_confusions),
        mc=state.mc,
        answers=(ann.image, ann.worker, ann.label),
        answer_steps=ann.step,
        periods=state.periods,
        period_confusions=state.period_confusions,
        forgetting=s.aggregation.forgetting,
    )
    rng = np.random.default_rng([s.luck_seed, streams.SELECTION, step])
    selection = exp.sampler.select(candidates, beliefs, rng)
    # a sampler a user brings is held to the constraints; the package's own meet them by construction
    problem = None
    if s.method == CUSTOM:
        selection, cpu_tensors = as_numpy(selection)
        if cpu_tensors and s.method_key not in _WARNED_TENSORS:
            _WARNED_TENSORS.add(s.method_key)  # once per sampler and process
            log.warning("sampler %s returns %s as torch tensors; labald takes NumPy arrays and converts these, "
                        "but on a GPU run they would be device tensors: return .cpu().numpy()", s.method_key,
                        " and ".join(cpu_tensors))
        problem = check_selection(selection, candidates)
    if problem is not None:
        raise LabaldError(f"sampler {s.method_key} broke the constraints at step {step}: {problem}")
    observed = {}
    for observe in exp.observers:
        observed.update(observe(selection, candidates, rng))
    if budget is not None:  # with several prices the batch may hold more than the rest pays for
        paid = affordable_prefix(exp.cost_M[selection.workers], left, budget)
        selection = dataclasses.replace(selection, images=selection.images[:paid], workers=selection.workers[:paid],
                                        scores=None if selection.scores is None else selection.scores[:paid])
    return dataclasses.replace(selection, extra={**selection.extra, **observed}, pair_scores=None)


@dataclass(frozen=True)
class _Aggregated:
    em: EMResult
    seconds: float


def aggregate(exp: Experiment, state: LoopState) -> _Aggregated:
    """EM over every answer so far, the model's prediction as prior, warm-started from What."""
    agg, ann = exp.settings.aggregation, state.annotations
    start = time.perf_counter()
    result = dawid_skene(
        ann.image, ann.worker, ann.label, state.prior_N_K, exp.alpha_K_K, exp.workers.n_workers,
        init_confusions=state.confusions_M_K_K,
        options=EMOptions(max_iter=agg.max_iter, tol=agg.tol),
        forgetting=Forgetting(factor=agg.forgetting, step=ann.step, init_periods=state.periods,
                              init_period_confusions=state.period_confusions),
    )
    state.posterior_N_K, state.confusions_M_K_K = result.posterior, result.confusions
    state.periods, state.period_confusions = result.periods, result.period_confusions
    return _Aggregated(result, time.perf_counter() - start)


def retrain(exp: Experiment, state: LoopState, images: np.ndarray, labels: np.ndarray) -> dict:
    """Retrain on confident images (pseudo-labels) plus the prototypes the learner's policy trains
    on (the rest validate); adopt the new model only if it validates no worse (keep-best, paper appendix F)."""
    if exp.learner is None:
        return {"model_adopted": False, "seconds_train": 0.0, "seconds_inference": 0.0}
    pool = exp.pool
    start = time.perf_counter()
    train_p, val_p = prototype_roles(pool.prototype_labels, exp.train_prototypes, labels, pool.n_classes,
                                     exp.learner.settings.prototypes)
    x = torch.from_numpy(np.concatenate([pool.features[images], pool.prototype_features[train_p]]))
    y = torch.from_numpy(np.concatenate([labels, pool.prototype_labels[train_p]]).astype(np.int64))
    report = exp.learner.fit(
        x, y, torch.from_numpy(pool.prototype_features[val_p]), torch.from_numpy(pool.prototype_labels[val_p]),
        state.step, held_out=torch.from_numpy(~np.isin(val_p, exp.train_prototypes)),
        folds=np.concatenate([exp.folds[images], np.full(len(train_p), -1)]),
    )
    trained = time.perf_counter()
    if report.adopted or state.mc is None:
        refresh_predictions(exp, state, state.step)
    return {
        "model_adopted": report.adopted,
        "seconds_train": trained - start,
        "seconds_inference": time.perf_counter() - trained,
    }


def retrain_on_confident(exp: Experiment, state: LoopState) -> dict:
    """Retrain on the images EM is now confident about, with their aggregated labels (pseudo-labels)."""
    mask = confidence(state.posterior_N_K) >= exp.settings.confidence
    if exp.learner is not None and exp.learner.settings.train_on == "answered":
        mask &= state.annotations.per_image() > 0
    confident = np.flatnonzero(mask)
    return retrain(exp, state, confident, state.posterior_N_K[confident].argmax(axis=1))


def refresh_predictions(exp: Experiment, state: LoopState, mc_step: int) -> None:
    """MC predictions of the kept model, drawn with the generator of `mc_step`; their mean is the prior."""
    state.mc = exp.learner.predict_pool(exp.x_pool, mc_step, exp.folds, into=state.mc)  # the old ones are done
    state.prior_N_K = state.mc.mean().double().cpu().numpy()
    state.mc_step = mc_step


def eligible(exp: Experiment, state: LoopState, phase: str) -> np.ndarray:
    """Images under the per-image cap that are unconfident (or any, in the over-annotation phase) and
    that can still be asked: with a replayed log, only images with a logged answer not yet taken."""
    under_cap = state.annotations.per_image() < exp.settings.max_per_image
    if exp.workers.available_N_M is not None:
        under_cap &= (exp.workers.available_N_M & ~state.annotations.asked()).any(axis=1)
    if phase == "over":
        return under_cap
    return under_cap & (confidence(state.posterior_N_K) < exp.settings.confidence)


def _row(
    exp: Experiment, state: LoopState, em: EMResult, phase: str, n_eligible: int, timing: dict, started: float,
    extra: dict | None = None,
) -> dict:
    """The metrics row of the step just completed."""
    model_probs = state.prior_N_K if exp.learner is not None else None
    cost = spent(exp.cost_M, state.annotations.worker)
    row = {
        "step": state.step,
        "phase": phase,
        "n_annotations": len(state.annotations),
        "annotations_per_image": len(state.annotations) / exp.pool.n_images,
        "cost": cost,
        "cost_per_image": cost / exp.pool.n_images,
        **exp.evaluator.labels(state.posterior_N_K, model_probs),
        "n_confident": int((confidence(state.posterior_N_K) >= exp.settings.confidence).sum()),
        "n_eligible": int(n_eligible),
        "em_iterations": em.iterations,
        "seconds_scoring": 0.0,
        "seconds_selection": 0.0,
        **timing,
        **(extra or {}),
    }
    row["seconds_step"] = time.perf_counter() - started
    return row
