"""Where a run's time goes: seconds per step in EM, training, MC inference, scoring and selection,
the spread of the whole step over runs, and how loaded the machine was."""

from __future__ import annotations

import math

import pandas as pd

from labald.figures.style import setting_title
from labald.methods import display_name, in_order

PHASES = {"seconds_em": "EM", "seconds_train": "training", "seconds_inference": "MC inference",
          "seconds_scoring": "scoring", "seconds_selection": "selection"}
KEY = ["setting", "panel", "method"]


def timing_table(frame: pd.DataFrame, summaries: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (setting, panel, method): runs, mean steps per run, mean seconds per step per phase
    (over all steps of all runs), the whole step's min / median / max over runs (each run's mean
    step), and, from `summaries` (`load.read_summaries`), the median and max over runs of the
    machine's 1-minute load average as each run finished, with the machine's cores."""
    phases = [c for c in PHASES if c in frame.columns]
    has_step = "seconds_step" in frame.columns
    rows = []
    for (setting, panel, method), group in frame.groupby(KEY):
        per_step = group[phases + (["seconds_step"] if has_step else [])].mean()
        row = {"setting": setting, "panel": panel, "method": method, "runs": group["run"].nunique(),
               "steps_per_run": len(group) / group["run"].nunique(), **per_step.to_dict()}
        if has_step:
            per_run = group.groupby("run")["seconds_step"].mean()
            row.update(step_min=per_run.min(), step_median=per_run.median(), step_max=per_run.max())
        row["dominant"] = PHASES[per_step[phases].idxmax()] if phases else ""
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    if summaries is not None and not summaries.empty and "load_1min" in summaries.columns:
        loads = (summaries.dropna(subset=["load_1min"]).groupby(KEY)
                 .agg(load_median=("load_1min", "median"), load_max=("load_1min", "max"), cores=("cores", "max")))
        table = table.merge(loads.reset_index(), on=KEY, how="left")
    table["_order"] = table["method"].map({m: i for i, m in enumerate(in_order(table["method"]))})
    return table.sort_values(["setting", "panel", "_order"]).drop(columns="_order").reset_index(drop=True)


def _load(row) -> str:
    median = row.get("load_median", math.nan)
    if pd.isna(median):
        return "n/a"
    return f"{median:.1f} / {row['load_max']:.1f} on {int(row['cores'])}"


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["# Time per step", "",
             "Seconds per step of each phase, the mean over all steps of all seeds (from metrics.csv); the",
             "whole step as min / median / max over runs (each run's mean step); the machine's 1-minute load",
             "average as the runs finished, median / max over runs, and its cores (from summary.json; n/a for",
             "runs that did not record it). Compare times only between rows run on one machine at one load.",
             ""]
    phases = [c for c in PHASES if c in table.columns]
    spread = "step_median" in table.columns
    for setting, study in table.groupby("setting", sort=False):
        lines += [f"## {setting_title(setting)} (`{setting}`)", "",
                  "| dataset | method | runs | steps/run | " + " | ".join(PHASES[p] for p in phases)
                  + " | whole step | " + ("min / median / max | load | " if spread else "") + "dominant |",
                  "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in phases) + " | ---: | "
                  + ("---: | ---: | " if spread else "") + "--- |"]
        for _, r in study.iterrows():
            cells = [r["panel"], display_name(r["method"]), str(r["runs"]), f"{r['steps_per_run']:.1f}",
                     *(f"{r[p]:.3f}" for p in phases), f"{r.get('seconds_step', float('nan')):.3f}"]
            if spread:
                cells += [f"{r['step_min']:.3f} / {r['step_median']:.3f} / {r['step_max']:.3f}", _load(r)]
            lines.append("| " + " | ".join(cells + [r["dominant"]]) + " |")
        lines.append("")
    return "\n".join(lines)
