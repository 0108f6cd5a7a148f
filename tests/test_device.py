"""The `device` option: CPU results unchanged, CUDA refused without a device, CUDA runs close to CPU ones.

The CUDA tests need a GPU (marker `cuda`); scripts/gpu_check.sh runs them on one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from labald.device import pin_numerics, resolve_device
from labald.errors import LabaldError
from labald.learner import LearnerSettings, MCDropoutLearner
from labald.metrics import TIMING_COLUMNS
from labald.runner import run_experiment
from tests.helpers import make_settings

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (scripts/gpu_check.sh)")
ARGS = ["dataset=digits", "method=la_bald", "max_steps=4", "learner.mc_samples=20"]


def _metrics(settings) -> pd.DataFrame:
    m = pd.read_csv(settings.output_dir / "metrics.csv")
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
