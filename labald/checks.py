"""Range checks of one setting each, shared by the settings groups that validate themselves: the
first bad value raises a LabaldError naming the key, what it must be, and an example."""

from __future__ import annotations

import math
from typing import Any

from labald.errors import LabaldError


def integer(key: str, value: Any, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LabaldError(f"{key}={value!r} is invalid; it must be an integer >= {low}")


def number(key: str, value: Any, low: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise LabaldError(f"{key}={value!r} is invalid; it must be a number {'>' if strict else '>='} {low}")


def unit(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok:
        raise LabaldError(f"{key}={value!r} is invalid; it must lie between 0 and 1, e.g. 0.1")


def open_unit(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise LabaldError(f"{key}={value!r} is invalid; it must lie strictly between 0 and 1, e.g. 0.9")


def choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LabaldError(f"{key}={value!r} is unknown; choose one of: {', '.join(choices)}")


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise LabaldError(f"{key}={value!r} is invalid; it must be true or false")
