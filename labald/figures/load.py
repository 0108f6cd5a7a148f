"""Read run directories into one long pandas frame, grouped by what each run's config.yaml says.

A run is any directory holding `metrics.csv` and `config.yaml` (SPEC 7). Runs are grouped by their
settings, never by their path, so a layout change or an explicit `run_dir` does not mix settings:
- `panel`: the dataset as plotted, its name plus the pool size when `dataset.n_per_class` is set;
- `setting`: the study a run belongs to (stopping rule, imbalance ratio, local form, no learner,
  synthetic workers, batch size, cap, confidence, learning-core options), a short slug, `main` for
  the paper's protocol.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import yaml

from labald.errors import LabaldError
from labald.samplers.custom import CUSTOM, custom_method_key
from labald.settings import ablation_changes

RUN_COLUMNS = ("run", "panel", "dataset", "setting", "method", "seed")


class FiguresError(LabaldError):
    """Nothing to plot, or an input that cannot be read; printed as one line by the CLI."""


def setting_slug(config: dict) -> str:
    """`main` for the paper's default study, else the non-default settings joined by commas."""
    dataset, stopping = config.get("dataset") or {}, config.get("stopping") or {}
    acquisition = config.get("acquisition") or {}
    parts = []
    rule = stopping.get("rule") or stopping.get("name") or "unconfident"
    if rule == "budget":
        parts.append(f"budget={_number(stopping.get('annotations_per_image'))}")
    elif rule != "unconfident":
        parts.append(f"stopping={rule}")
    ratio = dataset.get("imbalance_ratio") or 1
    if float(ratio) != 1:
        parts.append(f"imbalance={_number(ratio)}")
    local = acquisition.get("local") or "paper"
    if local != "paper":
        parts.append(f"local={local}")
    if config.get("learner") is None and "learner" in config:
        parts.append("learner=none")
    workers = (config.get("workers") or {}).get("source", "amt")
    if workers != "amt":
        parts.append(f"workers={workers}")
    for key, paper in (("batch_size", 100), ("max_per_image", 3), ("confidence", 0.9)):
        if key in config and float(config[key]) != paper:
            parts.append(f"{key}={_number(config[key])}")
    parts += _core_parts(config)
    for key in ("replicate", "rerun"):
        if config.get(key):
            parts.append(f"{key}={config[key]}")
    return ",".join(parts) or "main"


def _core_parts(config: dict) -> list[str]:
    """Options off their defaults (labald.settings.ablation_changes), or `core=old` for a run written
    before the core had them, so such runs never join the main study's curves."""
    learner = config.get("learner")
    if isinstance(learner, dict) and "cross_fit" not in learner:
        return ["core=old"]
    return [f"{key}={value}" for key, value in ablation_changes(config).items()]


def panel_name(config: dict) -> str:
    dataset = config.get("dataset") or {}
    name = str(dataset.get("name", "?"))
    n = dataset.get("n_per_class")
    return f"{name} ({n}/class)" if n else name


def _number(value) -> str:
    if value is None:
        return "?"
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def find_runs(runs_dir: Path) -> list[Path]:
    """Every directory under runs_dir with a metrics.csv and a config.yaml, sorted."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FiguresError(f"no runs directory at {runs_dir}; run `python run.py ...` or `make reproduce` first")
    runs = sorted(p.parent for p in runs_dir.rglob("metrics.csv") if (p.parent / "config.yaml").is_file())
    if not runs:
        raise FiguresError(f"no runs under {runs_dir} (no metrics.csv beside a config.yaml); "
                           "run `python run.py ...` or `make reproduce` first")
    return runs


def read_run(run: Path) -> pd.DataFrame | None:
    """One run's metrics with its identifying columns; None (with a warning) if unreadable or empty."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
        metrics = pd.read_csv(run / "metrics.csv")
    except (OSError, yaml.YAMLError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        warnings.warn(f"skipping {run}: unreadable ({type(e).__name__})", stacklevel=2)
        return None
    if metrics.empty or not {"annotations_per_image", "label_accuracy"} <= set(metrics.columns):
        warnings.warn(f"skipping {run}: metrics.csv has no steps", stacklevel=2)
        return None
    summary_path = run / "summary.json"
    finished = summary_path.is_file()
    metrics = metrics.copy()
    if "phase" not in metrics.columns:
        metrics["phase"] = "label"
    metrics.insert(0, "finished", finished)
    for column, value in reversed(list(_identity(run, config).items())):
        metrics.insert(0, column, value)
    return metrics


def _identity(run: Path, config: dict) -> dict:
    return {
        "run": str(run),
        "panel": panel_name(config),
        "dataset": str((config.get("dataset") or {}).get("name", "?")),
        "setting": setting_slug(config),
        "method": _method_key(config),
        "seed": int(config.get("seed", 0)),
    }


def _method_key(config: dict) -> str:
    """The run's method; a custom sampler by its path and options (labald.samplers.custom)."""
    method = str(config.get("method", "?"))
    if method != CUSTOM:
        return method
    options = [(str(k), v) for k, v in (config.get("sampler_options") or [])]
    return custom_method_key(str(config.get("sampler")), options)


def load_runs(runs_dir: Path) -> pd.DataFrame:
    """All steps of all runs under runs_dir, one row per step (see the module docstring).

    Two runs with the same panel, setting, method and seed (for example one copied elsewhere):
    the most recently modified is kept, with a warning."""
    frames = [f for f in (read_run(r) for r in find_runs(runs_dir)) if f is not None]
    if not frames:
        raise FiguresError(f"no readable runs under {runs_dir}; every metrics.csv was empty or unreadable")
    frame = pd.concat(frames, ignore_index=True)
    key = ["panel", "setting", "method", "seed"]
    runs = frame[key + ["run"]].drop_duplicates()
    duplicated = runs[runs.duplicated(key, keep=False)]
    if not duplicated.empty:
        newest = (duplicated.assign(mtime=[Path(r, "metrics.csv").stat().st_mtime for r in duplicated["run"]])
                  .sort_values("mtime").drop_duplicates(key, keep="last")["run"])
        dropped = sorted(set(duplicated["run"]) - set(newest))
        warnings.warn(f"{len(dropped)} run(s) repeat a (dataset, setting, method, seed); kept the newest, "
                      f"ignored: {', '.join(dropped)}", stacklevel=2)
        frame = frame[~frame["run"].isin(dropped)]
    return frame.sort_values(["panel", "setting", "method", "seed", "step"]).reset_index(drop=True)


def read_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """summary.json of each run in the frame (finished runs only), one row per run."""
    rows = []
    for run, group in frame.groupby("run", sort=False):
        path = Path(run) / "summary.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        rows.append({**group.iloc[0][list(RUN_COLUMNS)].to_dict(), "wall_seconds": summary.get("wall_seconds"),
                     "steps": summary.get("steps"), "stop_reason": summary.get("stop_reason"),
                     "load_1min": summary.get("load_1min"), "cores": summary.get("cores")})
    return pd.DataFrame(rows)
