"""Learner settings, the report of one fit, and the (seed, step) seed derivation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Purposes of derived seeds: each random stream of a step is independent of the others.
STREAM_INIT, STREAM_SHUFFLE, STREAM_DROPOUT, STREAM_MC = 0, 1, 2, 3


def derive_seed(seed: int, step: int, purpose: int) -> int:
    """A 63-bit seed for one random stream, a pure function of (seed, step, purpose)."""
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be >= 0, got seed={seed}, step={step}")
    hi, lo = np.random.SeedSequence([seed, step, purpose]).generate_state(2, dtype=np.uint32)
    return (int(hi) << 31) ^ int(lo)


@dataclass(frozen=True)
class LearnerSettings:
    """Hyper-parameters of the learner (config group ``learner``; SPEC 4, appendix F)."""

    hidden: int = 128
    dropout: float = 0.3
    lr: float = 1e-4  # base rate; effective lr = lr * sqrt(min(batch_size, n_train))
    weight_decay: float = 1e-3
    batch_size: int = 1024
    mc_samples: int = 100  # T
    max_epochs: int = 50  # bounded epochs per step
    patience: int = 5  # early stopping on validation NLL
    warm_start: bool = True  # from the kept model; False = from scratch each step

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "mc_samples", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"learner.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"learner.dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"learner.lr must be > 0 and weight_decay >= 0, got "
                             f"{self.lr}, {self.weight_decay}")


@dataclass(frozen=True)
class FitReport:
    """One ``fit``: ``val_nll``, ``temperature`` of the candidate; ``best_val_nll`` of the kept.

    ``val_nll`` is the calibrated validation NLL of the candidate's deterministic network (dropout
    off); ``epochs`` counts the epochs run, including the ``patience`` ones after the best.
    """

    adopted: bool
    val_nll: float
    best_val_nll: float
    temperature: float
    epochs: int
    n_train: int
