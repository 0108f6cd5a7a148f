"""Learner settings, the report of one fit, and the (seed, step) seed derivation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEEP_BEST = ("error", "nll", "off")
CALIBRATE = ("mc_mean", "network")
PROTOTYPES = ("adaptive", "split")
TRAIN_ON = ("confident", "answered")


def derive_seed(seed: int, step: int, purpose: int) -> int:
    """A 63-bit seed for one random stream, a pure function of (seed, step, purpose)."""
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be >= 0, got seed={seed}, step={step}")
    hi, lo = np.random.SeedSequence([seed, step, purpose]).generate_state(2, dtype=np.uint32)
    return (int(hi) << 31) ^ int(lo)


@dataclass(frozen=True)
class LearnerSettings:
    """Hyper-parameters of the learner (config group ``learner``; paper, appendix F).

    The paper fixes the network, dropout, weight decay, batch size, T, temperature scaling and
    "keep the model with the lowest validation error"; the rest is ours, chosen by how well the
    loop labels (docs/learning_core.md), each alternative one override away:

    - ``balanced``: class-balanced batches, each image drawn with weight 1 / (its class's count),
      with replacement (Liao et al.'s sampler); False = shuffled passes over the train set.
    - A fit runs ``max_epochs`` epochs of ceil(n_train / batch_size) batches; a fit from scratch
      (the first, or every one with ``warm_start`` off) runs at least ``min_updates`` batches (a
      80-image step-0 set gets 300 updates, as Liao et al. give every fit, not 50). With
      ``cold_start_growth`` = g (2), a fit also starts from scratch when its training set has at
      least g times the examples the kept model was trained on: in the first steps, when the
      pseudo-labels multiply and a warm start stays near a model fitted to the prototypes (Liao
      et al. train every fit from scratch); such a fit runs at least ``cold_start_updates`` (150;
      None: ``min_updates``) batches of up to 1,024, half the 300, which made a step at
      200/class 1.6x as costly (40 seed-runs, docs/learning_core.md);
      the validation NLL of the dropout-free network is checked every ``eval_every`` batches
      (None: once an epoch), the best checkpoint kept, and training stops after ``patience``
      checks without improvement once ``min_updates`` are done. Checks every 5 updates with a
      patience of 3 (20 updates past the best) label as well as every 10 with 5 (60 past it) and
      make a step at 200/class ~1.5x cheaper (40 seed-runs, docs/learning_core.md).
    - ``calibrate``: which prediction the temperature is fitted for: ``mc_mean``, the mean of the
      T dropout samples that EM receives as prior, or ``network``, the dropout-free network.
    - ``keep_best``: a new model replaces the kept one when its validation ``error`` (ties go to
      the new model, trained on more labels) or calibrated ``nll`` is no worse than the kept
      model's on the same validation set; ``off`` always adopts.
    - ``prototypes``: ``adaptive`` validates on every prototype of a class once the class has at
      least as many confident images as prototypes, and before that trains on a fixed half of them
      (Liao et al.); ``split`` trains on the fixed half and validates on the other half always.
    - ``train_on``: the pseudo-labels: every ``confident`` image (the paper), or only confident
      images with at least one answer (``answered``), so that the model never trains on its own
      unconfirmed predictions and its prior on unanswered images stays a held-out prediction.
    - ``cross_fit``: F models, each pool image's prior from the one that did not train on it
      (``labald.learner.crossfit``); 1 = a single model.
    """

    hidden: int = 128
    dropout: float = 0.3
    lr: float = 1e-4  # base rate; effective lr = lr * sqrt(min(batch_size, n_train))
    weight_decay: float = 1e-3
    batch_size: int = 1024
    mc_samples: int = 100  # T
    max_epochs: int = 50
    min_updates: int = 300
    eval_every: int | None = 5
    patience: int = 3
    warm_start: bool = True  # from the kept model; False = from scratch each step
    cold_start_growth: float | None = 2.0  # from scratch when the train set is >= this x the kept model's
    cold_start_updates: int | None = 150  # at least this many updates in such a fit; None: min_updates
    balanced: bool = True
    calibrate: str = "mc_mean"
    keep_best: str = "error"
    prototypes: str = "adaptive"
    train_on: str = "confident"
    cross_fit: int = 3

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "mc_samples", "max_epochs", "patience", "cross_fit"):
            if getattr(self, name) < 1:
                raise ValueError(f"learner.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warm_start", "balanced"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"learner.{name} must be true or false, got {getattr(self, name)!r}")
        if self.cold_start_growth is not None and not self.cold_start_growth > 1:
            raise ValueError(f"learner.cold_start_growth must be > 1 or null, got {self.cold_start_growth}")
        if self.min_updates < 0:
            raise ValueError(f"learner.min_updates must be >= 0, got {self.min_updates}")
        if self.cold_start_updates is not None and self.cold_start_updates < 0:
            raise ValueError(f"learner.cold_start_updates must be >= 0 or null, got {self.cold_start_updates}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"learner.eval_every must be >= 1 or null, got {self.eval_every}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"learner.dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"learner.lr must be > 0 and weight_decay >= 0, got "
                             f"{self.lr}, {self.weight_decay}")
        for name, choices in (("calibrate", CALIBRATE), ("keep_best", KEEP_BEST), ("prototypes", PROTOTYPES),
                               ("train_on", TRAIN_ON)):
            if getattr(self, name) not in choices:
                raise ValueError(f"learner.{name}={getattr(self, name)!r} is unknown; choose one of: "
                                 f"{', '.join(choices)}")


@dataclass(frozen=True)
class FitReport:
    """One ``fit``: the candidate's validation error and calibrated NLL, and the kept model's.

    Validation is of the prediction the loop uses: the calibrated MC mean (``calibrate=mc_mean``)
    or the calibrated dropout-free network (``calibrate=network``). ``kept_*`` are those of the
    model kept before this fit, on the same validation set (inf when there was none).
    ``updates`` counts the gradient updates run, including those after the best checkpoint.
    """

    adopted: bool
    val_error: float
    val_nll: float
    kept_val_error: float
    kept_val_nll: float
    temperature: float
    updates: int
    n_train: int
