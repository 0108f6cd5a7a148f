"""Where a run's time goes: mean seconds per step in EM, training, MC inference, scoring and selection."""

from __future__ import annotations

import pandas as pd

from labald.figures.style import method_name, setting_title, sorted_methods

PHASES = {"seconds_em": "EM", "seconds_train": "training", "seconds_inference": "MC inference",
          "seconds_scoring": "scoring", "seconds_selection": "selection"}


def timing_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, panel, method): runs, mean steps per run, mean seconds per step per phase."""
    phases = [c for c in PHASES if c in frame.columns]
    rows = []
    for (setting, panel, method), group in frame.groupby(["setting", "panel", "method"]):
        per_step = group[phases + (["seconds_step"] if "seconds_step" in group else [])].mean()
        row = {"setting": setting, "panel": panel, "method": method, "runs": group["run"].nunique(),
               "steps_per_run": len(group) / group["run"].nunique(), **per_step.to_dict()}
        row["dominant"] = PHASES[per_step[phases].idxmax()] if phases else ""
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_order"] = table["method"].map({m: i for i, m in enumerate(sorted_methods(table["method"]))})
    return table.sort_values(["setting", "panel", "_order"]).drop(columns="_order").reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["# Time per step", "", "Mean seconds per step of each phase, over all steps of all seeds "
             "(from metrics.csv).", ""]
    phases = [c for c in PHASES if c in table.columns]
    for setting, study in table.groupby("setting", sort=False):
        lines += [f"## {setting_title(setting)} (`{setting}`)", "",
                  "| dataset | method | runs | steps/run | " + " | ".join(PHASES[p] for p in phases)
                  + " | whole step | dominant |",
                  "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in phases) + " | ---: | --- |"]
        for _, r in study.iterrows():
            lines.append(f"| {r['panel']} | {method_name(r['method'])} | {r['runs']} | {r['steps_per_run']:.1f} | "
                         + " | ".join(f"{r[p]:.3f}" for p in phases)
                         + f" | {r.get('seconds_step', float('nan')):.3f} | {r['dominant']} |")
        lines.append("")
    return "\n".join(lines)
