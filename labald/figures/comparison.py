"""The comparison table as Markdown and the forest plot, from `labald.comparison`'s tables."""

from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from labald.comparison import (  # noqa: E402
    ALL_DATASETS,
    EARLY_QUANTILES,
    LA,
    MEASURES,
    PLATEAU_QUANTILES,
    PRIMARY,
    X_AXES,
    rerun_of,
)
from labald.figures.style import setting_title  # noqa: E402
from labald.methods import display_colour, display_name  # noqa: E402

MEASURE_TITLES = {"plateau": "near the plateau (primary)", "target": "at the plateau target (the paper's wording)",
                  "error_area": "mean label error over the run",
                  "early_rise": "early rise (diagnostic of the first steps)"}
HEADLINE = (PRIMARY, "target", "error_area")  # the forest plot's marks: the primary, then two lighter ones
KIND_TITLES = {"sampler": "samplers under one protocol", "protocol": "a protocol setting's effect on one sampler",
               "aa": "A/A check: a sampler against its own rerun"}


def pair_name(method: str, baseline: str) -> str:
    """`LA-BALD vs SS`, or `J-BALD vs itself (rerun 1)` for an A/A pair."""
    original = rerun_of(method)
    if original is not None:
        return f"{display_name(original)} vs itself (rerun {method.split('=')[-1]})"
    return f"{display_name(method)} vs {display_name(baseline)}"


def _cell(row: pd.Series) -> str:
    ci = "" if math.isnan(row["ci_low"]) else f" ({row['ci_low']:.1f} to {row['ci_high']:.1f})"
    return f"{row['mean']:.1f}{ci}, {row['wins']}/{row['n_seeds']}"


def profile_lines(profile: pd.DataFrame) -> list[str]:
    """Where across the rise the samplers differ: per study and compared pair, the mean over datasets
    of the reduction at each fraction q of the way from start to the lower final."""
    if profile.empty:
        return []
    qs = list(dict.fromkeys(profile["measure"]))
    lines = ["## Across the rise, target by target (mean over datasets)", "",
             "The reduction at each target on its own, 100 (1 - c_method / c_baseline), targets a fraction q of",
             "the way from the higher start to the lower final accuracy: `early_rise` averages q = "
             f"{_qs(EARLY_QUANTILES)} in log,", f"`plateau` q = {_qs(PLATEAU_QUANTILES)}; q -> 1 approaches `target`.",
             "", "| study | comparison | " + " | ".join(qs) + " |", "| --- | --- |" + " ---: |" * len(qs)]
    for (setting, method, baseline), g in profile.groupby(["setting", "method", "baseline"], sort=False):
        by = g.set_index("measure")
        cells = [_cell(by.loc[q]) if q in by.index else "—" for q in qs]
        lines.append(f"| {setting_title(setting)} | {pair_name(method, baseline)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _qs(quantiles) -> str:
    return ", ".join(f"{q:g}" for q in quantiles)


def headline(table: pd.DataFrame, kind: str = "sampler") -> list[str]:
    """The pairs of one kind, mean over datasets, per study, on every measure, with the paper's figure
    where it gives one: the paper's claims beside ours (LA-BALD first) for the `sampler` kind."""
    mean = table[(table["dataset"] == ALL_DATASETS) & (table["kind"] == kind)]
    if mean.empty:
        return []
    measures = [m for m in MEASURES if m in set(mean["measure"])]
    lines = ["| study | comparison | paper | " + " | ".join(f"{m}: ours (95% CI), seeds won" for m in measures) + " |",
             "| --- | --- | ---: |" + " ---: |" * len(measures)]
    for (setting, method, baseline), g in mean.groupby(["setting", "method", "baseline"], sort=False):
        by = g.set_index("measure")
        paper = by["paper"].max()
        cells = [_cell(by.loc[m]) if m in by.index else "—" for m in measures]
        lines.append(f"| {setting_title(setting)} | {pair_name(method, baseline)} | "
                     f"{'—' if math.isnan(paper) else f'{paper:g}%'} | " + " | ".join(cells) + " |")
    return lines + [""]


def to_markdown(table: pd.DataFrame, power: pd.DataFrame, coverage: pd.DataFrame,
                profile: pd.DataFrame | None = None, x: str = "annotations_per_image") -> str:
    """comparison.md: the pairs of each kind on the mean over datasets; then per study, kind and measure,
    a row per dataset (and the mean over datasets) and a column per compared pair; then the profile
    across the rise, the A/A coverage and the power analysis. `x`: what the measures were taken over
    (`labald.comparison.X_AXES`)."""
    lines = ["# Paired comparisons", "",
             f"Reduction in {X_AXES[x]} (%) of each method vs each baseline on the same seeds and the same",
             "world of answers: mean over seeds (95% t-interval), seeds won / seeds, with seeds combined as",
             "log cost ratios (unbiased when two samplers are equal) and shown back as reductions. `mean`: the",
             "mean of the dataset means, t-interval with Welch-Satterthwaite degrees of freedom; its wins count",
             "seeds whose mean over datasets is above 0. Two samplers are compared only under the same protocol;",
             "a protocol setting (a ramped first batch, EM that forgets) is compared on one sampler, as its own",
             "kind of row.", "",
             f"- `plateau` (primary): geometric-mean cost ratio at q = {_qs(PLATEAU_QUANTILES)} of the way from",
             "  the higher start to the lower final accuracy;",
             "- `target`: cost of the lower final accuracy (the paper's wording);",
             "- `error_area`: mean label error up to the shorter run's end;",
             f"- `early_rise` (diagnostic of the first steps): as `plateau` at q = {_qs(EARLY_QUANTILES)}.", "",
             "Definitions: `labald.comparison`. A/A rows (a sampler vs itself rerun with other luck) must read 0.", ""]
    if table.empty:
        return "\n".join(lines + ["No dataset has two finished runs of compared samplers with the same seed.", ""])
    for kind, title in (("sampler", "The paper's claims and other samplers"), ("protocol", "Protocol settings")):
        top = headline(table, kind)
        if top:
            lines += [f"## {title} (mean over datasets)", "", *top]
    kinds = table["kind"]
    for setting, study in table.groupby("setting", sort=False):
        for kind in [k for k in KIND_TITLES if k in set(kinds[study.index])]:
            of_kind = study[kinds[study.index] == kind]
            for measure in [m for m in MEASURES if m in set(of_kind["measure"])]:
                lines += _measure_table(of_kind[of_kind["measure"] == measure], setting, kind, measure)
    if profile is not None and not profile.empty:
        lines += profile_lines(profile)
    if not coverage.empty:
        lines += ["## A/A check", "", "Per-dataset 95% intervals of a sampler against itself (rerun with other luck on",
                  "the same world) that cover 0; about 95% should.", "",
                  "| measure | intervals | covering 0 |", "| --- | ---: | ---: |"]
        lines += [f"| {r['measure']} | {r['intervals']} | {r['covering_0']} |" for _, r in coverage.iterrows()]
        lines.append("")
    if not power.empty:
        lines += [f"## Power ({power['measure'].iloc[0]})", "",
                  "Paired SD over seeds per dataset, today's 95% half-width, and the seeds each dataset (or the",
                  "mean over datasets, the same seeds on each) needs for a half-width of 10 and of 5 points; in log",
                  "points (100 x log cost ratio, about reduction points near 0).", "",
                  "| study | pair | dataset | seeds | SD | half-width | seeds for ±10 | seeds for ±5 |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for _, r in power.iterrows():
            sd = "" if math.isnan(r["sd"]) else f"{r['sd']:.1f}"
            lines.append(f"| {r['setting']} | {pair_name(r['method'], r['baseline'])} | {r['dataset']} | "
                         f"{r['n_seeds']} | {sd} | {r['half_width']:.1f} | {r['seeds_for_10']} | "
                         f"{r['seeds_for_5']} |")
        lines.append("")
    return "\n".join(lines)


def _measure_table(cells: pd.DataFrame, setting: str, kind: str, measure: str) -> list[str]:
    pairs = list(dict.fromkeys(zip(cells["method"], cells["baseline"])))
    lines = [f"## {setting_title(setting)} (`{setting}`), {KIND_TITLES[kind]}: {measure}, {MEASURE_TITLES[measure]}",
             "", "| dataset | " + " | ".join(pair_name(m, b) for m, b in pairs) + " |",
             "| --- |" + " ---: |" * len(pairs)]
    datasets = sorted(set(cells["dataset"]) - {ALL_DATASETS}) + (
        [ALL_DATASETS] if ALL_DATASETS in set(cells["dataset"]) else [])
    for dataset in datasets:
        row = [f"**{dataset}**" if dataset == ALL_DATASETS else dataset]
        for m, b in pairs:
            hit = cells[(cells["method"] == m) & (cells["baseline"] == b) & (cells["dataset"] == dataset)]
            row.append(_cell(hit.iloc[0]) if not hit.empty else "—")
        lines.append("| " + " | ".join(row) + " |")
    paper = [cells[(cells["method"] == m) & (cells["baseline"] == b)]["paper"].max() for m, b in pairs]
    if any(not math.isnan(p) for p in paper):
        lines.append("| paper (mean) | " + " | ".join("—" if math.isnan(p) else f"{p:g}" for p in paper) + " |")
    return lines + [""]


def power_lines(power: pd.DataFrame) -> list[str]:
    """One line per LA-BALD comparison: today's half-width on the mean over datasets and the seeds
    each dataset and the mean need for +/-5 points."""
    lines = []
    for (setting, method, baseline), g in power.groupby(["setting", "method", "baseline"], sort=False):
        if method != LA:
            continue
        by = g.set_index("dataset")
        per = ", ".join(f"{d} {by.loc[d, 'seeds_for_5']}" for d in by.index if d != ALL_DATASETS)
        mean = (f"; mean ±{by.loc[ALL_DATASETS, 'half_width']:.1f} at {by.loc[ALL_DATASETS, 'n_seeds']} seeds, "
                f"{by.loc[ALL_DATASETS, 'seeds_for_5']} for ±5" if ALL_DATASETS in by.index else "")
        lines.append(f"power ({g['measure'].iloc[0]}, {setting}) {pair_name(method, baseline)}: seeds for ±5 "
                     f"per dataset: {per}{mean}")
    return lines


def forest_sets(table: pd.DataFrame, setting: str) -> list[tuple[str, list[tuple[str, str]], str]]:
    """The forest plots of one study as (file name, pairs, title): `forest`, LA-BALD against the paper's
    baselines under the paper's protocol (the lead figure); `forest_<method>` for every other method
    against the samplers it meets under its protocol; `protocol`, each sampler under a protocol setting
    against itself without it; `aa`, the A/A pairs."""
    cells = table[table["setting"] == setting]
    kinds = cells["kind"]
    pairs = list(dict.fromkeys(zip(cells["method"], cells["baseline"], kinds)))
    sets = []
    for method in dict.fromkeys(m for m, _, k in pairs if k == "sampler"):
        mine = [(m, b) for m, b, k in pairs if k == "sampler" and m == method]
        name = "forest" if method == LA else "forest_" + re.sub(r"[^A-Za-z0-9_]+", "_", method)
        whom = "the paper's baselines" if method == LA else "the samplers it meets"
        sets.append((name, mine, f"{display_name(method)} against {whom}, same protocol"))
    protocol = [(m, b) for m, b, k in pairs if k == "protocol"]
    if protocol:
        sets.append(("protocol", protocol, "A protocol setting's effect: each sampler against itself without it"))
    aa = [(m, b) for m, b, k in pairs if k == "aa"]
    if aa:
        sets.append(("aa", aa, "A/A check: each sampler against its own rerun with other luck (true value 0)"))
    return sets


FOREST_COLUMNS = 4  # panels per row of the forest plot; more pairs wrap to further rows
_MARKS = {PRIMARY: ("o", 1.0, 0.0), "target": ("s", 0.45, 0.24), "error_area": ("^", 0.45, -0.24)}  # marker, alpha, dy


def forest_figure(table: pd.DataFrame, setting: str, pairs: list[tuple[str, str]], title: str,
                  x: str = "annotations_per_image") -> Figure | None:
    """One panel per pair, a row per dataset plus the mean over datasets (bold, larger): the primary
    measure's mean over seeds with its 95% interval and seeds won, `target` and `error_area` as lighter
    marks beside it; one x-axis shared by every panel, 0 and the paper's figure (on the mean over
    datasets) marked; a legend. None when the study has none of the pairs."""
    cells = table[(table["setting"] == setting) & table["measure"].isin(HEADLINE)]
    pairs = [p for p in pairs if ((cells["method"] == p[0]) & (cells["baseline"] == p[1])).any()]
    if not pairs:
        return None
    datasets = sorted(set(cells["dataset"]) - {ALL_DATASETS})
    rows = datasets + ([ALL_DATASETS] if ALL_DATASETS in set(cells["dataset"]) else [])
    ncols = min(len(pairs), FOREST_COLUMNS)
    nrows = math.ceil(len(pairs) / ncols)
    fig = Figure(figsize=(3.3 * ncols + 1.6, (0.5 * len(rows) + 1.2) * nrows + 0.9), layout="constrained")
    grid = fig.subplots(nrows, ncols, sharey=True, sharex=True, squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    y = np.arange(len(rows))[::-1].astype(float)
    paper_drawn = False
    for ax, (method, baseline) in zip(axes, pairs):
        pair = cells[(cells["method"] == method) & (cells["baseline"] == baseline)]
        colour = display_colour((rerun_of(method) or method).split("@")[0])
        ax.axvline(0.0, color="black", lw=0.8)
        for measure, (marker, alpha, dy) in _MARKS.items():
            by = pair[pair["measure"] == measure].set_index("dataset")
            for yi, dataset in zip(y, rows):
                if dataset not in by.index:
                    continue
                r = by.loc[dataset]
                mean_row = dataset == ALL_DATASETS
                primary = measure == PRIMARY
                width = (2.8 if mean_row else 1.8) if primary else 1.0
                if not math.isnan(r["ci_low"]):
                    ax.plot([r["ci_low"], r["ci_high"]], [yi + dy, yi + dy], color=colour, lw=width, alpha=alpha)
                ax.plot(r["mean"], yi + dy, "D" if primary and mean_row else marker, color=colour, alpha=alpha,
                        ms=(8 if mean_row else 5.5) if primary else 4, mfc=colour if primary else "white")
                if primary:
                    ax.annotate(f"{r['wins']}/{r['n_seeds']}", (1.0, yi), xycoords=("axes fraction", "data"),
                                xytext=(3, 0), textcoords="offset points", va="center", fontsize=7, color="0.35")
        paper = pair["paper"].max()
        if not math.isnan(paper) and ALL_DATASETS in rows:
            at = y[rows.index(ALL_DATASETS)]
            ax.plot([paper, paper], [at - 0.42, at + 0.42], color="0.15", ls="--", lw=1.0, zorder=5)
            ax.plot([paper], [at + 0.42], marker="*", ms=11, color="0.15", mfc="white", ls="none", zorder=6)
            paper_drawn = True
        ax.set_title(pair_name(method, baseline), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    # The shared axis spans the primary measure's intervals and every mean; a lighter mark's interval
    # may run past it (clipped at the frame), as the primary is what the figure is read by.
    wanted = set(pairs)
    chosen = cells[[p in wanted for p in zip(cells["method"], cells["baseline"])]]
    chosen_primary = chosen[chosen["measure"] == PRIMARY]
    ends = np.r_[chosen_primary[["ci_low", "ci_high"]].to_numpy(float).ravel(), chosen["mean"].to_numpy(float),
                 chosen["paper"].to_numpy(float), 0.0]
    ends = ends[np.isfinite(ends)]
    low, high = float(ends.min()), float(ends.max())
    axes[0].set_xlim(low - 0.06 * (high - low), high + 0.06 * (high - low))
    less = "fewer" if x == "annotations_per_image" else "less"
    for ax in grid[-1]:
        ax.set_xlabel(f"reduction: {less} {X_AXES[x]} than the baseline (%)", fontsize=8)
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in grid[:, 0]:
        ax.set_yticks(y, ["mean of datasets" if d == ALL_DATASETS else d for d in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        for label, dataset in zip(ax.get_yticklabels(), rows):
            label.set_fontweight("bold" if dataset == ALL_DATASETS else "normal")
    handles = [Line2D([], [], color="0.2", marker="o", lw=1.8, label=f"{PRIMARY} (primary), 95% interval"),
               Line2D([], [], color="0.2", marker="s", mfc="white", lw=1.0, alpha=0.45, label="target"),
               Line2D([], [], color="0.2", marker="^", mfc="white", lw=1.0, alpha=0.45, label="error_area")]
    if paper_drawn:
        handles.append(Line2D([], [], color="0.15", marker="*", mfc="white", ms=11, ls="--", lw=1.0,
                              label="the paper's claim (mean)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.suptitle(f"{title} ({setting_title(setting)}): paired reduction, mean over seeds, seeds won on "
                 f"{PRIMARY} at right", fontsize=10)
    return fig


CREW_KEYS = ("workers.dynamics", "workers.spammer_share")  # the study parts that say how skills change


def crew_of(setting: str) -> tuple[str, str]:
    """(the crew, the rest of the study) of a study slug: `workers.dynamics=fatigue,workers.cost_expert=5`
    -> ("fatigue", "workers.cost_expert=5"); a study without a crew part has the paper's static crew."""
    parts = [] if setting == "main" else setting.split(",")
    crew = [p for p in parts if p.split("=")[0] in CREW_KEYS]
    rest = ",".join(p for p in parts if p not in crew) or "main"
    names = [p.split("=")[1] if p.startswith("workers.dynamics=") else f"spammers {p.split('=')[1]}" for p in crew]
    return " + ".join(names) or "static", rest


def crew_studies(table: pd.DataFrame) -> dict[str, list[str]]:
    """The studies of each rest (`crew_of`) that differ only in their crew, for those with two crews or more."""
    groups: dict[str, list[str]] = {}
    for setting in dict.fromkeys(table["setting"]):
        groups.setdefault(crew_of(setting)[1], []).append(setting)
    return {rest: settings for rest, settings in groups.items() if len(settings) > 1}


def crews_figure(table: pd.DataFrame, settings: list[str], baseline: str = "ss", measures: tuple[str, ...] = HEADLINE,
                 x: str = "annotations_per_image") -> Figure | None:
    """Which sampler to use when skills change: one column per crew (its studies in `settings`), one
    row per measure the table holds (`plateau`, `target`, `error_area`: near the plateau, at it, over the
    whole run), each sampler's paired reduction vs `baseline` under its own protocol (a sampler with EM
    that forgets against `baseline` with EM that forgets) on the mean over datasets (a study of
    one dataset: on it) with its 95% interval and seeds won; the best mean of each panel as a
    diamond, 0 marked. None when no crew has a pair with `baseline`."""
    cells = table[table["setting"].isin(settings) & (table["baseline"].str.split("@").str[0] == baseline)
                  & table["method"].map(lambda m: rerun_of(m) is None)]
    datasets = set(cells["dataset"])
    over = ALL_DATASETS if ALL_DATASETS in datasets else (datasets.pop() if len(datasets) == 1 else None)
    rows = [m for m in measures if m in set(cells["measure"])]
    if over is None or not rows:
        return None
    cells = cells[cells["dataset"] == over]
    order = sorted(settings, key=lambda s: (crew_of(s)[0] != "static", crew_of(s)[0]))
    methods = list(dict.fromkeys(sorted(cells["method"], key=lambda m: (m.split("@")[0], m))))
    fig = Figure(figsize=(3.2 * len(order) + 2.6, (0.38 * len(methods) + 1.0) * len(rows) + 0.4),
                 layout="constrained")
    grid = fig.subplots(len(rows), len(order), sharey=True, squeeze=False)
    y = np.arange(len(methods))[::-1]
    less = "fewer" if x == "annotations_per_image" else "less"
    for measure, axes in zip(rows, grid):
        for ax, setting in zip(axes, order):
            crew = cells[(cells["setting"] == setting) & (cells["measure"] == measure)].set_index("method")
            best = crew["mean"].idxmax() if not crew.empty else None
            ax.axvline(0.0, color="black", lw=0.8)
            for yi, method in zip(y, methods):
                if method not in crew.index:
                    continue
                r = crew.loc[method]
                colour = display_colour(method.split("@")[0])
                if not math.isnan(r["ci_low"]):
                    ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=colour, lw=2.4 if method == best else 1.4)
                ax.plot(r["mean"], yi, "D" if method == best else "o", color=colour, ms=7 if method == best else 5)
                ax.annotate(f"{r['wins']}/{r['n_seeds']}", (1.0, yi), xycoords=("axes fraction", "data"),
                            xytext=(3, 0), textcoords="offset points", va="center", fontsize=7, color="0.35")
            if measure == rows[0]:
                ax.set_title(f"crew: {crew_of(setting)[0]}", fontsize=9)
            ax.set_xlabel(f"{measure}: {less} {X_AXES[x]} than {display_name(baseline)} (%)", fontsize=8)
            ax.grid(axis="x", alpha=0.3)
        axes[0].set_yticks(y, [display_name(m) for m in methods])
        axes[0].set_ylim(-0.7, len(methods) - 0.3)
    where = "the mean over datasets" if over == ALL_DATASETS else over
    fig.suptitle(f"Samplers when skills change ({setting_title(crew_of(order[0])[1])}), {where}: mean over seeds, "
                 "95% interval, seeds won; the best of each panel as a diamond", fontsize=10)
    return fig
