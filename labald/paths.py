"""Destinations of results, checked before any work starts (runs, sweeps and the `labald` CLI)."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from labald.errors import LabaldError


def check_destination(path: Path | str, what: str, *, is_file: bool = False) -> None:
    """Raise a LabaldError unless `path` (a folder, or a file with `is_file`) can be created or written.

    The nearest existing ancestor must be a writable folder: a regular file anywhere above the
    destination (or at it, for a folder) would otherwise fail only when results are saved, after
    all the work.
    """
    path = Path(path).expanduser()
    if path.exists():
        if is_file and path.is_dir():
            raise LabaldError(f"{what} {path} is a folder; give a file path")
        if not is_file and not path.is_dir():
            raise LabaldError(f"{what} {path} is a file, not a folder; choose another path")
        if not os.access(path if not is_file else path.parent, os.W_OK):
            raise LabaldError(f"{what} {path} is not writable; choose another path or fix its permissions")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LabaldError(f"{what} {path} lies under {ancestor}, which is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise LabaldError(f"{what} {path} cannot be created: {ancestor} is not writable; choose another path")


def file_tag(path: Any) -> str:
    """8 hex digits of the SHA-256 of a file's content (so a renamed copy keeps its runs, an edited
    file gets new ones); of its path when the file is not there (an old run's config read elsewhere)."""
    if path is None:
        return "none"
    p = Path(str(path)).expanduser()
    try:
        stat = p.stat()
    except OSError:
        stat = None
    if stat is None or not p.is_file():  # absent, or a folder: nothing to hash but the path
        return "path" + hashlib.sha256(str(path).encode()).hexdigest()[:8]
    return _content_hash(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's content, as 64 hex digits, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _content_hash(path: str, _mtime: int, _size: int) -> str:
    return sha256_file(path)[:8]
