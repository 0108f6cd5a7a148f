"""The `device` option: CPU results unchanged, CUDA refused without a device, CUDA runs close to CPU ones.

The CUDA tests need a GPU (marker `cuda`); scripts/gpu_check.sh runs them on one, and its own CPU half here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from labald.device import pin_numerics, resolve_device
from labald.errors import LabaldError
from labald.identity import output_dir
from labald.learner import LearnerSettings, MCDropoutLearner
from labald.metrics import TIMING_COLUMNS
from labald.runner import run_experiment
from tests.helpers import make_settings

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (scripts/gpu_check.sh)")
ARGS = ["dataset=digits", "method=la_bald", "max_steps=4", "learner.mc_samples=20"]


def _metrics(settings) -> pd.DataFrame:
    m = pd.read_csv(output_dir(settings) / "metrics.csv")
    return m.drop(columns=[c for c in TIMING_COLUMNS if c in m])


def test_fp32_is_pinned_and_reruns_made_deterministic_on_cuda_and_nothing_changes_on_the_cpu(monkeypatch):
    """pin_numerics's flags: set for a CUDA device (they are plain flags, settable without one), left as
    they were for the CPU; restored after the test, so no other test runs under them."""
    flags = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32,
             "precision": torch.get_float32_matmul_precision(),
             "deterministic": torch.are_deterministic_algorithms_enabled(),
             "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
             "benchmark": torch.backends.cudnn.benchmark, "cudnn_deterministic": torch.backends.cudnn.deterministic}
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        pin_numerics(torch.device("cpu"))
        assert torch.backends.cuda.matmul.allow_tf32 and torch.get_float32_matmul_precision() == "high"
        assert not torch.are_deterministic_algorithms_enabled() or flags["deterministic"]
        pin_numerics(torch.device("cuda"))
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "highest"
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags["matmul"], flags["cudnn"]
        torch.set_float32_matmul_precision(flags["precision"])
        torch.use_deterministic_algorithms(flags["deterministic"], warn_only=flags["warn_only"])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags["benchmark"], \
            flags["cudnn_deterministic"]


def test_auto_is_the_cpu_without_cuda_and_cuda_without_a_device_is_refused():
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(LabaldError, match="device=cuda but torch sees no CUDA device"):
            resolve_device("cuda")


def test_device_cpu_and_auto_give_the_same_metrics_on_a_cpu_machine(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("auto is CUDA here; the CUDA tests compare the devices")
    runs = []
    for device in ("cpu", "auto"):
        settings = make_settings([*ARGS, f"device={device}"], tmp_path / device)
        run_experiment(settings, progress=False)
        runs.append(_metrics(settings))
    pd.testing.assert_frame_equal(*runs)


@pytest.mark.cuda
@CUDA
def test_a_learner_on_cuda_predicts_what_the_cpu_learner_does():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-6), dtype=torch.float32)
    y = torch.tensor(y)
    settings = LearnerSettings(mc_samples=20, max_epochs=5, min_updates=50)
    probs = {}
    for device in ("cpu", "cuda"):
        learner = MCDropoutLearner(settings, 64, 10, seed=0, device=device)
        learner.fit(x[:1000], y[:1000], x[1000:1300], y[1000:1300], step=0)
        probs[device] = learner.predict_mc(x[1300:], step=1).cpu()
    # same batches, masks and initial weights; only float rounding order differs
    assert torch.allclose(probs["cpu"], probs["cuda"], atol=1e-3)


@pytest.mark.cuda
@CUDA
def test_cuda_runs_repeat_themselves_and_stay_close_to_the_cpu_run(tmp_path):
    runs = {}
    for name, device in (("a", "cuda"), ("b", "cuda"), ("cpu", "cpu")):
        settings = make_settings([*ARGS, f"device={device}"], tmp_path / name)
        run_experiment(settings, progress=False)
        runs[name] = _metrics(settings)
    pd.testing.assert_frame_equal(runs["a"], runs["b"])  # same seed on CUDA: same metrics
    # CPU vs CUDA (docs/design.md, "Devices and threads"): float rounding moves the model's predictions by
    # ~1e-6, which can flip a tie in the selection, so whole runs agree to within a few percent, not bit for bit.
    gap = np.abs(runs["a"]["label_accuracy"].to_numpy() - runs["cpu"]["label_accuracy"].to_numpy())
    assert gap.max() < 0.05


def _gpu_check():
    from tests.helpers import script_module

    return script_module("gpu_check")


def test_the_gpu_checks_phases_fit_its_budget_and_its_summary_reads_both_devices(tmp_path):
    """The phases' limits add up to at most 240 s; the summary table puts each phase's CPU and CUDA
    seconds side by side with their ratio, MC inference against its floor, and the label accuracies
    of the two devices with their largest difference; a phase that was cut shows as cut."""
    check = _gpu_check()
    assert check.BUDGET == 240 and sum(check.PHASES.values()) <= check.BUDGET
    (tmp_path / "agreement_cpu.txt").write_text("step 0 label_accuracy 0.500000\nstep 1 label_accuracy 0.700000\n")
    (tmp_path / "agreement_cuda.txt").write_text("step 0 label_accuracy 0.500000\nstep 1 label_accuracy 0.680000\n")
    (tmp_path / "bench_cpu.csv").write_text("method,phase,seconds\nss,inference,2.0\nss,step,3.0\nfloor,inference,1.0\n")
    (tmp_path / "bench_cuda.csv").write_text("method,phase,seconds\nss,inference,0.5\nss,step,1.5\nfloor,inference,0.1\n")
    text = check.summary(tmp_path, True, {"device": (0, 1.0), "bench_cuda": (None, 60.0)})
    assert "largest difference over 2 steps: 0.0200" in text
    assert [line.split() for line in text.splitlines() if line.startswith("ss ")] == [
        ["ss", "inference", "2.000", "0.500", "0.25"], ["ss", "step", "3.000", "1.500", "0.50"]]
    assert "MC inference on cuda, ss: 0.500 s, 5.0x its GEMM floor (0.100 s)" in text
    assert any(line.split()[:2] == ["bench_cuda", "cut"] for line in text.splitlines())


@pytest.mark.slow
def test_the_gpu_check_runs_its_cpu_half_within_its_budget_without_a_device(tmp_path):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the check runs both halves")
    root = Path(__file__).resolve().parents[1]
    started = time.monotonic()
    env = {**os.environ, "OUT": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started <= 240
    assert sum("no CUDA device" in line for line in done.stdout.splitlines()) >= 1
    summary = (tmp_path / "summary.txt").read_text()
    assert "CPU half only" in summary and "MC inference on cpu, la_bald" in summary
    accuracies = _gpu_check().accuracies(tmp_path / "agreement_cpu.txt")
    assert len(accuracies) == 5 and all(0 < a <= 1 for a in accuracies)  # step 0 and four steps
