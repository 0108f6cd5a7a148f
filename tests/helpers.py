"""Shared test helpers: where the AMT data lives and how to build settings like the CLI does."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from labald.cli.run import config_dir
from labald.config import settings_from_config
from labald.settings import RunSettings

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = config_dir()  # the checkout's configs/ (tests/test_packaging.py checks it)


def original_amt_file() -> Path | None:
    """Liao et al.'s original group_workers.json: under $LABALD_DATA_DIR, else ../shared/data beside
    the checkout; None on a clone without it (CI sets LABALD_REQUIRE_ORIGINAL=1: then it must be there)."""
    path = Path(os.environ.get("LABALD_DATA_DIR") or ROOT.parent / "shared" / "data") / "group_workers.json"
    if os.environ.get("LABALD_REQUIRE_ORIGINAL") == "1":
        assert path.is_file(), f"LABALD_REQUIRE_ORIGINAL=1 but {path} is missing"
    return path if path.is_file() else None


def shared_data(name: str) -> Path | None:
    """A folder of ../shared/data (or $LABALD_DATA_DIR): `imagenet_real`, `labelme`; None on a clone
    without it, unless CI's LABALD_REQUIRE_ORIGINAL=1 says it must be there."""
    path = Path(os.environ.get("LABALD_DATA_DIR") or ROOT.parent / "shared" / "data") / name
    if os.environ.get("LABALD_REQUIRE_ORIGINAL") == "1":
        assert path.is_dir(), f"LABALD_REQUIRE_ORIGINAL=1 but {path} is missing"
    return path if path.is_dir() else None


def compose_config(overrides: list[str]) -> dict:
    """The resolved config of `python run.py <overrides>` as a plain dict (what run.py passes on)."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return container


def make_settings(overrides: list[str], tmp_path: Path) -> RunSettings:
    return settings_from_config(compose_config([f"results_dir={tmp_path}", *overrides]))


def script_module(name: str):
    """scripts/<name>.py loaded as a module (the scripts are not a package)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
