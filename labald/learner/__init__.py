"""The learner (SPEC 4): MC-dropout MLP, temperature calibration, keep-best, prototype split."""

from labald.learner.calibration import expected_calibration_error, fit_temperature, nll
from labald.learner.learner import MCDropoutLearner
from labald.learner.mc import mc_dropout_predict, mc_dropout_predict_naive
from labald.learner.mlp import MLP
from labald.learner.prototypes import split_prototypes
from labald.learner.settings import FitReport, LearnerSettings, derive_seed

__all__ = [
    "MLP",
    "FitReport",
    "LearnerSettings",
    "MCDropoutLearner",
    "derive_seed",
    "expected_calibration_error",
    "fit_temperature",
    "mc_dropout_predict",
    "mc_dropout_predict_naive",
    "nll",
    "split_prototypes",
]
