"""Run directories written by earlier versions of labald, read as today's.

Policy. A stopped run resumes under a later version when its settings are the same: its checkpoint
is upgraded here to today's form as it is loaded (`upgrade_checkpoint`), and is written back in
today's form at the next step. What is kept resumable:

- the fingerprint: a setting added after run directories existed is left out of the fingerprint
  while it is at its default (LATER_KEYS), so an old run, which never set it, keeps its hash; and a
  setting found not to change results, once fingerprinted, is still accepted in an old checkpoint's
  hash (ONCE_FINGERPRINTED; `labald.identity.accepted_fingerprints`);
- the saved metrics rows: rows written before costs were recorded get their cost columns from the
  answers they count (`_with_cost`);
- the loop state: a checkpoint from before workers could change their skills has no per-step
  confusions (`periods`, `period_confusions`: none), one from before input files were hashed no
  input tags (nothing to compare);
- the learner: a checkpoint holding torch's Adam state gets the flat moments of today's optimizer,
  and one without the kept model's training-set size gets 0 (unknown: the next fit warm-starts).

What a new setting must declare: a setting that changes results goes into LATER_KEYS under its
dotted name (`group.key`, or `key` at the top level), with its default as the value the old runs had
in effect; one that does not change results goes into `labald.identity.NOT_RESULTS`. The stored
checkpoints of tests/data/checkpoints, one of each kind above, must keep resuming.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from labald.costs import spent
from labald.settings import RunSettings, defaults
from labald.workers.dynamics import DynamicsSettings

# Settings added after run directories existed: out of the fingerprint while at their defaults.
LATER_KEYS = frozenset({
    "batch_ramp",
    *(f"dataset.{k}" for k in ("standardize", "root", "backbone", "weights", "extract_batch_size", "extract_workers",
                               "replay")),
    *(f"workers.{f.name}" for f in dataclasses.fields(DynamicsSettings)), "workers.cost_crowd",
    "workers.cost_expert",
    "acquisition.per_cost",
    "stopping.cost_per_image",
    "aggregation.forgetting",
})
# Settings that do not change results (`labald.identity.NOT_RESULTS`) but that checkpoints written
# before that was known held in their fingerprints.
ONCE_FINGERPRINTED = frozenset({"acquisition.chunk", "dataset.extract_batch_size", "dataset.extract_workers"})
_TOP_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSettings)}
# (group or "", key) -> the value the runs written before the key existed had in effect
_LATER_DEFAULTS = {(group, name): getattr(defaults(group), name) if group else _TOP_DEFAULTS[name]
                   for group, _, name in (key.rpartition(".") for key in LATER_KEYS)}


def drop_later_defaults(values: dict) -> dict:
    """A run's settings as a fingerprint holds them (a plain mapping, as `dataclasses.asdict` gives):
    without the LATER_KEYS that are at their defaults."""
    for (group, name), default in _LATER_DEFAULTS.items():
        where = values.get(group) if group else values
        if isinstance(where, dict) and name in where and where[name] == default:
            del where[name]
    return values


def recorded_inputs(saved: dict) -> dict[str, str]:
    """The input tags a checkpoint recorded (`labald.identity.input_tags`); none for one written
    before inputs were hashed, so there is nothing to compare."""
    return saved.get("inputs", {})


def upgrade_checkpoint(saved: dict, cost_M: np.ndarray, n_images: int) -> dict:
    """A loaded checkpoint in today's form (the policy above); `cost_M` [M] is each worker's price
    and `n_images` the pool's size, for the cost columns of rows written before costs were kept."""
    saved = dict(saved)
    saved.setdefault("periods", None)
    saved.setdefault("period_confusions", None)
    answers = saved["annotations"]
    saved["rows"] = [_with_cost(row, np.asarray(answers["worker"]), np.asarray(answers["step"]), cost_M, n_images)
                     for row in saved["rows"]]
    if saved.get("learner") is not None:
        saved["learner"] = {**saved["learner"],
                            "learners": [upgrade_learner_state(s) for s in saved["learner"]["learners"]]}
    return saved


def _with_cost(row: dict, worker: np.ndarray, step: np.ndarray, cost_M: np.ndarray, n_images: int) -> dict:
    """A saved row with the cost columns, added when the row lacks them: the prices of the answers
    collected up to the row's step."""
    if "cost" in row:
        return row
    cost = spent(cost_M, worker[step <= row["step"]])
    return {**row, "cost": cost, "cost_per_image": cost / n_images}


def upgrade_learner_state(state: dict) -> dict:
    """One learner's saved state with today's optimizer form and the kept model's training-set size."""
    state = {"kept_n_train": 0, **state}
    optimizer = state.get("optimizer")
    if optimizer is not None and "state" in optimizer:  # torch.optim.Adam's state dict over MLP.parameters()
        import torch

        per_param = [optimizer["state"][i] for i in sorted(optimizer["state"])]
        state["optimizer"] = {
            "step": int(per_param[0]["step"]),
            "exp_avg": torch.cat([p["exp_avg"].reshape(-1) for p in per_param]),
            "exp_avg_sq": torch.cat([p["exp_avg_sq"].reshape(-1) for p in per_param]),
            "lr": optimizer["param_groups"][0]["lr"],
        }
    elif optimizer is not None and "lr" not in optimizer:  # flat moments saved before the rate was
        state["optimizer"] = {**optimizer, "lr": None}
    return state
