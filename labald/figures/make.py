"""Write every figure and table from a runs directory and the scoring benchmark CSV."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from labald import comparison
from labald.errors import LabaldError
from labald.figures import plots, timing
from labald.figures.comparison import (
    crew_studies,
    crews_figure,
    forest_figure,
    forest_sets,
    power_lines,
    to_markdown,
)
from labald.figures.load import FiguresError, load_runs, read_summaries


def stem(name: str, setting: str) -> str:
    """File stem of a figure of one study: `label_accuracy` for the paper's, `label_accuracy_budget_2` ..."""
    return name if setting == "main" else f"{name}_{re.sub(r'[^A-Za-z0-9.]+', '_', setting).strip('_')}"


def make_figures(runs_dir: Path, out_dir: Path, bench_csv: Path | None = None,
                 say: Callable[[str], None] = print, formats: tuple[str, ...] = ("png", "pdf"),
                 x: str = "annotations_per_image") -> list[Path]:
    """Write the figures (PNG and PDF by default) and tables to out_dir; returns the paths written.
    `x`: the curves' axis and what the comparisons are taken over, annotations per image or money per
    image (`cost_per_image`).

    Raises FiguresError when runs_dir holds no readable run, or a run has no value of `x`; a missing
    benchmark CSV only skips its figure."""
    frame = load_runs(Path(runs_dir))
    try:
        comparison.require_x(frame, x)
    except LabaldError as e:
        raise FiguresError(str(e)) from None
    out_dir = Path(out_dir)
    n_runs, unfinished = frame["run"].nunique(), frame.loc[~frame["finished"], "run"].nunique()
    studies = ", ".join(sorted(frame["setting"].unique()))
    say(f"{n_runs} run(s) in {frame['panel'].nunique()} dataset(s), studies: {studies}"
        + (f"; {unfinished} unfinished (plotted, left out of the comparisons)" if unfinished else ""))
    written: list[Path] = []
    for setting in sorted(frame["setting"].unique()):
        for column in ("label_accuracy", "model_accuracy"):
            fig = plots.accuracy_figure(frame, column, setting, x)
            written += plots.save(fig, out_dir, stem(column, setting), formats)
        diagnostics = partial(plots.diagnostics_figure, x=x)
        for name, figure in (("jaccard", plots.jaccard_figure), ("diagnostics", diagnostics)):
            fig = figure(frame, setting)
            if fig is not None:
                written += plots.save(fig, out_dir, stem(name, setting), formats)
    written += _scoring_time(bench_csv, out_dir, say, formats)
    table = comparison.compare(frame, x)
    for setting in dict.fromkeys(table["setting"]):
        for name, pairs, title in forest_sets(table, setting):
            fig = forest_figure(table, setting, pairs, title, x=x)
            if fig is not None:
                written += plots.save(fig, out_dir, stem(name, setting), formats)
    crews = crew_studies(table)  # the same study under crews whose skills change: every sampler vs SS
    versus_ss = comparison.comparison_table(comparison.per_seed(frame, x, comparison.versus("ss"))) if crews else None
    for rest, settings in crews.items():
        fig = crews_figure(versus_ss, settings, x=x)
        if fig is not None:
            written += plots.save(fig, out_dir, stem("crews", rest), formats)
    written += _tables(frame, table, comparison.profile_table(frame, x), out_dir, say, x)
    return written


def _scoring_time(bench_csv: Path | None, out_dir: Path, say: Callable[[str], None],
                  formats: tuple[str, ...]) -> list[Path]:
    if bench_csv is None or not Path(bench_csv).is_file():
        where = f"at {bench_csv}" if bench_csv is not None else "given"
        say(f"scoring-time figure skipped: no benchmark CSV {where} (run scripts/bench_scoring.py)")
        return []
    try:
        bench = pd.read_csv(bench_csv)
        assert {"param", "K", "T", "N", "M", "seconds"} <= set(bench.columns) and not bench.empty
    except (AssertionError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError):
        say(f"scoring-time figure skipped: {bench_csv} is not a param,K,T,N,M,seconds CSV")
        return []
    fig, slopes = plots.scoring_time_figure(bench)
    say("scoring time log-log slopes: " + ", ".join(f"{k}: {v:.2f}" for k, v in slopes.items()))
    return plots.save(fig, out_dir, "scoring_time", formats)


def _tables(frame: pd.DataFrame, table: pd.DataFrame, profile: pd.DataFrame, out_dir: Path,
            say: Callable[[str], None], x: str = "annotations_per_image") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    if table.empty:
        say("comparison table empty: no dataset has finished runs of two compared samplers with the same seed")
    paths = [out_dir / "comparison.csv", out_dir / "comparison.md", out_dir / "timing.csv", out_dir / "timing.md"]
    power, coverage = comparison.power_table(table), comparison.aa_coverage(table)
    table.to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(table, power, coverage, profile, x))
    for line in power_lines(power) + [f"A/A ({r['measure']}): {r['covering_0']} of {r['intervals']} per-dataset "
                                      "intervals cover 0" for _, r in coverage.iterrows()]:
        say(line)
    times = timing.timing_table(frame, read_summaries(frame))
    times.to_csv(paths[2], index=False)
    paths[3].write_text(timing.to_markdown(times))
    return paths
