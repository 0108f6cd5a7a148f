"""Where a run's tensors live: the one place that turns `device=auto|cpu|cuda` into a torch device.

The learner (training, calibration, MC inference) and the joint samplers' scoring run on it; EM,
the greedy selection and the metrics stay on the CPU in numpy (sparse, sequential or tiny work,
measured well under a tenth of a step), and everything saved in a checkpoint is on the CPU, so a
run resumes on either device.
"""

from __future__ import annotations

import os

import torch

from labald.errors import LabaldError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when torch sees a device, else the CPU; `cuda` without one is an error."""
    if name not in DEVICES:
        raise LabaldError(f"device={name!r} is unknown; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise LabaldError("device=cuda but torch sees no CUDA device (torch.cuda.is_available() is false); "
                          "use device=cpu or device=auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pin_numerics(device: torch.device) -> None:
    """On a CUDA device: fp32 as fp32, and the settings identical reruns need; nothing on the CPU.

    TF32 off (matmuls and cuDNN convolutions, `float32_matmul_precision="highest"`): under TF32 an
    fp32 product carries errors of ~1e-3, above the 1e-4 margin by which pruned scoring is known to
    pick the batch full scoring picks, and results would depend on the card. For reruns: cuBLAS's
    fixed workspace (CUBLAS_WORKSPACE_CONFIG, read at its first call), deterministic algorithms where
    torch has them (a warning, not an error, where it has none), cuDNN without autotuning. The one
    place these are set; docs/design.md, "Devices and threads".
    """
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
