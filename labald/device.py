"""Where a run's tensors live: the one place that turns `device=auto|cpu|cuda` into a torch device.

The learner (training, calibration, MC inference) and the joint samplers' scoring run on it; EM,
the greedy selection and the metrics stay on the CPU in numpy (sparse, sequential or tiny work,
measured well under a tenth of a step), and everything saved in a checkpoint is on the CPU, so a
run resumes on either device.
"""

from __future__ import annotations

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
