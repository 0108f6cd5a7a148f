"""Annotation reduction of LA-BALD, and of any sampler of ours, vs each baseline (SPEC 7 item 5;
paper Sec. 5, appendix B.3).

Per dataset, study and seed, the target is the lowest final label accuracy across the paper's methods
run with that seed (and the compared sampler, when it is not one of them), so every method reaches it.
A method's cost is the annotations per image at which its label accuracy first reaches the target
(linear interpolation between steps). The reduction of method m vs baseline b is
100 * (cost_b - cost_m) / cost_b, per seed; the table gives its mean, a 95% t-interval over seeds and
the number of seeds where m needs fewer annotations. LA-BALD is compared with the paper's baselines
(SS, Rand-I+Greedy-W, J-BALD); a sampler outside the paper (issue 13, e.g. EAG) with those and LA-BALD.
Only finished runs (with a summary.json) count: a run cut short would lower the target.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from labald.figures.style import method_name, setting_title, sorted_methods

LA = "la_bald"
ALL_PANELS = "mean over datasets"
SS_TYPE, JBALD_TYPE = ("ss", "rand_i_greedy_w"), ("j_bald",)
PAPER_BASELINES = (*SS_TYPE, *JBALD_TYPE)
PAPER_METHODS = (*PAPER_BASELINES, LA)
COLUMNS = ("setting", "panel", "method", "baseline", "n_seeds", "target_accuracy", "cost_baseline", "cost_method",
           "reduction_pct", "ci_low", "ci_high", "wins", "paper")


def compared_pairs(methods) -> list[tuple[str, str]]:
    """(method, baseline) pairs of the table among `methods`: LA-BALD vs the paper's baselines, then
    each sampler outside the paper vs those and LA-BALD."""
    methods = set(methods)
    ours = [m for m in sorted_methods(methods) if m not in PAPER_BASELINES]
    return [(m, b) for m in ours for b in sorted_methods(methods)
            if b in PAPER_BASELINES or (b == LA and m != LA)]


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


def paper_reference(setting: str, method: str, baseline: str) -> str:
    if method != LA:
        return ""
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
    per_seed = _per_seed_reductions(frame)
    rows = []
    for setting, study in per_seed.groupby("setting", sort=False):
        panels = sorted(study["panel"].unique())
        for method, baseline in compared_pairs(set(study["method"]) | set(study["baseline"])):
            pair = study[(study["method"] == method) & (study["baseline"] == baseline)]
            if pair.empty:
                continue
            for panel in panels:
                cell = pair[pair["panel"] == panel]
                if not cell.empty:
                    rows.append(_row(setting, panel, method, baseline, cell))
            if len(panels) > 1:  # the paper reports averages over subtasks: per seed, the mean over datasets
                cell = pair.groupby("seed").mean(numeric_only=True).reset_index()
                rows.append(_row(setting, ALL_PANELS, method, baseline, cell))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {s: i for i, s in enumerate(["main", *sorted(set(table["setting"]) - {"main"})])}
    return table.sort_values("setting", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _per_seed_reductions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, panel, seed, method, baseline) of `compared_pairs`: the common target (the
    lowest final label accuracy among the paper's methods run with that seed and the method itself,
    so a sampler outside the paper never moves the paper's comparisons) and both costs."""
    rows = []
    finished = frame[frame["finished"]] if "finished" in frame.columns else frame
    for (setting, panel, seed), group in finished.groupby(["setting", "panel", "seed"]):
        curves = {m: r.sort_values("step") for m, r in group.groupby("method")}
        finals = {m: float(r["label_accuracy"].iloc[-1]) for m, r in curves.items()}
        for method, baseline in compared_pairs(curves):
            target = min(f for m, f in finals.items() if m in PAPER_METHODS or m == method)
            c_m, c_b = (annotations_to_reach(curves[m]["annotations_per_image"], curves[m]["label_accuracy"], target)
                        for m in (method, baseline))
            if not c_b > 0:
                continue
            rows.append({"setting": setting, "panel": panel, "seed": seed, "method": method, "baseline": baseline,
                         "target_accuracy": target, "cost_baseline": c_b, "cost_method": c_m,
                         "reduction_pct": 100.0 * (c_b - c_m) / c_b})
    return pd.DataFrame(rows, columns=["setting", "panel", "seed", "method", "baseline", "target_accuracy",
                                       "cost_baseline", "cost_method", "reduction_pct"])


def _row(setting: str, panel: str, method: str, baseline: str, cell: pd.DataFrame) -> dict:
    mean, low, high = interval(cell["reduction_pct"].to_numpy())
    return {"setting": setting, "panel": panel, "method": method, "baseline": baseline, "n_seeds": len(cell),
            "target_accuracy": cell["target_accuracy"].mean(), "cost_baseline": cell["cost_baseline"].mean(),
            "cost_method": cell["cost_method"].mean(), "reduction_pct": mean, "ci_low": low, "ci_high": high,
            "wins": int((cell["reduction_pct"] > 0).sum()), "paper": paper_reference(setting, method, baseline)}


def to_markdown(table: pd.DataFrame) -> str:
    """reduction.md: one section per study, numbers rounded for reading (reduction.csv keeps them all)."""
    lines = ["# Annotation reduction", "",
             "Annotations per image each method needs to reach a common target label accuracy (per seed: the",
             "lowest final label accuracy across the methods), and the reduction of LA-BALD (and of any sampler",
             "outside the paper) vs each baseline: mean over seeds with a 95% t-interval, and the seeds where",
             "the method needs fewer annotations. Differences under ~15% need 5 or more seeds to resolve.", ""]
    if table.empty:
        return "\n".join(lines + ["No dataset has finished runs of LA-BALD and a baseline with the same seed.", ""])
    for setting, study in table.groupby("setting", sort=False):
        lines += [f"## {setting_title(setting)} (`{setting}`)", "",
                  "| dataset | method | baseline | seeds | target acc. | ann./image baseline | ann./image method "
                  "| reduction % (95% CI) | method wins | paper |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for _, r in study.iterrows():
            ci = "" if math.isnan(r["ci_low"]) else f" ({r['ci_low']:.1f} to {r['ci_high']:.1f})"
            panel = f"**{r['panel']}**" if r["panel"] == ALL_PANELS else r["panel"]
            lines.append(f"| {panel} | {method_name(r['method'])} | {method_name(r['baseline'])} | {r['n_seeds']} "
                         f"| {r['target_accuracy']:.3f} | {r['cost_baseline']:.3f} | {r['cost_method']:.3f} "
                         f"| {r['reduction_pct']:.1f}{ci} | {r['wins']}/{r['n_seeds']} | {r['paper'] or '—'} |")
        lines.append("")
    return "\n".join(lines)


REPLICATE_SETTING = re.compile(r"replicate=\d+")
REPLICATE_TAG = "@replicate"  # a replicate's name while it is compared with its own sampler
NOISE_COLUMNS = ("panel", "method", "replicate", "n_seeds", "target_accuracy", "reduction_pct", "sd", "ci_low",
                 "ci_high", "wins", "resolvable_pct")


def replicate_reductions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (panel, seed, method, replicate): the "reduction" of a replicate run (`replicate=r`:
    the same pool and crowd, other luck) vs the main study's run of the same method and seed, to the
    target of that seed's main-study comparisons. A sampler compared with itself: the noise floor.
    Each replicate joins the main study as a sampler of its own (`_per_seed_reductions`)."""
    finished = frame[frame["finished"]] if "finished" in frame.columns else frame
    main = finished[finished["setting"] == "main"]
    parts = []
    for setting, reps in finished[finished["setting"].str.fullmatch(REPLICATE_SETTING)].groupby("setting"):
        twins = reps.assign(setting="main", method=reps["method"] + REPLICATE_TAG)
        peers = main[main["method"].isin([*PAPER_METHODS, *reps["method"].unique()])]
        per_seed = _per_seed_reductions(pd.concat([peers, twins]))
        own = per_seed[per_seed["method"] == per_seed["baseline"] + REPLICATE_TAG]
        parts.append(own.assign(method=own["baseline"], replicate=setting.split("=")[1]))
    columns = ["panel", "seed", "method", "replicate", "target_accuracy", "reduction_pct"]
    return pd.concat(parts)[columns].reset_index(drop=True) if parts else pd.DataFrame(columns=columns)


def replicate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per panel (and the mean over datasets, per seed) the replicates' reduction: mean, SD, 95%
    t-interval, seeds above 0, and `resolvable_pct`, the interval's half-width: the smallest reduction
    a comparison with this many seeds can tell from 0."""
    per_seed = replicate_reductions(frame)
    rows = []
    for (method, replicate), cells in per_seed.groupby(["method", "replicate"]):
        panels = [(p, c) for p, c in cells.groupby("panel")]
        if len(panels) > 1:
            panels.append((ALL_PANELS, cells.groupby("seed").mean(numeric_only=True).reset_index()))
        for panel, cell in panels:
            values = cell["reduction_pct"].to_numpy()
            mean, low, high = interval(values)
            rows.append({"panel": panel, "method": method, "replicate": replicate, "n_seeds": len(values),
                         "target_accuracy": cell["target_accuracy"].mean(), "reduction_pct": mean,
                         "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan, "ci_low": low,
                         "ci_high": high, "wins": int((values > 0).sum()), "resolvable_pct": high - mean})
    return pd.DataFrame(rows, columns=list(NOISE_COLUMNS))


def replicate_markdown(table: pd.DataFrame) -> str:
    """noise_floor.md: the replicate table, for reading every other comparison against."""
    lines = ["# Noise floor: a sampler against itself", "",
             "Each replicate run (`replicate=r`) reruns a main-study run on the same pool and crowd with other",
             "luck (answers drawn, selection ties, training). Its reduction vs the run of the same seed is",
             "what two runs of one sampler differ by; `resolvable` is the 95% interval's half-width, the",
             "smallest reduction a comparison with this many seeds can tell from 0.", "",
             "| dataset | method | replicate | seeds | target acc. | reduction % (95% CI) | SD | seeds above 0 "
             "| resolvable |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in table.iterrows():
        panel = f"**{r['panel']}**" if r["panel"] == ALL_PANELS else r["panel"]
        lines.append(f"| {panel} | {method_name(r['method'])} | {r['replicate']} | {r['n_seeds']} | "
                     f"{r['target_accuracy']:.3f} | {r['reduction_pct']:.1f} "
                     f"({r['ci_low']:.1f} to {r['ci_high']:.1f}) | "
                     f"{r['sd']:.1f} | {r['wins']}/{r['n_seeds']} | {r['resolvable_pct']:.1f} |")
    return "\n".join(lines + [""])
