"""A sampler a user brings (`method=custom method.sampler=module:Class`): it runs through run.py, gets
its own run directory, resumes, shows in the figures and comparison tables, and every way it can be
wrong is one line before anything runs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from labald.errors import LabaldError
from labald.figures.make import make_figures
from labald.identity import output_dir
from labald.methods import display_colour, display_name
from labald.runner import run_experiment
from labald.samplers import Candidates
from labald.samplers.base import Beliefs
from tests.helpers import ROOT, make_settings

EXAMPLE = "examples.samplers.uncertainty:UncertaintySampler"
KEY = "examples.samplers.uncertainty.UncertaintySampler"
FAST = ["dataset=digits", "learner=none", "threads=1"]


def _run_py(tmp_path, *args):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *FAST, f"results_dir={tmp_path}", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)


def test_the_example_runs_resumes_and_shows_in_figures_beside_the_paper_samplers(tmp_path):
    for seed in (0, 1):
        assert _run_py(tmp_path, "method=custom", f"method.sampler={EXAMPLE}", f"seed={seed}",
                       "max_steps=2").returncode == 0
        assert _run_py(tmp_path, "method=la_bald", f"seed={seed}", "max_steps=2").returncode == 0
    run = tmp_path / "runs" / "digits" / f"{KEY}+learner=none" / "seed=0"
    assert len(pd.read_csv(run / "metrics.csv")) == 3
    proc = _run_py(tmp_path, "method=custom", f"method.sampler={EXAMPLE}", "seed=0", "max_steps=3")
    assert proc.returncode == 0, proc.stderr
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["step"]) == [0, 1, 2, 3]  # resumed from step 2, not started over
    # its own directory for other options, which the constructor receives
    proc = _run_py(tmp_path, "method=custom", f"method.sampler={EXAMPLE}", "+method.options.worker=best",
                   "max_steps=1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "digits" / f"{KEY}+method.options.worker=best+learner=none" / "seed=0").is_dir()

    out = tmp_path / "figures"
    make_figures(tmp_path / "runs", out, say=lambda _: None, formats=("png",))
    table = pd.read_csv(out / "comparison.csv")
    rows = table[(table["method"] == KEY) & (table["baseline"] == "la_bald")]
    assert not rows.empty and set(rows["measure"]) >= {"plateau", "error_area"}
    assert "UncertaintySampler vs LA-BALD" in (out / "comparison.md").read_text()
    assert display_name(KEY) == "UncertaintySampler"
    assert display_name(KEY + "[worker=best]") == "UncertaintySampler[worker=best]"
    assert display_colour(KEY) != display_colour("la_bald")


@pytest.mark.parametrize("args, message", [
    (["method=custom"], "method=custom needs method.sampler=module:Class"),
    (["method=custom", "method.sampler=no_such_module:X"], "cannot import no_such_module"),
    (["method=custom", "method.sampler=examples.samplers.uncertainty:Nope"], "has no class Nope"),
    (["method=custom", "method.sampler=labald.errors:LabaldError"], "has no select(candidates, beliefs, rng)"),
    (["method=custom", f"method.sampler={EXAMPLE}", "+method.options.wrker=best"], "unexpected keyword"),
    (["method=custom", f"method.sampler={EXAMPLE}", "+method.options.worker=bst"], "worker must be"),
])
def test_a_sampler_that_cannot_run_is_one_line_before_anything_is_written(tmp_path, args, message):
    proc = _run_py(tmp_path, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labald: error:") and message in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_the_example_picks_the_least_certain_images_under_the_constraints(tmp_path):
    from examples.samplers.uncertainty import UncertaintySampler
    posterior = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.55, 0.45]])
    confusions = np.stack([np.eye(2) * 0.8 + 0.1, np.eye(2) * 0.6 + 0.2])
    candidates = Candidates(eligible_N=np.array([True, True, True, True]), asked_N_M=np.zeros((4, 2), bool),
                            capacity_M=np.array([1, 2]), batch_size=2)
    beliefs = Beliefs(posterior_N_K=posterior, confusions_M_K_K=confusions, log_likelihood_N_K=np.zeros((4, 2)))
    chosen = UncertaintySampler(worker="best").select(candidates, beliefs, np.random.default_rng(0))
    assert list(chosen.images) == [1, 3]  # the two least certain images
    assert list(chosen.workers) == [0, 1]  # image 1 takes the better worker, who then has no capacity left


def test_settings_name_a_custom_sampler_by_its_path_and_options(tmp_path):
    settings = make_settings(["method=custom", f"method.sampler={EXAMPLE}", "+method.options.worker=best", *FAST],
                             tmp_path)
    assert settings.method_key == KEY + "[worker=best]"
    assert output_dir(settings).parent.name == f"{KEY}+method.options.worker=best+learner=none"
    with pytest.raises(LabaldError, match="only|for method=custom"):
        make_settings(["method=ss", "+method.options.worker=best", *FAST], tmp_path)
    assert run_experiment(make_settings(["method=custom", f"method.sampler={EXAMPLE}", "max_steps=1", *FAST],
                                        tmp_path), progress=False)["steps"] == 1


BROKEN = '''
import numpy as np
from labald.samplers.base import Selection

class TwiceSampler:
    name = "twice"

    def select(self, candidates, beliefs, rng):
        image = int(np.flatnonzero(candidates.eligible_N)[0])
        return Selection(np.array([image, image]), np.array([0, 1]))
'''


def test_a_sampler_that_breaks_the_constraints_stops_the_run_with_one_line(tmp_path):
    (tmp_path / "my_samplers.py").write_text(BROKEN)  # a module in the current directory
    proc = _run_py(tmp_path, "method=custom", "method.sampler=my_samplers:TwiceSampler", "max_steps=2")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "labald: error: sampler my_samplers.TwiceSampler broke the constraints at step 1: an image appears "
        "twice in one batch")


@pytest.mark.parametrize("images, workers, problem", [
    ([0, 1], [0, 0], None),
    ([0, 1, 2], [0, 0, 1], "more than the batch size"),
    ([0], [0, 1], "1-d arrays of one length"),
    ([0.0], [0.0], "integer indices"),
    ([3], [0], "outside the pool"),
    ([2], [0], "not valid"),  # image 2 is not eligible
    ([1], [1], "not valid"),  # (1, 1) was asked before
    ([0, 0], [0, 0], "an image appears twice"),
    ([0, 1], [1, 1], "not valid"),  # worker 1 has no capacity (0)
])
def test_check_selection_names_each_broken_constraint(images, workers, problem):
    from labald.samplers.base import Selection, check_selection
    asked = np.zeros((3, 2), bool)
    asked[1, 1] = True
    candidates = Candidates(eligible_N=np.array([True, True, False]), asked_N_M=asked,
                            capacity_M=np.array([2, 0]), batch_size=2)
    found = check_selection(Selection(np.array(images), np.array(workers)), candidates)
    assert (found is None) if problem is None else (problem in found)


def test_check_selection_catches_a_worker_over_capacity():
    from labald.samplers.base import Selection, check_selection
    candidates = Candidates(eligible_N=np.ones(3, bool), asked_N_M=np.zeros((3, 2), bool),
                            capacity_M=np.array([1, 2]), batch_size=3)
    found = check_selection(Selection(np.array([0, 1]), np.array([0, 0])), candidates)
    assert found == "worker 0 gets more tasks than its capacity"


def test_a_selection_of_device_tensors_is_one_named_problem_and_cpu_tensors_become_arrays():
    """A sampler that returns torch tensors works on a CPU-only machine and would fail on the first
    GPU: tensors on a device are named as the problem with the fix; CPU tensors are converted."""
    import torch

    from labald.samplers.base import Selection, as_numpy, check_selection

    candidates = Candidates(eligible_N=np.ones(3, bool), asked_N_M=np.zeros((3, 2), bool),
                            capacity_M=np.array([2, 2]), batch_size=2)
    on_cpu = Selection(torch.tensor([0, 1]), torch.tensor([0, 1]))
    converted, names = as_numpy(on_cpu)
    assert names == ["images", "workers"]
    assert isinstance(converted.images, np.ndarray) and check_selection(converted, candidates) is None
    on_meta = Selection(torch.tensor([0, 1], device="meta"), np.array([0, 1]))  # a device that is not the CPU
    problem = check_selection(as_numpy(on_meta)[0], candidates)
    assert problem == ("images is a torch tensor on meta; return NumPy arrays (images.cpu().numpy()), as on a "
                       "CPU-only machine")


TENSORS = '''
import torch
from labald.samplers.base import Selection

class TensorSampler:
    name = "tensors"

    def select(self, candidates, beliefs, rng):
        valid = torch.from_numpy(candidates.valid_N_M).nonzero()[:1]  # one valid (image, worker) pair
        return Selection(valid[:, 0], valid[:, 1])
'''


def test_a_sampler_returning_cpu_tensors_runs_and_is_told_once(tmp_path):
    (tmp_path / "tensor_samplers.py").write_text(TENSORS)
    proc = _run_py(tmp_path, "method=custom", "method.sampler=tensor_samplers:TensorSampler", "max_steps=2")
    assert proc.returncode == 0, proc.stderr
    told = [line for line in proc.stderr.splitlines() if "as torch tensors" in line]
    assert len(told) == 1 and "images and workers" in told[0] and ".cpu().numpy()" in told[0]
