"""A backbone's weights from a state_dict file, for the feature extractors (torchvision's backbones
and EfficientNet-Lite0): one reader, with one clear error for a file that does not fit."""

from __future__ import annotations

from pathlib import Path

from labald.errors import LabaldError


def load_state_dict_file(model, path: Path, backbone: str, head: str) -> None:
    """Load a state_dict file (or a checkpoint holding one under `state_dict` / `model`), without
    its classifier: a backbone fine-tuned on other classes fits too."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LabaldError(f"weights file {path} is not a torch state_dict ({type(e).__name__}); save one with "
                          "torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict):
        state = state.get("state_dict", state.get("model", state))
    if not isinstance(state, dict):
        raise LabaldError(f"weights file {path} holds no state_dict; save one with torch.save(model.state_dict())")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith(
        head + ".")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise LabaldError(f"weights file {path} does not fit {backbone} ({first[:200]}); give weights of that "
                          "backbone or choose the backbone they belong to") from None
