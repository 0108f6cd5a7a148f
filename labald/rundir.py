"""The run directory: atomic writes of metrics, config, summary and checkpoint."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import torch


def default_mode() -> int:
    """The mode a plain `open(path, "w")` gives a new file: 0o666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`. The file
    gets the mode the umask gives new files (mkstemp's own 0600 would hide results from the group)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, default_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_interrupted_writes(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporaries `.<name>.<random>.tmp` that a write killed mid-way left in `folder`
    (``atomic_write_bytes`` names them so); returns what it removed."""
    removed = []
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to memory, then one atomic write: a killed run never leaves a torn checkpoint."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
