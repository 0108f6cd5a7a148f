"""The learner (paper, appendix F): MC-dropout MLP, temperature calibration, keep-best, prototype split."""

from labald.learner.calibration import expected_calibration_error, fit_temperature, nll
from labald.learner.crossfit import CrossFitLearner
from labald.learner.learner import MCDropoutLearner
from labald.learner.mc import PoolPredictions, mc_dropout_logits, mc_dropout_predict, mc_dropout_predict_naive
from labald.learner.mlp import MLP
from labald.learner.prototypes import prototype_roles, split_prototypes
from labald.learner.settings import FitReport, LearnerSettings, derive_seed

__all__ = [
    "MLP",
    "CrossFitLearner",
    "FitReport",
    "LearnerSettings",
    "MCDropoutLearner",
    "PoolPredictions",
    "derive_seed",
    "expected_calibration_error",
    "fit_temperature",
    "mc_dropout_logits",
    "mc_dropout_predict",
    "mc_dropout_predict_naive",
    "nll",
    "prototype_roles",
    "split_prototypes",
]
