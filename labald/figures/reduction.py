"""LA-BALD's annotation reduction vs each baseline (SPEC 7 item 5; paper Sec. 5, appendix B.3).

Per dataset, study and seed, the target is the lowest final label accuracy across the methods run
with that seed, so every method reaches it. A method's cost is the annotations per image at which
its label accuracy first reaches the target (linear interpolation between steps). LA-BALD's
reduction vs baseline b is 100 * (cost_b - cost_LA) / cost_b, per seed; the table gives its mean,
a 95% t-interval over seeds and the number of seeds where LA-BALD needs fewer annotations.
Only finished runs (with a summary.json) count: a run cut short would lower the target.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from labald.figures.style import method_name, setting_title, sorted_methods

LA = "la_bald"
ALL_PANELS = "mean over datasets"
SS_TYPE, JBALD_TYPE = ("ss", "rand_i_greedy_w"), ("j_bald",)
COLUMNS = ("setting", "panel", "baseline", "n_seeds", "target_accuracy", "cost_baseline", "cost_la_bald",
           "reduction_pct", "ci_low", "ci_high", "wins", "paper")


def annotations_to_reach(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """Annotations per image at which the curve y(x) first reaches target; NaN if it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    reached = np.flatnonzero(y >= target)
    if reached.size == 0:
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))


def costs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, panel, seed, method): the common target and the method's cost."""
    rows = []
    finished = frame[frame["finished"]] if "finished" in frame.columns else frame
    for (setting, panel, seed), group in finished.groupby(["setting", "panel", "seed"]):
        curves = {m: r.sort_values("step") for m, r in group.groupby("method")}
        if LA not in curves or len(curves) < 2:
            continue
        target = min(float(r["label_accuracy"].iloc[-1]) for r in curves.values())
        for method, run in curves.items():
            cost = annotations_to_reach(run["annotations_per_image"], run["label_accuracy"], target)
            rows.append({"setting": setting, "panel": panel, "seed": seed, "method": method,
                         "target_accuracy": target, "cost": cost})
    return pd.DataFrame(rows, columns=["setting", "panel", "seed", "method", "target_accuracy", "cost"])


def paper_reference(setting: str, baseline: str) -> str:
    if setting == "main" and baseline in SS_TYPE:
        return "19% (vs SS-type, mean of 4 subtasks)"
    if setting == "main" and baseline in JBALD_TYPE:
        return "12% (vs J-BALD-type, mean of 4 subtasks)"
    if setting == "imbalance=10" and baseline in JBALD_TYPE:
        return "20% and 6% (vs J-BALD, imbalance 10)"
    return ""


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval; the interval is NaN with fewer than two values."""
    values = np.asarray(values, float)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def reduction_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The reduction table of every study in the frame, plus a mean-over-datasets row per baseline."""
    per_seed = _per_seed_reductions(costs(frame))
    rows = []
    for setting, study in per_seed.groupby("setting", sort=False):
        panels = sorted(study["panel"].unique())
        for baseline in sorted_methods(study["baseline"].unique()):
            for panel in panels:
                cell = study[(study["panel"] == panel) & (study["baseline"] == baseline)]
                if not cell.empty:
                    rows.append(_row(setting, panel, baseline, cell))
            if len(panels) > 1:  # the paper reports averages over subtasks: per seed, the mean over datasets
                cell = study[study["baseline"] == baseline].groupby("seed").mean(numeric_only=True).reset_index()
                rows.append(_row(setting, ALL_PANELS, baseline, cell))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {s: i for i, s in enumerate(["main", *sorted(set(table["setting"]) - {"main"})])}
    return table.sort_values("setting", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _per_seed_reductions(cost: pd.DataFrame) -> pd.DataFrame:
    wide = cost.pivot_table(index=["setting", "panel", "seed"], columns="method", values="cost")
    targets = cost.groupby(["setting", "panel", "seed"])["target_accuracy"].first()
    rows = []
    for baseline in [m for m in wide.columns if m != LA]:
        pair = wide[[baseline, LA]].dropna()
        pair = pair[pair[baseline] > 0]
        for key, (c_b, c_la) in pair.iterrows():
            rows.append({"setting": key[0], "panel": key[1], "seed": key[2], "baseline": baseline,
                         "target_accuracy": targets[key], "cost_baseline": c_b, "cost_la_bald": c_la,
                         "reduction_pct": 100.0 * (c_b - c_la) / c_b})
    return pd.DataFrame(rows, columns=["setting", "panel", "seed", "baseline", "target_accuracy",
                                       "cost_baseline", "cost_la_bald", "reduction_pct"])


def _row(setting: str, panel: str, baseline: str, cell: pd.DataFrame) -> dict:
    mean, low, high = interval(cell["reduction_pct"].to_numpy())
    return {"setting": setting, "panel": panel, "baseline": baseline, "n_seeds": len(cell),
            "target_accuracy": cell["target_accuracy"].mean(), "cost_baseline": cell["cost_baseline"].mean(),
            "cost_la_bald": cell["cost_la_bald"].mean(), "reduction_pct": mean, "ci_low": low, "ci_high": high,
            "wins": int((cell["reduction_pct"] > 0).sum()), "paper": paper_reference(setting, baseline)}


def to_markdown(table: pd.DataFrame) -> str:
    """reduction.md: one section per study, numbers rounded for reading (reduction.csv keeps them all)."""
    lines = ["# LA-BALD's annotation reduction", "",
             "Annotations per image each method needs to reach a common target label accuracy (per seed: the",
             "lowest final label accuracy across the methods), and LA-BALD's reduction vs each baseline:",
             "mean over seeds with a 95% t-interval, and the seeds where LA-BALD needs fewer annotations.",
             "Differences under ~15% need 5 or more seeds to resolve.", ""]
    if table.empty:
        return "\n".join(lines + ["No dataset has finished runs of LA-BALD and a baseline with the same seed.", ""])
    for setting, study in table.groupby("setting", sort=False):
        lines += [f"## {setting_title(setting)} (`{setting}`)", "",
                  "| dataset | baseline | seeds | target acc. | ann./image baseline | ann./image LA-BALD "
                  "| reduction % (95% CI) | LA-BALD wins | paper |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for _, r in study.iterrows():
            ci = "" if math.isnan(r["ci_low"]) else f" ({r['ci_low']:.1f} to {r['ci_high']:.1f})"
            panel = f"**{r['panel']}**" if r["panel"] == ALL_PANELS else r["panel"]
            lines.append(f"| {panel} | {method_name(r['baseline'])} | {r['n_seeds']} | {r['target_accuracy']:.3f} "
                         f"| {r['cost_baseline']:.3f} | {r['cost_la_bald']:.3f} | {r['reduction_pct']:.1f}{ci} "
                         f"| {r['wins']}/{r['n_seeds']} | {r['paper'] or '—'} |")
        lines.append("")
    return "\n".join(lines)
