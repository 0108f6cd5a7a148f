"""Check the `plateau` and `early_rise` rows of the comparison table against the runs they come from.

Usage:
    python scripts/check_comparison.py --runs results/runs --table results/figures/comparison.csv

The two measures are re-implemented here from their written definitions, independently of
labald.comparison (nothing from labald is imported), so a slip in either shows up as a difference:

- runs live at <runs>/<dataset>/<run name>/seed=<s>/ (metrics.csv, config.yaml, and summary.json once
  finished); only finished runs count. A run's study is its run-name tags (`+`-separated) less the
  method and any `rerun=...`; its table dataset is <dataset> plus ` (<n>/class)` when
  dataset.n_per_class is set in config.yaml. The table setting is `main` for the plain study (only
  n_per_class in its tags) and `imbalance=10` for the study of dataset.imbalance_ratio=10; no other
  setting is checked.
- pairs: la_bald vs ss, rand_i_greedy_w and j_bald, and the A/A pairs j_bald@rerun=r vs j_bald and
  la_bald@rerun=r vs la_bald for every r >= 1 (`@rerun=r`: the run with rerun=r in config.yaml, against
  the rerun=0 run of the same seed); a pair exists on a seed when both runs (same dataset, study and
  seed) finished.
- one seed: curves y(x) with x = annotations_per_image, y = label_accuracy, rows by step, linear
  between points; a0 = the higher first y, af = the lower last y (no value if af <= a0); targets
  t_q = a0 + q (af - a0), q = 0.90, 0.95, 0.98 for `plateau` and 0.5, 0.6, 0.7, 0.8, 0.9 for
  `early_rise`; a run's cost c(t) is the first x where its curve reaches t; reduction = 100 (1 -
  exp(mean_q log(c_method(t_q) / c_baseline(t_q)))).
- equal protocol: every table row whose `kind` is `sampler` pairs two methods whose names carry the
  same `@batch_ramp=...` and `@aggregation.forgetting=...` tags (the protocol settings joined to a
  name); a row of another kind is a protocol or A/A row and must say so.
- table mean: seeds combine as log cost ratios. A seed's reduction r is L = -log(1 - r/100); the row
  per dataset is 100 (1 - exp(-mean of L over seeds)); dataset `mean` is the same map applied to the
  mean over datasets of the per-dataset mean L, for pairs seen on two or more datasets.

Prints one line per compared table row and `max |diff| = X points over N rows`; exits 0 when every
compared row is within 0.5 points (and every row is found on both sides), else 1.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

QUANTILES = {"plateau": (0.90, 0.95, 0.98), "early_rise": (0.5, 0.6, 0.7, 0.8, 0.9)}
PROTOCOL_KEYS = ("batch_ramp", "aggregation.forgetting")
TOLERANCE = 0.5  # points
RERUN = "@rerun="
PAIRS = (
    ("la_bald", "ss"),
    ("la_bald", "rand_i_greedy_w"),
    ("la_bald", "j_bald"),
)
AA_METHODS = ("j_bald", "la_bald")  # each rerun r >= 1 is compared with the rerun=0 run


def checked_pair(method: str, baseline: str) -> bool:
    """Whether (method, baseline) is one of the checked pairs, the A/A pairs of any rerun included."""
    if (method, baseline) in PAIRS:
        return True
    name, _, r = method.partition(RERUN)
    return name in AA_METHODS and baseline == name and r.isdigit() and int(r) >= 1
SETTINGS = ("main", "imbalance=10")
TABLE_KEY = ["setting", "dataset", "method", "baseline"]


def cost(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """The first x where the piecewise-linear curve (x, y) reaches target (NaN if it never does)."""
    reached = np.flatnonzero(y >= target)
    if reached.size == 0:
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (target - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))


def reduction(method: pd.DataFrame, baseline: pd.DataFrame, quantiles) -> float:
    """Reduction (%) in annotations per image of method vs baseline on one seed at the targets of
    `quantiles`; NaN when af <= a0."""
    curves = []
    for metrics in (method, baseline):
        ordered = metrics.sort_values("step", kind="stable")
        curves.append((ordered["annotations_per_image"].to_numpy(float), ordered["label_accuracy"].to_numpy(float)))
    a0 = max(y[0] for _, y in curves)
    af = min(y[-1] for _, y in curves)
    if not af > a0:  # also catches a NaN accuracy
        return math.nan
    logs = []
    for q in quantiles:
        target = a0 + q * (af - a0)
        c_method, c_baseline = (cost(x, y, target) for x, y in curves)
        if not (c_method > 0 and c_baseline > 0):  # cannot happen on curves with x >= 0 rising past y[0]
            warnings.warn(f"cost {c_method} vs {c_baseline} at target {target}; seed left out", stacklevel=2)
            return math.nan
        logs.append(math.log(c_method / c_baseline))
    return 100.0 * (1.0 - math.exp(sum(logs) / len(logs)))


def study_and_setting(run_name: str, method: str, config: dict) -> tuple[str, str | None]:
    """The run's study (its name's tags less the method and `rerun=...`) and table setting (None if unchecked)."""
    tags = [t for t in run_name.split("+") if t and t != method and not t.startswith("rerun=")]
    study = "+".join(sorted(tags))
    extra = sorted(t for t in tags if not t.startswith("n_per_class="))
    ratio = float((config.get("dataset") or {}).get("imbalance_ratio") or 1)
    if not extra:
        setting = "main"
    elif extra == ["imbalance=10"]:
        setting = "imbalance=10"
    else:
        return study, None
    expected = 10.0 if setting == "imbalance=10" else 1.0
    if ratio != expected:
        warnings.warn(f"{run_name}: name says {setting} but dataset.imbalance_ratio is {ratio:g}; left out",
                      stacklevel=2)
        return study, None
    return study, setting


def dataset_label(directory: str, config: dict) -> str:
    """The table's dataset: the directory's dataset name plus ` (<n>/class)` when n_per_class is set."""
    dataset = config.get("dataset") or {}
    name = dataset.get("name")
    if name is not None and str(name) != directory:
        warnings.warn(f"runs under {directory}/ have dataset.name {name}; using the directory name", stacklevel=2)
    n = dataset.get("n_per_class")
    return f"{directory} ({n}/class)" if n else directory


def load_finished_runs(runs_dir: Path) -> dict[tuple, pd.DataFrame]:
    """Finished runs' metrics keyed by (setting, dataset, study, method label, seed).

    The method label is config.yaml's method, with `@rerun=r` for rerun=r >= 1.
    Two runs on one key: the one with the newest metrics.csv is kept, with a warning."""
    runs: dict[tuple, tuple[float, Path, pd.DataFrame]] = {}
    for seed_dir in sorted(runs_dir.glob("*/*/seed=*")):
        files = [seed_dir / name for name in ("metrics.csv", "config.yaml", "summary.json")]
        if not all(f.is_file() for f in files):
            continue
        config = yaml.safe_load(files[1].read_text()) or {}
        method = str(config.get("method"))
        study, setting = study_and_setting(seed_dir.parent.name, method, config)
        if setting is None:
            continue
        rerun = int(config.get("rerun") or 0)
        label = method + (f"{RERUN}{rerun}" if rerun else "")
        seed = int(config.get("seed", seed_dir.name.removeprefix("seed=")))
        key = (setting, dataset_label(seed_dir.parent.parent.name, config), study, label, seed)
        metrics = pd.read_csv(files[0])
        if metrics.empty:
            warnings.warn(f"{seed_dir}: metrics.csv has no rows; left out", stacklevel=2)
            continue
        mtime = files[0].stat().st_mtime
        if key in runs:
            warnings.warn(f"{seed_dir} and {runs[key][1]} share {key}; keeping the newer", stacklevel=2)
            if runs[key][0] >= mtime:
                continue
        runs[key] = (mtime, seed_dir, metrics)
    return {key: metrics for key, (_, _, metrics) in runs.items()}


def recompute(runs: dict[tuple, pd.DataFrame], measure: str) -> dict[tuple, tuple[float, int]]:
    """(mean reduction, seeds with a value) per (setting, dataset, method, baseline) on `measure`, with
    dataset `mean` rows."""
    per_seed: dict[tuple, list[float]] = defaultdict(list)
    labels = {key[3] for key in runs}
    for (setting, dataset, study, label, seed), metrics in runs.items():
        for baseline in labels:
            if not checked_pair(label, baseline) or (setting, dataset, study, baseline, seed) not in runs:
                continue
            value = reduction(metrics, runs[(setting, dataset, study, baseline, seed)], QUANTILES[measure])
            if not math.isnan(value):
                per_seed[(setting, dataset, label, baseline)].append(-math.log(1.0 - value / 100.0))
    logs = {key: (float(np.mean(values)), len(values)) for key, values in per_seed.items() if values}
    across: dict[tuple, list[float]] = defaultdict(list)
    for (setting, _, method, baseline), (mean, _) in logs.items():
        across[(setting, "mean", method, baseline)].append(mean)
    logs.update({key: (float(np.mean(means)), len(means)) for key, means in across.items() if len(means) > 1})
    return {key: (100.0 * (1.0 - math.exp(-mean)), n) for key, (mean, n) in logs.items()}


def protocol_tags(method: str) -> list[str]:
    """The protocol settings a comparison-table method name carries (`elr@batch_ramp=1` -> ['batch_ramp=1'])."""
    return [t for t in method.split("@")[1:] if t.split("=")[0] in PROTOCOL_KEYS]


def mixed_protocol_rows(path: Path) -> list[str]:
    """Rows of the table that pair methods of different protocols without being protocol rows."""
    table = pd.read_csv(path, dtype=str)
    if "kind" not in table.columns:
        return [f"{path}: no `kind` column"]
    mixed = np.array([protocol_tags(m) != protocol_tags(b) for m, b in zip(table["method"], table["baseline"])], bool)
    bad = table[(table["kind"] == "sampler").to_numpy() & mixed]
    return [f"{r['method']} vs {r['baseline']} ({r['setting']}, {r['dataset']}, {r['measure']}) pairs two protocols "
            "as a sampler row" for _, r in bad.iterrows()]


def read_table(path: Path, measure: str) -> pd.DataFrame:
    """The table's rows of `measure` for the checked settings and pairs."""
    table = pd.read_csv(path, dtype={column: str for column in TABLE_KEY + ["measure"]})
    missing = set(TABLE_KEY + ["measure", "mean"]) - set(table.columns)
    if missing:
        raise SystemExit(f"{path}: no column(s) {', '.join(sorted(missing))}")
    rows = table[(table["measure"] == measure) & table["setting"].isin(SETTINGS)]
    return rows[[checked_pair(m, b) for m, b in zip(rows["method"], rows["baseline"])]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("results/runs"), help="the runs directory")
    parser.add_argument("--table", type=Path, default=Path("results/figures/comparison.csv"), help="comparison.csv")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        raise SystemExit(f"no runs directory at {args.runs}")
    runs = load_finished_runs(args.runs)
    worst, compared, problems = 0.0, 0, mixed_protocol_rows(args.table)
    print(f"{'measure':<10} {'setting':<14} {'dataset':<28} {'method':<16} {'baseline':<16} {'recomputed':>10} "
          f"{'table':>10} {'|diff|':>8}  n (ours/table; datasets in ours for `mean`)")
    for measure in QUANTILES:
        ours, rows = recompute(runs, measure), read_table(args.table, measure)
        for _, row in rows.iterrows():
            key = tuple(row[column] for column in TABLE_KEY)
            table_mean = float(row["mean"])
            mean, n = ours.get(key, (math.nan, 0))
            table_n = row.get("n_seeds", "?")
            if math.isnan(mean) and math.isnan(table_mean):
                diff_text = "both NaN"
            elif math.isnan(mean) or math.isnan(table_mean):
                diff_text = "MISSING"
                problems.append(f"{measure} {key}: recomputed {mean:.3f}, table {table_mean:.3f}")
            else:
                diff = abs(mean - table_mean)
                worst, compared = max(worst, diff), compared + 1
                diff_text = f"{diff:8.3f}" + ("" if diff <= TOLERANCE else "  <-- over tolerance")
            print(f"{measure:<10} {key[0]:<14} {key[1]:<28} {key[2]:<16} {key[3]:<16} {mean:10.3f} {table_mean:10.3f} "
                  f"{diff_text:>8}  {n}/{table_n}")
        listed = {tuple(row[column] for column in TABLE_KEY) for _, row in rows.iterrows()}
        for key in sorted(set(ours) - listed):
            problems.append(f"{measure} {key}: recomputed {ours[key][0]:.3f} over {ours[key][1]}, not in the table")
    for problem in problems:
        print(f"problem: {problem}")
    print(f"max |diff| = {worst:.3f} points over {compared} rows")
    return 0 if worst <= TOLERANCE and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
