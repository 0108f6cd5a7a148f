"""Workers whose skill changes during a campaign (`workers.dynamics`, `workers.spammer_share`).

The paper's crowd is static: worker j answers every task with one confusion matrix W_j. Its own
limitations name dynamic skills; here each dynamic maps W_j and the worker's history to the matrix
its next answer is drawn from. With the answer draws' common random numbers (`pair_uniforms`), two
samplers on one seed share every uniform, the drift of every worker and who turns spammer when; they
differ only in whom they ask, when, and so in how experienced or tired a worker is when asked.

    static    W_j                                                                     (the paper)
    learning  W_j(n) = (1 - l(n)) W_j + l(n) I,       l(n) = gain (1 - exp(-n / tau))
              n: answers worker j gave before this one. Row y's accuracy
              a_y(n) = a_y + (1 - a_y) l(n) rises from a_y toward the ceiling a_y + (1 - a_y) gain;
              the errors keep their pattern and shrink.
    fatigue   W_j(F) = (1 - f(F)) W_j + f(F) U,        f(F) = loss (1 - exp(-F / tau)),  U = 1/K
              F: the worker's load. Each answer adds 1; each step the worker gives no answer
              multiplies it by 1 - recovery. Accuracy a_y(F) = a_y - (a_y - 1/K) f(F) falls toward
              chance with work and partly comes back with rest.
    drift     W_j(t) = softmax_z(log W_j[y, z] + sum_{s < t} e_s[j, y, z]),    e_s ~ N(0, sd^2)
              a random walk on the confusion logits, one step per labeling step, the same for
              every sampler (keyed by the answer seed and the step).
    spammers  a share of the crowd workers (never the experts) answers uniformly at random from a
              step drawn uniformly in 1..spammer_by_step (keyed by the answer seed); with any of
              the above.

Within a step, the k-th answer (k = 0, 1, ...) of worker j in the batch counts k earlier answers of
the step in n and F, so a worker asked 4 times in one step learns (or tires) across the 4.
Everything is a pure function of the answers log (who answered in which step) and the answer seed,
so resuming a run needs no state of its own.

Default sizes (`DynamicsSettings`' defaults; their grounding is in docs/results.md "Workers who change"):
learning's gain 0.17 is +5 points on a 0.7 worker, the gain of training crowd workers in
Gadiraju et al. (2015); fatigue's loss 0.11 is +7 points of errors on a 0.7 worker of 16 classes,
the rise in error rate over the last 12.5 minutes of 50-minute monotonous inspection work reported
in human-factors studies of mental fatigue; Hata et al. (CSCW 2017) found most AMT workers stable
over months, so every default is small. The time constants, recovery, drift sd and the spammers'
schedule are illustrative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labald import checks, streams

DYNAMICS = ("static", "learning", "fatigue", "drift")


@dataclass(frozen=True)
class DynamicsSettings:
    """The parameters of every dynamic (only the chosen one's matter)."""

    dynamics: str = "static"
    learning_gain: float = 0.17  # share of the errors gone at the ceiling
    learning_answers: float = 20.0  # tau: answers to go 63% of the way to the ceiling
    fatigue_loss: float = 0.11  # share of the above-chance accuracy gone at full fatigue
    fatigue_answers: float = 40.0  # tau: load (answers) to reach 63% of the loss
    fatigue_recovery: float = 0.5  # share of the load shed in each step without answers
    drift_sd: float = 0.05  # sd of each logit's step per labeling step
    spammer_share: float = 0.0  # share of the crowd workers who turn spammer
    spammer_by_step: int = 20  # each turns at a step drawn uniformly in 1..this

    def __post_init__(self) -> None:
        checks.choice("workers.dynamics", self.dynamics, DYNAMICS)
        for key in ("learning_gain", "fatigue_loss", "fatigue_recovery", "spammer_share"):
            checks.unit(f"workers.{key}", getattr(self, key))
        for key in ("learning_answers", "fatigue_answers"):
            checks.number(f"workers.{key}", getattr(self, key), 0.0, strict=True)
        checks.number("workers.drift_sd", self.drift_sd, 0.0)
        checks.integer("workers.spammer_by_step", self.spammer_by_step, 1)

    @property
    def is_static(self) -> bool:
        return self.dynamics == "static" and self.spammer_share == 0.0


class WorkerDynamics:
    """Confusion matrices of the crew as they are when asked, from their base matrices [M, K, K]."""

    def __init__(self, settings: DynamicsSettings, base_M_K_K: np.ndarray, is_expert_M: np.ndarray,
                 answer_seed: int):
        self.settings = settings
        self.base = np.asarray(base_M_K_K, dtype=np.float64)
        self.answer_seed = int(answer_seed)
        m, k, _ = self.base.shape
        self.turns_at_M = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)  # step a worker turns spammer
        crowd = np.flatnonzero(~np.asarray(is_expert_M, dtype=bool))
        n_spammers = int(round(settings.spammer_share * len(crowd)))
        if n_spammers:
            rng = np.random.default_rng([self.answer_seed, streams.SPAMMERS])
            chosen = rng.choice(crowd, size=n_spammers, replace=False)
            self.turns_at_M[chosen] = rng.integers(1, settings.spammer_by_step + 1, size=n_spammers)
        self._drift_step, self._drift = 1, np.zeros_like(self.base)  # sum of the increments before _drift_step

    def rows(self, workers_P: np.ndarray, labels_P: np.ndarray, history_steps: np.ndarray,
             history_workers: np.ndarray, step: int, within_P: np.ndarray | None = None) -> np.ndarray:
        """[P, K] the row p(z | y = labels_P[p]) worker workers_P[p] answers from at `step`, after the
        answers in `history_*` (each answer's step and worker) and `within_P` earlier answers of the
        step (default: the worker's earlier entries in `workers_P`)."""
        s, k = self.settings, self.base.shape[1]
        workers_P = np.asarray(workers_P, dtype=np.int64)
        labels_P = np.asarray(labels_P, dtype=np.int64)
        if s.dynamics == "drift":
            rows = _softmax(np.log(np.clip(self.base, 1e-300, None)) + self.drift_until(step))[workers_P, labels_P]
        else:
            rows = self.base[workers_P, labels_P].copy()
        within = occurrence_of(workers_P) if within_P is None else within_P
        if s.dynamics == "learning":
            n = np.bincount(history_workers, minlength=len(self.base))[workers_P] + within
            share = (s.learning_gain * -np.expm1(-n / s.learning_answers))[:, None]
            rows = (1.0 - share) * rows + share * np.eye(k)[labels_P]
        elif s.dynamics == "fatigue":
            load = self.load_before(history_steps, history_workers, step)[workers_P] + within
            share = (s.fatigue_loss * -np.expm1(-load / s.fatigue_answers))[:, None]
            rows = (1.0 - share) * rows + share / k
        spam = self.turns_at_M[workers_P] <= step
        rows[spam] = 1.0 / k
        return rows

    def confusions_at(self, history_steps: np.ndarray, history_workers: np.ndarray, step: int) -> np.ndarray:
        """[M, K, K] every worker's matrix for its first answer of `step`."""
        m, k, _ = self.base.shape
        rows = self.rows(np.repeat(np.arange(m), k), np.tile(np.arange(k), m), history_steps, history_workers,
                         step, within_P=np.zeros(m * k, dtype=np.int64))
        return rows.reshape(m, k, k)

    def load_before(self, history_steps: np.ndarray, history_workers: np.ndarray, step: int) -> np.ndarray:
        """[M] fatigue load at the start of `step`: F(s) = F(s-1) + a_j(s) if the worker gave a_j(s) > 0
        answers in step s, else (1 - recovery) F(s-1); F(0) = 0."""
        m = len(self.base)
        load = np.zeros(m)
        if len(history_steps) == 0:
            return load
        keep = history_steps < step
        counts = np.zeros((step, m))
        np.add.at(counts, (history_steps[keep], history_workers[keep]), 1.0)
        rest = 1.0 - self.settings.fatigue_recovery
        for a in counts[1:]:
            load = np.where(a > 0, load + a, rest * load)
        return load

    def drift_until(self, step: int) -> np.ndarray:
        """[M, K, K] the sum of the drift increments of steps 1 .. step - 1 (none at step 1)."""
        if step < self._drift_step:
            self._drift_step, self._drift = 1, np.zeros_like(self.base)
        while self._drift_step < step:
            rng = np.random.default_rng([self.answer_seed, streams.DRIFT, self._drift_step])
            self._drift = self._drift + rng.normal(0.0, self.settings.drift_sd, size=self.base.shape)
            self._drift_step += 1
        return self._drift


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def occurrence_of(keys: np.ndarray) -> np.ndarray:
    """How many earlier entries of the integer array equal each entry: 0, 1, 2, ..."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    rank = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = rank
    return out
