"""`batch_ramp`: a doubling batch in the first steps, its runs named apart and its values checked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from labald.errors import LabaldError
from labald.experiment import build_experiment
from labald.identity import output_dir
from labald.loop import advance, initial_state, step_batch
from tests.helpers import make_settings


def test_step_batch_doubles_from_the_ramp_up_to_b(tmp_path):
    settings = make_settings(["dataset=digits", "learner=none"], tmp_path)
    assert [step_batch(settings, s) for s in (1, 2, 50)] == [100, 100, 100]  # the paper: B every step
    ramp = dataclasses.replace(settings, batch_ramp=3)
    assert [step_batch(ramp, s) for s in range(1, 9)] == [3, 6, 12, 24, 48, 96, 100, 100]
    assert step_batch(ramp, 10_000) == 100


def test_a_ramped_run_asks_the_ramp_and_is_named_apart(tmp_path):
    settings = make_settings(["dataset=digits", "method=elr", "learner=none", "batch_ramp=2"], tmp_path)
    assert output_dir(settings).parent.name == "elr+learner=none+batch_ramp=2"
    exp = build_experiment(settings)
    state = initial_state(exp)
    for _ in range(4):
        assert advance(exp, state, "label")
    per_step = np.bincount(state.annotations.step, minlength=5)[1:]
    assert per_step.tolist() == [2, 4, 8, 16]


@pytest.mark.parametrize("value", [0, 101, 2.5])
def test_a_bad_ramp_is_refused(tmp_path, value):
    settings = make_settings(["dataset=digits", "learner=none"], tmp_path)
    with pytest.raises(LabaldError, match="batch_ramp"):  # the settings refuse it as they are built
        dataclasses.replace(settings, batch_ramp=value)
