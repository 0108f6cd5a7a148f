"""The figures (the paper's Fig. 5 and 10-13, the scoring time of appendix B.2, diagnostics) as
functions of a runs frame (see `load.load_runs`) returning a Figure.

Curves over seeds: each seed's curve is interpolated linearly onto a common grid of annotations per
image (or of money per image, `x="cost_per_image"`), on the range every seed of that method covers (no
extrapolation past a run's end); the line is the mean, the band one standard deviation. Under
stopping=budget (or cost) the line turns dotted where the first seed enters its over-annotation phase
(paper Fig. 12, 13).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from labald.figures.style import setting_title  # noqa: E402
from labald.methods import display_colour, display_name, in_order  # noqa: E402

GRID_POINTS = 200
X_LABEL = "annotations per image"
X_LABELS = {"annotations_per_image": X_LABEL, "cost_per_image": "money per image (answers' prices)"}
Y_LABELS = {"label_accuracy": "label accuracy (aggregated labels vs truth)",
            "model_accuracy": "model accuracy (learner on the pool)"}
DIAGNOSTICS = {"picked_confidence": "mean max posterior of picked images",
               "expert_share": "share of the batch's pairs given to experts",
               "workers_used": "distinct workers in the batch",
               "answer_accuracy": "share of the batch's answers that are right"}
JACCARD_PAIRS = {"jaccard_la_global": ("J(LA-BALD, global)", "#0072B2"),
                 "jaccard_la_local": ("J(LA-BALD, local)", "#D55E00"),
                 "jaccard_global_local": ("J(global, local)", "#009E73")}
JACCARD_STYLES = ("-", "--", ":", "-.")  # one line style per method, in the methods' order


def seed_curves(runs: pd.DataFrame, column: str, grid: np.ndarray,
                x_column: str = "annotations_per_image") -> tuple[np.ndarray, np.ndarray, float | None]:
    """Seeds' curves of `column` over `x_column` on `grid` restricted to the range all seeds cover.

    Returns (x, values [n_seeds, len(x)], x where over-annotation starts or None)."""
    ends, switches, curves = [], [], []
    for _, run in runs.groupby("seed"):
        run = run.dropna(subset=[column]).sort_values("step")
        if run.empty:
            continue
        x, y = run[x_column].to_numpy(float), run[column].to_numpy(float)
        ends.append(x[-1])
        over = (run["phase"] == "over").to_numpy()
        if over.any():
            first = int(np.argmax(over))
            switches.append(x[max(first - 1, 0)])
        curves.append((x, y))
    if not curves:
        return np.empty(0), np.empty((0, 0)), None
    switch = min(switches) if switches else None
    points = grid[grid <= min(ends)]
    x = np.unique(np.concatenate([points, [min(ends)], [switch] if switch is not None else []]))
    return x, np.stack([np.interp(x, cx, cy) for cx, cy in curves]), switch


def _panel_grid(panel: pd.DataFrame, x_column: str = "annotations_per_image") -> np.ndarray:
    return np.linspace(0.0, float(panel[x_column].max()), GRID_POINTS)


def _axes_grid(n: int, title: str, width: float = 4.6, height: float = 3.6) -> tuple[Figure, list]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(max(width * cols, 6.5), height * rows + 0.8), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    fig.suptitle(title, fontsize="medium")
    return fig, axes


def accuracy_figure(frame: pd.DataFrame, column: str = "label_accuracy", setting: str = "main",
                    x: str = "annotations_per_image") -> Figure:
    """Label or model accuracy vs annotations per image (or money per image, `x="cost_per_image"`):
    a panel per dataset, a line per method."""
    frame = frame[frame["setting"] == setting]
    panels = sorted(frame["panel"].unique())
    what = "Label" if column == "label_accuracy" else "Model"
    fig, axes = _axes_grid(len(panels), f"{what} accuracy vs {X_LABELS[x]}\n"
                                        f"{setting_title(setting)}; {_spread_words(frame)}")
    any_over = False
    for ax, panel_name in zip(axes, panels):
        panel = frame[frame["panel"] == panel_name]
        grid, drawn = _panel_grid(panel, x), False
        for method in in_order(panel["method"].unique()):
            runs = panel[panel["method"] == method]
            xs, values, switch = seed_curves(runs, column, grid, x)
            if values.size == 0:
                continue
            drawn = True
            any_over |= _draw_mean(ax, method, xs, values, switch, runs["seed"].nunique(), upper=1.0)
        ax.set_title(f"{panel_name}{_seed_words(panel)}")
        ax.set_xlabel(X_LABELS[x])
        ax.set_ylabel(Y_LABELS.get(column, column))
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "no values (learner=none?)", ha="center", va="center", transform=ax.transAxes)
    _figure_legend(fig, axes, any_over)
    return fig


def _spread_words(frame: pd.DataFrame) -> str:
    """The title's account of the lines: a band only where some method has two or more seeds."""
    several = frame.groupby(["panel", "method"])["seed"].nunique().max() > 1 if not frame.empty else False
    return "mean over seeds, band ±1 s.d." if several else "one seed per line"


def _seed_words(panel: pd.DataFrame) -> str:
    counts = panel.groupby("method")["seed"].nunique()
    if counts.empty:
        return ""
    n = int(counts.iloc[0])
    return f" ({n} seed{'s' if n != 1 else ''})" if (counts == n).all() else (
        " (seeds " + "/".join(str(int(counts[m])) for m in in_order(counts.index)) + ")")


def _figure_legend(fig: Figure, axes: list, over: bool = False) -> None:
    """One legend for the whole figure, below the panels: each label once, in drawing order."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if over:
        entries["over-annotation"] = Line2D([], [], color="black", linestyle=":")
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=min(len(entries), 6),
                   fontsize="small", frameon=False)


def _draw_mean(ax, method: str, x: np.ndarray, values: np.ndarray, switch: float | None, n_seeds: int,
               upper: float | None = None) -> bool:
    """Mean line (solid, then dotted past `switch`) and ±1 s.d. band, the band kept within [0, upper]
    (a share or an accuracy cannot leave [0, 1]); True if a dotted part was drawn."""
    colour, mean = display_colour(method), values.mean(axis=0)
    solid = x <= switch if switch is not None else np.ones_like(x, dtype=bool)
    (line,) = ax.plot(x[solid], mean[solid], color=colour, linestyle="-", label=display_name(method))
    line.set_gid(f"{method}:label")
    if len(values) > 1:
        sd = values.std(axis=0, ddof=1)
        ax.fill_between(x, np.clip(mean - sd, 0.0, upper), np.clip(mean + sd, 0.0, upper), color=colour,
                        alpha=0.15, linewidth=0)
    if switch is None or solid.all():
        return False
    over = x >= switch
    (dotted,) = ax.plot(x[over], mean[over], color=colour, linestyle=":", label=f"_{method} over-annotation")
    dotted.set_gid(f"{method}:over")
    return True


def jaccard_figure(frame: pd.DataFrame, setting: str = "main") -> Figure | None:
    """Jaccard similarities of the top-50 pair sets through time (paper Fig. 10), joint methods only."""
    columns = [c for c in JACCARD_PAIRS if c in frame.columns]
    frame = frame[frame["setting"] == setting]
    if not columns or frame[columns].notna().to_numpy().sum() == 0:
        return None
    frame = frame[frame[columns].notna().any(axis=1)]
    panels = sorted(frame["panel"].unique())
    fig, axes = _axes_grid(len(panels), "Overlap of the top-50 pair sets through time\n"
                                        f"{setting_title(setting)}; mean over seeds")
    styles = {m: JACCARD_STYLES[i % len(JACCARD_STYLES)]
              for i, m in enumerate(in_order(frame["method"].unique()))}
    for ax, panel_name in zip(axes, panels):
        panel = frame[frame["panel"] == panel_name]
        for method in in_order(panel["method"].unique()):
            runs = panel[panel["method"] == method]
            for column in columns:
                by_step = runs.groupby("step")[column].mean().dropna()
                if by_step.empty:
                    continue
                name, colour = JACCARD_PAIRS[column]
                (line,) = ax.plot(by_step.index, by_step.to_numpy(), color=colour, linestyle=styles[method],
                                  label=f"{display_name(method)}: {name}")
                line.set_gid(f"{method}:{column}")
        ax.set_title(panel_name)
        ax.set_xlabel("step (one batch of B pairs)")
        ax.set_ylabel("Jaccard similarity")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    _figure_legend(fig, axes)
    return fig


def diagnostics_figure(frame: pd.DataFrame, setting: str = "main", x: str = "annotations_per_image") -> Figure | None:
    """What each sampler's batches are made of, per step: a row per diagnostic of
    metrics.csv (`DIAGNOSTICS`), a column per dataset, a line per method (mean over seeds, band
    ±1 s.d.) against annotations (or money, `x`) per image. None when the study's runs predate the columns."""
    frame = frame[(frame["setting"] == setting) & (frame["step"] > 0)]
    columns = [c for c in DIAGNOSTICS if c in frame.columns and frame[c].notna().any()]  # runs may predate some
    if not columns:
        return None
    panels = sorted(frame["panel"].unique())
    cols = len(panels)
    fig = Figure(figsize=(max(4.2 * cols, 6.5), 3.0 * len(columns) + 0.8), layout="constrained")
    fig.suptitle(f"What the samplers pick, per step\n{setting_title(setting)}; {_spread_words(frame)}",
                 fontsize="medium")
    axes = []
    for r, column in enumerate(columns):
        for c, panel_name in enumerate(panels):
            ax = fig.add_subplot(len(columns), cols, r * cols + c + 1)
            axes.append(ax)
            panel = frame[frame["panel"] == panel_name]
            grid = _panel_grid(panel, x)
            for method in in_order(panel["method"].unique()):
                runs = panel[panel["method"] == method]
                xs, values, switch = seed_curves(runs, column, grid, x)
                if values.size:
                    _draw_mean(ax, method, xs, values, switch, runs["seed"].nunique(),
                               upper=None if column == "workers_used" else 1.0)
            if r == 0:
                ax.set_title(f"{panel_name}{_seed_words(panel)}")
            if r == len(columns) - 1:
                ax.set_xlabel(X_LABELS[x])
            if c == 0:
                ax.set_ylabel(DIAGNOSTICS[column], fontsize="small")
            ax.grid(alpha=0.3)
    _figure_legend(fig, axes)
    return fig


def scoring_time_figure(bench: pd.DataFrame) -> tuple[Figure, dict[str, float]]:
    """All-pairs LA-BALD scoring time vs K, T and N*M on log-log axes, with fitted slopes."""
    sizes = {"K": ("K", "classes K"), "T": ("T", "MC samples T"), "NM": ("NM", "image-worker pairs N*M")}
    bench = bench.assign(NM=bench["N"] * bench["M"])
    params = [p for p in sizes if p in set(bench["param"])]
    fig, axes = _axes_grid(max(len(params), 1), "LA-BALD scoring time on all pairs\n(scripts/bench_scoring.py)")
    slopes = {}
    for ax, param in zip(axes, params):
        rows = bench[(bench["param"] == param) & (bench["seconds"] > 0)].sort_values(sizes[param][0])
        x, y = rows[sizes[param][0]].to_numpy(float), rows["seconds"].to_numpy(float)
        ax.loglog(x, y, "o-", color=display_colour("la_bald"), label="measured")
        if len(x) >= 2:
            slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
            slopes[param] = float(slope)
            ax.loglog(x, np.exp(intercept) * x**slope, "--", color="black", label=f"fit: slope {slope:.2f}")
        ax.set_xticks(x, [_compact(v) for v in x], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_title(f"scoring time vs {sizes[param][0] if param != 'NM' else 'N*M'}")
        ax.set_xlabel(sizes[param][1])
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    return fig, slopes


def _compact(value: float) -> str:
    """1200 -> 1.2k, 1_248_000 -> 1.2M: tick labels that fit under a log axis."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:g}"


def save(fig: Figure, out_dir: Path, stem: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write the figure in each format (PNG and PDF by default); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{fmt}" for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=130)
    return paths
