"""Figures and the reduction table from run directories (SPEC 7): synthetic runs with known curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from labald.comparison import MEASURES, compare
from labald.figures import load_runs, make_figures
from labald.figures.__main__ import main as figures_main
from labald.figures.comparison import forest_figure, forest_sets
from labald.figures.make import _scoring_time
from labald.figures.plots import accuracy_figure, diagnostics_figure, jaccard_figure, scoring_time_figure
from labald.methods import display_colour
from labald.metrics import JACCARD_COLUMNS

METHODS = ("ss", "rand_i_greedy_w", "j_bald", "la_bald")
SPEED = {"ss": 1.0, "rand_i_greedy_w": 1.2, "j_bald": 1.5, "la_bald": 2.0}  # higher: reaches accuracy sooner


def write_run(root, dataset, method, seed, x, acc, phase=None, stopping="unconfident", ratio=1, finished=True,
              replicate=0, rerun=0, batch_ramp=None):
    """A run directory as the runner writes it: metrics.csv, config.yaml and (if finished) summary.json."""
    tags = (f"+batch_ramp={batch_ramp}" if batch_ramp else "") + (f"+replicate={replicate}" if replicate else "") \
        + (f"+rerun={rerun}" if rerun else "")
    out = root / "runs" / dataset / (method + tags) / f"seed={seed}"
    out.mkdir(parents=True)
    n = len(x)
    rows = {"step": range(n), "phase": ["label"] * n if phase is None else list(phase),
            "n_annotations": np.round(np.asarray(x) * 1000),
            "annotations_per_image": x, "label_accuracy": acc, "model_accuracy": np.asarray(acc) - 0.05,
            "seconds_em": 0.01, "seconds_train": 0.2, "seconds_inference": 0.05, "seconds_scoring": 0.1,
            "seconds_selection": 0.01, "seconds_step": 0.4}
    if method in ("j_bald", "la_bald"):
        rows.update({c: [math.nan] + [0.5] * (n - 1) for c in JACCARD_COLUMNS})
    # batch diagnostics: none at step 0 (no batch yet); experts get 0.1 more of the batch per method rank
    expert_share = 0.1 * (1 + METHODS.index(method)) if method in METHODS else 0.0
    rows.update({"picked_confidence": [math.nan] + [0.6] * (n - 1),
                 "expert_share": [math.nan] + [expert_share + 0.01 * seed] * (n - 1),
                 "workers_used": [math.nan] + [20] * (n - 1)})
    pd.DataFrame(rows).to_csv(out / "metrics.csv", index=False)
    config = {"seed": seed, "method": method,
              "dataset": {"name": dataset, "n_per_class": None, "imbalance_ratio": ratio},
              "stopping": {"rule": stopping, "annotations_per_image": 1.0 if stopping == "budget" else None},
              "acquisition": {"local": "paper"}, "replicate": replicate, "rerun": rerun, "batch_ramp": batch_ramp}
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    if finished:
        (out / "summary.json").write_text(json.dumps({"wall_seconds": 1.0, "steps": n, "stop_reason": "test"}))
    return out


@pytest.fixture
def runs(tmp_path):
    """Two datasets x four methods x three seeds; on dataset `a` every run goes on to 1.0 annotations
    per image, seed s over-annotating past 0.6 - 0.1 s (phase=over; from 0.4 on for seed 2)."""
    for dataset in ("a", "b"):
        for method in METHODS:
            for seed in range(3):
                x = np.linspace(0, 0.6, 7) if dataset == "b" else np.linspace(0, 1.0, 11)
                acc = 1 - 0.4 * np.exp(-SPEED[method] * (5 + seed) * x)
                phase = None if dataset == "b" else np.where(x > 0.6 - 0.1 * seed + 1e-9, "over", "label")
                write_run(tmp_path, dataset, method, seed, x, acc, phase)
    return tmp_path


def test_accuracy_figure_has_a_panel_per_dataset_and_a_coloured_line_per_method(runs):
    fig = accuracy_figure(load_runs(runs / "runs"), "label_accuracy")
    assert [ax.get_title() for ax in fig.axes] == ["a (3 seeds)", "b (3 seeds)"]
    for ax in fig.axes:
        assert ax.get_xlabel() == "annotations per image" and "label accuracy" in ax.get_ylabel()
        solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
        assert [ln.get_label() for ln in solid] == ["SS", "Rand-I+Greedy-W", "J-BALD", "LA-BALD"]
        assert [ln.get_color() for ln in solid] == [display_colour(m) for m in METHODS]
        assert ax.get_legend() is None  # one legend for the figure
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["SS", "Rand-I+Greedy-W", "J-BALD", "LA-BALD",
                                                          "over-annotation"]
    dotted_a = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == ":"]
    assert sorted(ln.get_gid() for ln in dotted_a) == sorted(f"{m}:over" for m in METHODS)
    assert not [ln for ln in fig.axes[1].get_lines() if ln.get_linestyle() == ":"]
    # the dotted part starts where the first seed's over-annotation starts, where the solid part ends
    la_solid = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "la_bald:label")
    la_over = next(ln for ln in dotted_a if ln.get_gid() == "la_bald:over")
    assert la_solid.get_xdata()[-1] == pytest.approx(0.4) == la_over.get_xdata()[0]
    assert la_over.get_xdata()[-1] == pytest.approx(1.0)


def test_mean_curve_is_the_seed_mean_on_the_range_every_seed_covers(runs):
    frame = load_runs(runs / "runs")
    ax = accuracy_figure(frame, "label_accuracy").axes[1]
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "la_bald:label")
    x, y = line.get_xdata(), line.get_ydata()
    assert x.max() == pytest.approx(0.6)
    expected = np.mean([1 - 0.4 * np.exp(-2.0 * (5 + s) * 0.6) for s in range(3)])
    assert y[-1] == pytest.approx(expected)


def test_model_accuracy_and_jaccard_figures(runs):
    frame = load_runs(runs / "runs")
    model = accuracy_figure(frame, "model_accuracy")
    assert "model accuracy" in model.axes[0].get_ylabel() and model.texts[0].get_text().startswith("Model")
    jac = jaccard_figure(frame)
    assert [ax.get_title() for ax in jac.axes] == ["a", "b"] and len(jac.legends) == 1
    # a colour per Jaccard pair and a line style per method, so six lines read apart
    styles = {(ln.get_color(), ln.get_linestyle()) for ln in jac.axes[0].get_lines()}
    assert len(styles) == 6
    gids = {ln.get_gid() for ln in jac.axes[0].get_lines()}
    assert gids == {f"{m}:{c}" for m in ("j_bald", "la_bald") for c in JACCARD_COLUMNS}
    assert all(ln.get_xdata()[0] == 1 for ln in jac.axes[0].get_lines())  # step 0 has no scores


def test_diagnostics_figure_has_a_row_per_diagnostic_and_the_seed_mean_per_method(runs):
    frame = load_runs(runs / "runs")
    fig = diagnostics_figure(frame)
    assert len(fig.axes) == 3 * 2  # picked confidence, expert share, workers used x datasets a, b
    expert_a = fig.axes[2]  # row 2 (expert share), column 1 (dataset a)
    for i, method in enumerate(METHODS):
        line = next(ln for ln in expert_a.get_lines() if ln.get_gid() == f"{method}:label")
        np.testing.assert_allclose(line.get_ydata(), 0.1 * (1 + i) + 0.01)  # seeds 0, 1, 2: mean + 0.01
    assert diagnostics_figure(frame.drop(columns=["picked_confidence", "expert_share", "workers_used"])) is None
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)


def test_bands_stay_within_zero_and_one_and_one_seed_panels_claim_no_band(tmp_path):
    """Accuracy near 1 with a wide spread: the ±1 s.d. band is cut at 1 (and a share's at 0)."""
    x = [0.0, 0.5, 1.0]
    for seed, y in enumerate(([0.5, 0.99, 1.0], [0.5, 0.6, 0.7])):
        write_run(tmp_path, "a", "ss", seed, x, y)
    write_run(tmp_path / "one", "a", "ss", 0, x, [0.5, 0.9, 1.0])
    fig = accuracy_figure(load_runs(tmp_path / "runs"), "label_accuracy")
    (band,) = fig.axes[0].collections
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    assert ys.max() <= 1.0 and ys.min() >= 0.0
    diag = diagnostics_figure(load_runs(tmp_path / "runs"))
    shares = [c for ax in diag.axes for c in ax.collections]
    assert all(np.concatenate([p.vertices[:, 1] for p in c.get_paths()]).min() >= 0.0 for c in shares)
    single = accuracy_figure(load_runs(tmp_path / "one" / "runs"), "label_accuracy")
    assert "band" not in single.texts[0].get_text() and "one seed per line" in single.texts[0].get_text()
    assert "band ±1 s.d." in fig.texts[0].get_text()


def test_scoring_time_figure_fits_the_log_log_slope():
    rows = [("K", k, 100, 1000, 60, 1e-3 * k**2) for k in (4, 8, 16)]
    rows += [("T", 16, t, 1000, 60, 2e-3 * t) for t in (10, 50, 100)]
    rows += [("NM", 16, 100, n, 60, 1e-5 * n) for n in (1000, 2000, 4000)]
    fig, slopes = scoring_time_figure(pd.DataFrame(rows, columns=["param", "K", "T", "N", "M", "seconds"]))
    assert slopes == pytest.approx({"K": 2.0, "T": 1.0, "NM": 1.0})
    assert [ax.get_title() for ax in fig.axes] == ["scoring time vs K", "scoring time vs T", "scoring time vs N*M"]
    assert all(ax.get_xscale() == "log" == ax.get_yscale() for ax in fig.axes)


def test_studies_are_grouped_by_config_not_path(tmp_path):
    for method, speed in (("j_bald", 1.0), ("la_bald", 2.0)):
        x = np.linspace(0, 1, 5)
        write_run(tmp_path, "a", method, 0, x, 1 - 0.4 * np.exp(-speed * 3 * x))
        write_run(tmp_path / "elsewhere", "a", method, 0, x, 1 - 0.4 * np.exp(-speed * 3 * x), ratio=10)
    (tmp_path / "elsewhere" / "runs").rename(tmp_path / "runs" / "imbalanced")
    frame = load_runs(tmp_path / "runs")
    assert sorted(frame["setting"].unique()) == ["imbalance=10", "main"]
    table = compare(frame)
    assert list(dict.fromkeys(table["setting"])) == ["main", "imbalance=10"]
    assert set(table["dataset"]) == {"a"} and table["paper"].isna().all()  # one dataset: no mean row


def test_make_figures_writes_every_file_non_empty(runs, capsys):
    bench = runs / "bench.csv"
    pd.DataFrame([("K", k, 100, 1000, 60, 1e-3 * k) for k in (4, 8)],
                 columns=["param", "K", "T", "N", "M", "seconds"]).to_csv(bench, index=False)
    assert figures_main(["--runs", str(runs / "runs"), "--out", str(runs / "figs"), "--bench", str(bench)]) == 0
    names = {p.name for p in (runs / "figs").iterdir()}
    for stem in ("label_accuracy", "model_accuracy", "jaccard", "diagnostics", "scoring_time"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert {"comparison.md", "comparison.csv", "forest.png", "forest.pdf", "timing.md", "timing.csv"} <= names
    assert all(p.stat().st_size > 0 for p in (runs / "figs").iterdir())
    md = (runs / "figs" / "comparison.md").read_text()
    assert "| dataset | LA-BALD vs SS | LA-BALD vs Rand-I+Greedy-W | LA-BALD vs J-BALD |" in md
    assert "| **mean** |" in md and "| paper (mean) | 19 | 19 | 12 |" in md and "## Power (plateau)" in md
    table = pd.read_csv(runs / "figs" / "comparison.csv")
    assert list(table.columns[:11]) == ["setting", "dataset", "method", "baseline", "kind", "measure", "n_seeds",
                                        "mean", "ci_low", "ci_high", "wins"]
    la_ss = table[(table["method"] == "la_bald") & (table["baseline"] == "ss") & (table["measure"] == "plateau")]
    assert (la_ss["mean"] > 0).all() and (la_ss["wins"] == 3).all()  # LA-BALD's curves rise 2x faster
    assert "wrote 16 file(s)" in capsys.readouterr().out


def test_missing_or_bad_bench_csv_only_skips_its_figure(tmp_path):
    messages = []
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    for csv in (tmp_path / "absent.csv", tmp_path / "bad.csv", None):
        assert _scoring_time(csv, tmp_path / "figs", messages.append, ("png",)) == []
    assert len(messages) == 3 and all(m.startswith("scoring-time figure skipped") for m in messages)
    assert not (tmp_path / "figs").exists()


@pytest.mark.parametrize("case", ["missing", "empty", "only-empty-metrics"])
def test_no_runs_is_a_one_line_error(tmp_path, capsys, case):
    runs = tmp_path / "runs"
    if case != "missing":
        runs.mkdir()
    if case == "only-empty-metrics":
        (runs / "r").mkdir()
        (runs / "r" / "metrics.csv").write_text("")
        (runs / "r" / "config.yaml").write_text("method: ss\n")
    assert figures_main(["--runs", str(runs), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labald: error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "figs").exists()


def test_figures_from_real_tiny_runs(tmp_path):
    """End to end: two short digits runs through the runner, then every figure from them."""
    from labald.runner import run_experiment
    from tests.helpers import make_settings

    for method in ("j_bald", "la_bald"):
        run_experiment(make_settings(["dataset=digits", f"method={method}", "learner=none", "max_steps=2"],
                                     tmp_path), progress=False)
    written = make_figures(tmp_path / "runs", tmp_path / "figs", None, say=lambda m: None, formats=("png",))
    names = {p.name for p in written}
    # runs without a learner form their own study, named in the file names
    assert {"label_accuracy_learner_none.png", "model_accuracy_learner_none.png", "jaccard_learner_none.png",
            "comparison.md"} <= names
    table = pd.read_csv(tmp_path / "figs" / "comparison.csv")
    assert set(table["baseline"]) == {"j_bald"} and table["n_seeds"].tolist() == [1] * len(MEASURES)


def test_core_ablations_and_old_core_runs_are_their_own_study():
    from labald.figures.load import setting_slug

    new = {"learner": {"cross_fit": 3, "keep_best": "error"}, "aggregation": {"reinfer": True}}
    assert setting_slug(new) == "main"
    ablated = {"learner": {"cross_fit": 1, "keep_best": "error"}, "aggregation": {"reinfer": False}}
    assert setting_slug(ablated) == "aggregation.reinfer=false,learner.cross_fit=1"
    assert setting_slug({"learner": {"hidden": 128, "max_epochs": 50}}) == "core=old"  # the older learning core
    assert setting_slug({"learner": None}) == "learner=none"


def test_timing_gives_the_step_spread_over_runs_and_the_machine_load(tmp_path):
    for seed, (step, load) in enumerate([(0.2, 1.0), (0.4, 2.5), (0.9, 1.5)]):
        out = write_run(tmp_path, "a", "ss", seed, [0.0, 0.5, 1.0], [0.5, 0.7, 0.9])
        metrics = pd.read_csv(out / "metrics.csv").assign(seconds_step=step)
        metrics.to_csv(out / "metrics.csv", index=False)
        (out / "summary.json").write_text(json.dumps({"wall_seconds": 1.0, "steps": 3, "stop_reason": "test",
                                                      "load_1min": load, "cores": 2}))
    write_run(tmp_path, "a", "la_bald", 0, [0.0, 0.5, 1.0], [0.5, 0.7, 0.9])  # no load recorded
    frame = load_runs(tmp_path / "runs")
    from labald.figures import timing
    from labald.figures.load import read_summaries
    table = timing.timing_table(frame, read_summaries(frame)).set_index("method")
    ss = table.loc["ss"]
    assert (ss["step_min"], ss["step_median"], ss["step_max"]) == pytest.approx((0.2, 0.4, 0.9))
    assert (ss["load_median"], ss["load_max"], ss["cores"]) == (1.5, 2.5, 2)
    text = timing.to_markdown(table.reset_index())
    assert "| 0.200 / 0.400 / 0.900 | 1.5 / 2.5 on 2 |" in text
    assert "| 0.400 / 0.400 / 0.400 | n/a |" in text  # LA-BALD's run recorded no load


def test_a_sampler_outside_the_paper_gets_a_forest_plot_of_its_own(tmp_path):
    x = np.linspace(0, 1, 5)
    for seed in (0, 1):
        for method, speed in (("ss", 1.0), ("j_bald", 1.5), ("la_bald", 1.5), ("elr", 3.0)):
            write_run(tmp_path, "a", method, seed, x, 1 - 0.4 * np.exp(-speed * 3 * x))
        for method, speed in (("ss", 2.0), ("elr", 4.0)):
            write_run(tmp_path, "a", method, seed, x, 1 - 0.4 * np.exp(-speed * 3 * x), batch_ramp=1)
        write_run(tmp_path, "a", "la_bald", seed, x, 1 - 0.4 * np.exp(-1.4 * 3 * x), rerun=1)
    table = compare(load_runs(tmp_path / "runs"))
    sets = {name: pairs for name, pairs, _ in forest_sets(table, "main")}
    assert sets == {"forest": [("la_bald", "ss"), ("la_bald", "j_bald")],
                    "forest_elr": [("elr", "ss"), ("elr", "j_bald"), ("elr", "la_bald")],
                    "forest_elr_batch_ramp_1": [("elr@batch_ramp=1", "ss@batch_ramp=1")],  # ramped vs ramped only
                    "protocol": [("ss@batch_ramp=1", "ss"), ("elr@batch_ramp=1", "elr")],
                    "aa": [("la_bald@rerun=1", "la_bald")]}
    fig = forest_figure(table, "main", sets["forest_elr"], "ELR")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["ELR vs SS", "ELR vs J-BALD", "ELR vs LA-BALD"]
    assert len({ax.get_xlim() for ax in axes}) == 1  # one x-axis shared by every panel
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["plateau (primary), 95% interval", "target", "error_area"]  # no paper figure for ELR
    lead = forest_figure(table, "main", sets["forest"], "LA-BALD")
    assert "the paper's claim" not in [t.get_text() for t in lead.legends[0].get_texts()]  # one dataset: no mean row


def test_figures_and_run_identity_load_no_torch():
    """Drawing figures, naming runs and reading their settings need no model code: on a machine
    with the results alone, none of it imports torch."""
    import subprocess
    import sys

    code = ("import sys, labald.figures, labald.identity, labald.settings, labald.methods, labald.compat; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
