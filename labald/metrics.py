"""Per-step metrics (one row per step) and the `metrics.csv` they are written to."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from labald.learner.calibration import expected_calibration_error

# Columns every run writes, in order; method- or learner-specific ones follow (see `columns`). `cost` is
# the money spent so far, the sum of the answers' prices (labald.costs), and `cost_per_image` it over N:
# at the default price of 1 an answer, n_annotations and annotations_per_image.
BASE_COLUMNS = (
    "step", "phase", "n_annotations", "annotations_per_image", "cost", "cost_per_image", "label_accuracy",
    "model_accuracy", "ece", "posterior_ece", "confident_accuracy", "n_confident", "n_eligible", "em_iterations",
    "model_adopted",
    "seconds_em", "seconds_train", "seconds_inference", "seconds_scoring", "seconds_selection", "seconds_step",
)
# What the step's batch was: mean top posterior of the picked images before their answers,
# the share of the batch's pairs that went to experts, how many distinct workers it used, and the share
# of its answers that are right (the simulator knows the truth; a sampler never sees it).
BATCH_COLUMNS = ("picked_confidence", "expert_share", "workers_used", "answer_accuracy")
JACCARD_COLUMNS = ("jaccard_la_global", "jaccard_la_local", "jaccard_global_local")
TIMING_COLUMNS = tuple(c for c in BASE_COLUMNS if c.startswith("seconds_"))


def columns(joint_method: bool) -> tuple[str, ...]:
    return BASE_COLUMNS + BATCH_COLUMNS + (JACCARD_COLUMNS if joint_method else ())


def batch_diagnostics(posterior_N_K: np.ndarray, is_expert_M: np.ndarray, images: np.ndarray,
                      workers: np.ndarray) -> dict[str, float | int]:
    """The BATCH_COLUMNS of a batch that need no truth, from the posterior it was selected under."""
    return {
        "picked_confidence": float(np.asarray(posterior_N_K)[images].max(axis=1).mean()),
        "expert_share": float(np.asarray(is_expert_M)[workers].mean()),
        "workers_used": int(len(np.unique(workers))),
    }


class Evaluator:
    """The columns of metrics.csv that need the true labels, and the only reader of them besides the
    simulated crowd; without truth (a real campaign) every such column is None."""

    def __init__(self, labels_N: np.ndarray | None, confidence: float):
        self._labels = None if labels_N is None else np.asarray(labels_N)
        self.confidence = confidence

    def labels(self, posterior_N_K: np.ndarray, model_probs_N_K: np.ndarray | None) -> dict[str, float | None]:
        """How right the labels (EM's posterior) and the model are."""
        truth, model = self._labels, model_probs_N_K
        if truth is None:
            return dict.fromkeys(("label_accuracy", "model_accuracy", "ece", "posterior_ece", "confident_accuracy"))
        return {
            "label_accuracy": accuracy(posterior_N_K, truth),
            "model_accuracy": None if model is None else accuracy(model, truth),
            "ece": None if model is None else ece(model, truth),
            "posterior_ece": ece(posterior_N_K, truth),
            "confident_accuracy": confident_accuracy(posterior_N_K, truth, self.confidence),
        }

    def answers(self, images: np.ndarray, answers: np.ndarray) -> dict[str, float | None]:
        """`answer_accuracy`: the share of a batch's answers that are right."""
        if self._labels is None:
            return {"answer_accuracy": None}
        return {"answer_accuracy": float((np.asarray(answers) == self._labels[images]).mean())}


def accuracy(probs_N_K: np.ndarray, labels_N: np.ndarray) -> float:
    """Fraction of images whose argmax matches the truth."""
    return float((np.asarray(probs_N_K).argmax(axis=1) == labels_N).mean())


def ece(probs_N_K: np.ndarray, labels_N: np.ndarray) -> float:
    """Expected calibration error (15 bins) of a prediction against the truth."""
    return expected_calibration_error(torch.from_numpy(np.asarray(probs_N_K)), torch.from_numpy(labels_N))


def confident_accuracy(probs_N_K: np.ndarray, labels_N: np.ndarray, threshold: float) -> float | None:
    """Accuracy of the images whose top probability reaches `threshold` (None if there are none):
    a calibrated posterior makes it at least `threshold`."""
    probs_N_K = np.asarray(probs_N_K)
    confident = probs_N_K.max(axis=1) >= threshold
    return accuracy(probs_N_K[confident], labels_N[confident]) if confident.any() else None


def to_csv(rows: list[dict], cols: tuple[str, ...]) -> str:
    """CSV text of the rows; missing cells stay empty, floats keep full precision."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(cols), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in cols})
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return str(value)


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics.csv as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
