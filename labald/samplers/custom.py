"""A sampler a user brings: `python run.py method=custom method.sampler=my_module:MySampler`.

The class is imported by its path `module:Class` (the module found on PYTHONPATH, in the current
directory or in the repository root) and must implement the `Sampler` protocol of
`labald.samplers.base`: a `select(candidates, beliefs, rng)` method returning a `Selection`.
Keyword arguments of its constructor come from `method.options` (`+method.options.beta=2`, or
`method.options={beta:2}`). Everything is checked before the run starts: an import that fails, a
missing class, a class without `select`, or options the constructor refuses is one line of error.

A custom sampler is named by its path: its runs live in `<module>.<Class>[+method.options.k=v]`
run directories, and figures and comparison tables show it by its class name (and options), with
a colour of its own, compared with the paper's samplers and LA-BALD on the same seeds.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

from labald.errors import LabaldError
from labald.samplers.base import Sampler

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_sampler_class(path: str | None) -> type:
    """The class at `module:Class`; LabaldError (one line) when it cannot be a sampler."""
    if not path or not _PATH.match(str(path)):
        raise LabaldError(f"method=custom needs method.sampler=module:Class (an importable class), got {path!r}")
    module_name, class_name = str(path).split(":")
    for folder in (os.getcwd(), _repository_root()):
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure of the user's module is reported in one line
        raise LabaldError(f"method.sampler={path}: cannot import {module_name} ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise LabaldError(f"method.sampler={path}: {module_name} has no class {class_name}")
    if not callable(getattr(cls, "select", None)):
        raise LabaldError(f"method.sampler={path}: {class_name} has no select(candidates, beliefs, rng) method "
                          "(the Sampler protocol of labald.samplers.base)")
    return cls


def check_custom_sampler(path: str | None, options: Iterable[tuple[str, Any]] = ()) -> None:
    """LabaldError (one line) unless the class at `path` can be built with keyword `options`: the
    check before any run is building it once."""
    make_custom_sampler(path, options)


def make_custom_sampler(path: str | None, options: Iterable[tuple[str, Any]] = ()) -> Sampler:
    """An instance of the class at `path` built with keyword `options`; LabaldError (one line) if the
    class cannot be loaded, its signature refuses the options, or its constructor raises."""
    cls = load_sampler_class(path)
    kwargs = dict(options)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as e:
        raise LabaldError(f"method.sampler={path}: method.options {kwargs} do not fit {cls.__name__}: {e}") from None
    try:
        return cls(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's constructor: its own message, in one line
        raise LabaldError(f"method.sampler={path}: {cls.__name__}({_arguments(options)}) failed: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None


def _arguments(options: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options)


def _repository_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
