"""The learner (paper, appendix F): MC-dropout MLP, temperature calibration, keep-best, prototype split.

Its settings are imported with the package; the model code, which needs torch, on first use of one
of its names, so that naming or checking a run's settings loads no torch."""

from __future__ import annotations

import importlib
from typing import Any

from labald.learner.settings import FitReport, LearnerSettings, derive_seed

# name -> the module of this package that defines it
_LAZY = {
    "expected_calibration_error": "calibration", "fit_temperature": "calibration", "nll": "calibration",
    "CrossFitLearner": "crossfit", "MCDropoutLearner": "learner", "PoolPredictions": "mc",
    "mc_dropout_logits": "mc", "mc_dropout_predict": "mc", "mc_dropout_predict_naive": "mc", "MLP": "mlp",
    "prototype_roles": "prototypes", "split_prototypes": "prototypes",
}

__all__ = ["FitReport", "LearnerSettings", "derive_seed", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
