"""Read run directories into one long pandas frame, grouped by what each run's config.yaml says.

A run is any directory holding `metrics.csv` and `config.yaml`. Runs are grouped by their
settings, never by their path, so a layout change or an explicit `run_dir` does not mix settings:
- `panel`: the dataset as plotted, its name plus the pool size when `dataset.n_per_class` is set;
- `setting`: the study a run belongs to: what its settings change from the paper's protocol
  (`labald.identity.protocol_diff`, the same comparison that names run directories and is written to
  summary.json) but the pool size, joined by commas; `main` for the paper's protocol.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import yaml

from labald.errors import LabaldError
from labald.identity import protocol_diff, study_slug
from labald.methods import CUSTOM, custom_method_key

RUN_COLUMNS = ("run", "panel", "dataset", "setting", "method", "seed")


class FiguresError(LabaldError):
    """Nothing to plot, or an input that cannot be read; printed as one line by the CLI."""


def setting_slug(config: dict) -> str:
    """The study of a run: its differences from the paper's protocol (`labald.identity.protocol_diff`)
    but the pool size, `main` for none; `core=old` for a run of the older learning core, so such runs
    never join the main study's curves."""
    diff = protocol_diff(config)
    learner = config.get("learner")
    if isinstance(learner, dict) and "cross_fit" not in learner:
        diff = {k: v for k, v in diff.items() if "." not in k} | {"core": "old"}
    return study_slug(diff)


def panel_name(config: dict) -> str:
    dataset = config.get("dataset") or {}
    name = str(dataset.get("name", "?"))
    n = dataset.get("n_per_class")
    return f"{name} ({n}/class)" if n else name


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
    if "cost_per_image" not in metrics.columns and _default_prices(config):  # a run from before the column
        metrics["cost_per_image"] = metrics["annotations_per_image"]
    metrics.insert(0, "finished", finished)
    for column, value in reversed(list(_identity(run, config).items())):
        metrics.insert(0, column, value)
    return metrics


def _default_prices(config: dict) -> bool:
    """Whether a run paid every answer 1 (labald.costs), so its money per image is its annotations per
    image; a run that set other prices and predates the cost columns has no money axis."""
    workers = config.get("workers") or {}
    return all(float(workers.get(key, 1.0)) == 1.0 for key in ("cost_crowd", "cost_expert"))


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
