"""Paired comparisons of samplers: the measures, their intervals, the A/A check and the power analysis.

Every comparison is paired: method and baseline run with the same seed, so they share the pool, the
crowd, the prototype split and the world of answers (labald.workers: an answer is fixed by seed,
image and worker), and differ only in what the sampler asks. One number per (study, dataset, seed,
method, baseline) and measure, from the two runs' label-accuracy curves y(x) over annotations per
image x (metrics.csv, linearly interpolated between steps). a0 = the higher of the two step-0
accuracies, af = the lower of the two final accuracies; t_q = a0 + q (af - a0) is the target a
fraction q of the way from start to plateau, and c(t) the first x where a curve reaches t. Both curves
start at or below a0 and end at or above af, so both reach every such target.

- `plateau` (primary): the cost near the plateau, where the remaining errors are the hard images and
  samplers can differ. reduction = 100 (1 - exp(mean_q log(c_method(t_q) / c_baseline(t_q)))) over
  q in PLATEAU_QUANTILES (0.90, 0.95, 0.98): the geometric-mean cost ratio, symmetric in log. A seed
  without a rise (af <= a0) has no value (NaN) and is left out of the counts.
- `target`: the paper's wording, the cost of af itself (q = 1); reduction = 100 (c_baseline(af) -
  c_method(af)) / c_baseline(af). It hangs on the last, flattest stretch of the curves.
- `error_area`: the mean label error 1 - y over x in [0, x_max], x_max the smaller of the two runs'
  last x; reduction = 100 (1 - area_method / area_baseline).
- `early_rise` (a diagnostic of the first steps): as `plateau` over q in EARLY_QUANTILES (0.5 ... 0.9).
  Those targets are reached in the first steps by retraining on the model's own confident
  predictions, with a handful of answers as with hundreds, so every sampler at a fixed batch pays
  nearly the same for them; it shows how many pairs the first steps ask, not which pairs.

Positive means the method needs fewer annotations (or makes fewer errors) than the baseline.

With `x="cost_per_image"` the same measures are taken over money per image instead (the `cost_per_image`
column: the answers' prices, labald.costs), so a sampler that asks cheaper workers gains by it; at
the default price of 1 an answer the two axes are one.

Equal protocol. A run's method name carries the settings it was run with beyond its study
(`with_settings_joined`): `<sampler>[@key=value ...]`. A key of SAMPLER_SETTINGS is part of the
sampler (ranking pairs per unit of money); a key of PROTOCOL_SETTINGS is part of the protocol (how many
pairs the first steps ask, EM that forgets), as are the study's own settings (batch size, stopping
rule, learner, crowd, pool); `rerun` is the same sampler with other luck. Each row of the table has a
`kind` (KINDS):
- `sampler`: two samplers under the same protocol, which is what a sampler claim may rest on;
- `protocol`: one sampler under two protocols, differing in one protocol setting (a ramped batch
  against a fixed one): the setting's effect, never a sampler's;
- `aa`: a sampler against its own rerun with other luck (the A/A check).
No other pair is made.

Seeds are combined on the log scale, where a reduction is symmetric: each seed's reduction r is
the log cost ratio L = -log(1 - r / 100) (for `plateau` and `early_rise`, the mean log ratio they are
built from), and a table row gives the mean of L back as a reduction, 100 (1 - exp(-mean L)), with its
interval mapped the same way. Averaging the reductions themselves would be biased: 1 - ratio is
concave, so two samplers of equal worth whose cost ratio varies from seed to seed by a log-SD of s
would read about -100 s^2 / 2 (-12 points at s = 0.5, which the A/A pairs of a noisy dataset reach).

Per dataset: the mean of L over seeds with a 95% t-interval (the per-seed values are paired
differences already) and the seeds where the method wins. Across datasets: the mean of the dataset
means, its standard error sqrt(sum_d s_d^2 / n_d) / D (datasets are independent pools and crowds)
and a t-interval with Welch-Satterthwaite degrees of freedom; its wins count the seeds, common to
every dataset, whose mean over datasets is above 0. The `sd` column is the SD of 100 L over seeds
(log points: about reduction points near 0), the unit of the power analysis.

The A/A check: a run with `rerun=r` is the same sampler on the same world with other luck
(selection ties, learner); it joins its study as the method `<method>@rerun=r` compared with
`<method>`. Its true reduction is 0, so its intervals must cover 0 about 95% of the time.

Only finished runs count (a run cut short would lower af). A row uses only the two runs it
compares, so it does not move when other runs are added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from labald.errors import LabaldError
from labald.methods import in_paper

PRIMARY = "plateau"
MEASURES = (PRIMARY, "target", "error_area", "early_rise")  # the headline first, the diagnostic last
PLATEAU_QUANTILES = (0.90, 0.95, 0.98)
EARLY_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9)
ALL_DATASETS = "mean"  # the dataset name of the mean over datasets
LEVEL = 0.95
RERUN_TAG = "@rerun="  # `<method>@rerun=r`: a sampler rerun with other luck on its own world
# Settings whose runs join the study without them, as the method `<method>@<key>=<value>`: part of the
# sampler (ranking pairs per unit of money), part of the protocol (how many pairs the first steps ask, EM
# that forgets), or a rerun with other luck (the A/A check)
SAMPLER_SETTINGS = ("acquisition.per_cost",)
PROTOCOL_SETTINGS = ("batch_ramp", "aggregation.forgetting")
JOINED_SETTINGS = ("rerun", *PROTOCOL_SETTINGS, *SAMPLER_SETTINGS)
KINDS = ("sampler", "protocol", "aa")
(LA,) = in_paper("proposed")
SS_TYPE, JBALD_TYPE = in_paper("ss_type"), in_paper("j_bald_type")
PAPER_BASELINES = (*SS_TYPE, *JBALD_TYPE)
COLUMNS = ("setting", "dataset", "method", "baseline", "kind", "measure", "n_seeds", "mean", "ci_low", "ci_high",
           "wins", "sd", "paper")
PER_SEED_COLUMNS = ("setting", "dataset", "seed", "method", "baseline", "measure", "reduction")
# What the measures are taken over, each with the word its reductions are in
X_AXES = {"annotations_per_image": "annotations", "cost_per_image": "money"}
ANNOTATIONS = "annotations_per_image"


# --- one pair of curves ------------------------------------------------------------------------------

def cost_to_reach(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """The first x where the curve y(x), linear between points, reaches `target`; NaN if it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    reached = np.flatnonzero(y >= target)
    if reached.size == 0:
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))


def rise_targets(method_y: np.ndarray, baseline_y: np.ndarray, quantiles) -> np.ndarray:
    """The targets a0 + q (af - a0) shared by both curves, one per q; empty when there is no rise."""
    a0 = max(float(method_y[0]), float(baseline_y[0]))
    af = min(float(method_y[-1]), float(baseline_y[-1]))
    if not af > a0:
        return np.zeros(0)
    return a0 + np.asarray(quantiles) * (af - a0)


def mean_log_ratio_reduction(mx, my, bx, by, quantiles) -> float:
    """100 (1 - exp(mean_q log(c_method(t_q) / c_baseline(t_q)))) over the targets of `quantiles`, in
    percent; NaN without a rise."""
    targets = rise_targets(np.asarray(my), np.asarray(by), quantiles)
    if targets.size == 0:
        return math.nan
    logs = [math.log(cost_to_reach(mx, my, t) / cost_to_reach(bx, by, t)) for t in targets]
    return 100.0 * (1.0 - math.exp(float(np.mean(logs))))


def plateau(mx, my, bx, by) -> float:
    """`plateau` reduction of the method's curve (mx, my) vs the baseline's (bx, by), in percent."""
    return mean_log_ratio_reduction(mx, my, bx, by, PLATEAU_QUANTILES)


def early_rise(mx, my, bx, by) -> float:
    """`early_rise` reduction (the first steps' targets), in percent."""
    return mean_log_ratio_reduction(mx, my, bx, by, EARLY_QUANTILES)


def target(mx, my, bx, by) -> float:
    """`target` reduction at the plateau: both curves' cost of the lower final accuracy, in percent."""
    t = min(float(np.asarray(my)[-1]), float(np.asarray(by)[-1]))
    c_m, c_b = cost_to_reach(mx, my, t), cost_to_reach(bx, by, t)
    return 100.0 * (c_b - c_m) / c_b if c_b > 0 else math.nan


def mean_error(x, y, x_max: float) -> float:
    """Mean of 1 - y(x) over [0, x_max] under linear interpolation (the curve starts at x = 0)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    inside = x < x_max
    xs = np.r_[x[inside], x_max]
    errors = 1.0 - np.r_[y[inside], np.interp(x_max, x, y)]
    return float(np.trapezoid(errors, xs) / x_max)


def error_area(mx, my, bx, by) -> float:
    """`error_area` reduction: mean label error up to the shorter run's last x, in percent."""
    x_max = min(float(np.asarray(mx)[-1]), float(np.asarray(bx)[-1]))
    if not x_max > 0:
        return math.nan
    return 100.0 * (1.0 - mean_error(mx, my, x_max) / mean_error(bx, by, x_max))


MEASURE_FUNCTIONS = {"plateau": plateau, "target": target, "error_area": error_area, "early_rise": early_rise}
# Where across the rise two samplers differ: the reduction at each fraction q of the way from a0 to af
# on its own (`early_rise` averages 0.5-0.9 in log, `plateau` 0.90-0.98; q -> 1 approaches `target`).
PROFILE_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def rise_profile(mx, my, bx, by, quantiles=PROFILE_QUANTILES) -> list[float]:
    """100 (1 - c_method(t_q) / c_baseline(t_q)) for each q (NaN without a rise)."""
    targets = rise_targets(np.asarray(my), np.asarray(by), quantiles)
    if targets.size == 0:
        return [math.nan] * len(quantiles)
    return [100.0 * (1.0 - cost_to_reach(mx, my, t) / cost_to_reach(bx, by, t)) for t in targets]


# --- which pairs ---------------------------------------------------------------------------------------

def rerun_of(method: str) -> str | None:
    """The sampler a `<method>@rerun=r` name reruns, None for a plain method."""
    return method.split(RERUN_TAG)[0] if RERUN_TAG in method else None


def _tags(method: str) -> list[str]:
    return method.split("@")[1:]


def sampler_of(method: str) -> str:
    """The sampler a method name runs: its base name with its SAMPLER_SETTINGS tags
    (`la_bald@acquisition.per_cost=true@batch_ramp=1` -> `la_bald@acquisition.per_cost=true`)."""
    base = method.split("@")[0]
    return "@".join([base, *(t for t in _tags(method) if t.split("=")[0] in SAMPLER_SETTINGS)])


def protocol_of(method: str) -> tuple[str, ...]:
    """The PROTOCOL_SETTINGS tags of a method name, in its order (`elr@batch_ramp=1` -> ('batch_ramp=1',))."""
    return tuple(t for t in _tags(method) if t.split("=")[0] in PROTOCOL_SETTINGS)


def _with_protocol(sampler: str, protocol: tuple[str, ...]) -> str:
    return "@".join([sampler, *protocol])


def pair_kind(method: str, baseline: str) -> str | None:
    """`aa` (a rerun vs its own sampler), `sampler` (two samplers under one protocol), `protocol` (one
    sampler under two protocols one setting apart), or None for a pair the comparisons never make."""
    if rerun_of(baseline) is not None:
        return None
    if rerun_of(method) is not None:
        return "aa" if rerun_of(method) == baseline else None
    if protocol_of(method) == protocol_of(baseline):
        return "sampler" if sampler_of(method) != sampler_of(baseline) else None
    one_less = protocol_of(method)[:-1]
    return "protocol" if sampler_of(method) == sampler_of(baseline) and protocol_of(baseline) == one_less else None


def compared_pairs(methods: Iterable[str]) -> list[tuple[str, str]]:
    """(method, baseline) pairs among `methods`. Under each protocol (the same PROTOCOL_SETTINGS tags):
    LA-BALD vs the paper's baselines, each sampler outside the paper vs those and LA-BALD (a sampler with
    SAMPLER_SETTINGS, such as per-cost ranking, is outside the paper and so also meets its own sampler).
    Across protocols only `protocol` pairs: a method vs the same sampler without its last protocol
    setting. Then each rerun vs its own sampler (the A/A check)."""
    methods = set(methods)
    plain = {m for m in methods if rerun_of(m) is None}
    pairs = []
    for protocol in sorted({protocol_of(m) for m in plain}, key=lambda p: (len(p), p)):
        group = {sampler_of(m): m for m in plain if protocol_of(m) == protocol}
        ordered = _paper_order(set(group))
        pairs += [(group[m], group[b]) for m in ordered if m not in PAPER_BASELINES for b in ordered
                  if b != m and (b in PAPER_BASELINES or b == LA or (m != LA and b == m.split("@")[0]))]
    for m in _paper_order(plain):
        parent = _with_protocol(sampler_of(m), protocol_of(m)[:-1])
        if protocol_of(m) and parent in plain:
            pairs.append((m, parent))
    pairs += [(m, rerun_of(m)) for m in sorted(methods - plain) if rerun_of(m) in plain]
    return list(dict.fromkeys(pairs))


def _paper_order(methods: set[str]) -> list[str]:
    """The paper's samplers first (SS, Rand-I+Greedy-W, J-BALD, LA-BALD), then the others by name."""
    paper = (*PAPER_BASELINES, LA)
    first = sorted((m for m in methods if m.split("@")[0] in paper), key=lambda m: (paper.index(m.split("@")[0]), m))
    return first + sorted(methods - set(first))


def paper_figure(setting: str, method: str, baseline: str) -> float:
    """The paper's reduction for this comparison on the mean over its four subtasks, NaN where it gives
    none: LA-BALD 19% vs SS-type and 12% vs J-BALD-type baselines (Sec. 5); at imbalance 10 the
    appendix (B.3) gives 20% and 6%, read here as vs SS-type and vs J-BALD. Only plain LA-BALD, so only
    under the paper's own protocol (a pair shares its protocol)."""
    if method != LA:
        return math.nan
    figures = {"main": {SS_TYPE: 19.0, JBALD_TYPE: 12.0}, "imbalance=10": {SS_TYPE: 20.0, JBALD_TYPE: 6.0}}
    for kind, value in figures.get(setting, {}).items():
        if baseline in kind:
            return value
    return math.nan


# --- a study's runs ------------------------------------------------------------------------------------

def with_settings_joined(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs with a JOINED_SETTINGS key in their setting join the study without it, as the method
    `<method>@<key>=<value>` (`<method>@rerun=r`, `<method>@batch_ramp=b`)."""
    parts = frame["setting"].str.split(",")

    def joins_study(x: str) -> bool:
        return x.split("=")[0] in JOINED_SETTINGS

    tags = parts.map(lambda p: "".join("@" + x for x in p if joins_study(x)))
    rest = parts.map(lambda p: ",".join(x for x in p if not joins_study(x)) or "main")
    joins = tags != ""
    return frame.assign(setting=rest.where(joins, frame["setting"]),
                        method=(frame["method"] + tags).where(joins, frame["method"]))


def require_x(frame: pd.DataFrame, x: str) -> None:
    """LabaldError unless `x` is one of X_AXES and every row of `frame` has a value of it (runs written
    before the cost columns have none where their prices were not the default)."""
    if x not in X_AXES:
        raise LabaldError(f"x={x!r} is unknown; choose one of: {', '.join(X_AXES)}")
    missing = frame[frame[x].isna()] if x in frame.columns else frame
    if not missing.empty:
        runs = missing["run"].unique() if "run" in missing.columns else []
        where = f" ({len(runs)} run(s), e.g. {runs[0]})" if len(runs) else ""
        raise LabaldError(f"runs without a {x} column{where}: they predate the cost columns and set prices "
                          "other than 1 an answer; rerun them, or compare over annotations_per_image")


def _paired_curves(frame: pd.DataFrame, x: str = ANNOTATIONS, pairs=compared_pairs):
    """(setting, dataset, seed, method, baseline, method's curve, baseline's curve) of every pair
    `pairs(methods)` names (default: `compared_pairs`) among the finished runs of a runs frame
    (`labald.figures.load.load_runs`: a row per step; columns setting, panel, method, seed, step, `x`
    (annotations_per_image or cost_per_image), label_accuracy, optionally finished)."""
    finished = frame[frame["finished"]] if "finished" in frame.columns else frame
    require_x(finished, x)
    for (setting, dataset, seed), group in with_settings_joined(finished).groupby(["setting", "panel", "seed"]):
        curves = {}
        for method, run in group.groupby("method"):
            run = run.sort_values("step")
            curves[method] = (run[x].to_numpy(float), run["label_accuracy"].to_numpy(float))
        for method, baseline in pairs(curves):
            yield setting, dataset, int(seed), method, baseline, curves[method], curves[baseline]


def per_seed(frame: pd.DataFrame, x: str = ANNOTATIONS, pairs=compared_pairs) -> pd.DataFrame:
    """One row per (setting, dataset, seed, method, baseline, measure) of the pairs `pairs(methods)`
    names (default: `compared_pairs`), the measures taken over `x` (X_AXES)."""
    rows = [(setting, dataset, seed, method, baseline, measure, function(*mc, *bc))
            for setting, dataset, seed, method, baseline, mc, bc in _paired_curves(frame, x, pairs)
            for measure, function in MEASURE_FUNCTIONS.items()]
    return pd.DataFrame(rows, columns=list(PER_SEED_COLUMNS))


def profile_table(frame: pd.DataFrame, x: str = ANNOTATIONS) -> pd.DataFrame:
    """Per study and pair, the mean over datasets of the reduction at each q of PROFILE_QUANTILES,
    with its interval (`mean_interval`): where across the rise the samplers differ (over `x`)."""
    rows = [(setting, dataset, seed, method, baseline, f"q={q:g}", value)
            for setting, dataset, seed, method, baseline, mc, bc in _paired_curves(frame, x)
            for q, value in zip(PROFILE_QUANTILES, rise_profile(*mc, *bc))]
    table = comparison_table(pd.DataFrame(rows, columns=list(PER_SEED_COLUMNS)))
    return table[table["dataset"] == ALL_DATASETS].reset_index(drop=True)


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval; the interval is NaN with fewer than two values."""
    values = np.asarray(values, float)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + LEVEL / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def mean_interval(means: np.ndarray, sds: np.ndarray, ns: np.ndarray) -> tuple[float, float, float]:
    """Mean of D independent dataset means with a 95% t-interval: SE = sqrt(sum s^2 / n) / D, degrees
    of freedom by Welch-Satterthwaite."""
    means, sds, ns = (np.asarray(a, float) for a in (means, sds, ns))
    mean = float(means.mean())
    v = sds**2 / ns
    if len(means) < 1 or (ns < 2).any() or not v.sum() > 0:
        return mean, math.nan, math.nan
    se = math.sqrt(v.sum()) / len(means)
    df = v.sum() ** 2 / float((v**2 / (ns - 1)).sum())
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    return mean, mean - half, mean + half


def log_points(reduction):
    """100 L, L = -log(1 - r / 100): a reduction r (%) as a log cost ratio in log points (+: fewer)."""
    return -100.0 * np.log1p(-np.asarray(reduction, float) / 100.0)


def from_log_points(points):
    """The reduction (%) of a log cost ratio in log points; inverse of `log_points`."""
    return -100.0 * np.expm1(-np.asarray(points, float) / 100.0)


def comparison_table(values: pd.DataFrame) -> pd.DataFrame:
    """`COLUMNS` per (setting, dataset, method, baseline, measure), plus dataset `mean` (over datasets)
    when a comparison has two or more datasets. `values` is `per_seed`'s frame. Seeds are combined in
    log points (`log_points`) and the mean and interval given back as reductions; `sd` in log points."""
    rows = []
    valid = values.dropna(subset=["reduction"])
    valid = valid.assign(points=log_points(valid["reduction"]))

    def row(setting, dataset, method, baseline, measure, points, paper=math.nan):
        mean, low, high = (float(from_log_points(v)) for v in interval(points))
        sd = float(np.std(points, ddof=1)) if len(points) > 1 else math.nan
        return (setting, dataset, method, baseline, pair_kind(method, baseline), measure, len(points), mean, low,
                high, int((points > 0).sum()), sd, paper)

    for (setting, method, baseline, measure), cells in valid.groupby(
            ["setting", "method", "baseline", "measure"], sort=False):
        stats_by_dataset = []
        for dataset, cell in cells.groupby("dataset", sort=True):
            points = cell["points"].to_numpy()
            rows.append(row(setting, dataset, method, baseline, measure, points))
            stats_by_dataset.append((float(points.mean()), rows[-1][COLUMNS.index("sd")], len(points)))
        if len(stats_by_dataset) > 1:
            means, sds, ns = map(np.array, zip(*stats_by_dataset))
            mean, low, high = (float(from_log_points(v)) for v in mean_interval(means, sds, ns))
            by_seed = cells.pivot_table(index="seed", columns="dataset", values="points").dropna()
            seed_means = by_seed.mean(axis=1).to_numpy()
            rows.append((setting, ALL_DATASETS, method, baseline, pair_kind(method, baseline), measure,
                         len(seed_means), mean, low, high, int((seed_means > 0).sum()),
                         float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else math.nan,
                         paper_figure(setting, method, baseline)))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {s: i for i, s in enumerate(["main", *sorted(set(table["setting"]) - {"main"})])}
    measure_order = {m: i for i, m in enumerate([*MEASURES, *(f"q={q:g}" for q in PROFILE_QUANTILES)])}
    return (table.assign(_s=table["setting"].map(order), _m=table["measure"].map(measure_order),
                         _p=[_pair_rank(m, b) for m, b in zip(table["method"], table["baseline"])],
                         _d=table["dataset"].eq(ALL_DATASETS))
            .sort_values(["_s", "_m", "_p", "_d", "dataset"], kind="stable")
            .drop(columns=["_s", "_m", "_p", "_d"]).reset_index(drop=True))


def _pair_rank(method: str, baseline: str) -> tuple:
    """Sampler pairs first (LA-BALD's, then the others', the paper's protocol before the others), then
    protocol pairs, then the A/A pairs; baselines in the paper's order."""
    paper = (*PAPER_BASELINES, LA)
    kind = pair_kind(method, baseline) or "aa"

    def rank(name: str) -> int:
        base = name.split("@")[0]
        return paper.index(base) if base in paper else len(paper)

    return (KINDS.index(kind), protocol_of(method), 0 if kind == "sampler" and method.split("@")[0] == LA else 1,
            rank(method), method, rank(baseline), baseline)


def versus(baseline: str):
    """A `pairs` function for `per_seed`: every sampler run (reruns aside) against `baseline` under the
    same protocol (a ramped sampler against `baseline` ramped alike, where it ran)."""
    def pairs(methods: Iterable[str]) -> list[tuple[str, str]]:
        methods = set(methods)
        out = []
        for m in sorted(methods):
            b = _with_protocol(baseline, protocol_of(m))
            if rerun_of(m) is None and b in methods and pair_kind(m, b) == "sampler":
                out.append((m, b))
        return out
    return pairs


def compare(frame: pd.DataFrame, x: str = ANNOTATIONS) -> pd.DataFrame:
    """The comparison table of every study in a runs frame (`load_runs`), measures taken over `x`:
    annotations per image, or money per image (`cost_per_image`)."""
    return comparison_table(per_seed(frame, x))


# --- the A/A check and power ---------------------------------------------------------------------------

def aa_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Per measure: how many A/A intervals (reruns vs their own sampler, per dataset) cover 0."""
    aa = table[table["method"].map(rerun_of).notna() & table["ci_low"].notna()
               & (table["dataset"] != ALL_DATASETS)]
    rows = [(measure, len(g), int(((g["ci_low"] <= 0) & (g["ci_high"] >= 0)).sum()))
            for measure, g in aa.groupby("measure", sort=False)]
    return pd.DataFrame(rows, columns=["measure", "intervals", "covering_0"])


def seeds_needed(sd: float, half_width: float, max_seeds: int = 10_000) -> int:
    """Fewest seeds n >= 2 whose 95% t-interval half-width t(n-1) sd / sqrt(n) is <= half_width."""
    if not (sd >= 0 and half_width > 0):
        return 0
    for n in range(2, max_seeds + 1):
        if stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / math.sqrt(n) <= half_width:
            return n
    return max_seeds


def seeds_needed_for_mean(sds: np.ndarray, half_width: float, max_seeds: int = 10_000) -> int:
    """Fewest seeds n, the same on every dataset, for the mean over datasets' interval (`mean_interval`)
    to be <= half_width wide on each side."""
    sds = np.asarray(sds, float)
    for n in range(2, max_seeds + 1):
        _, low, high = mean_interval(np.zeros(len(sds)), sds, np.full(len(sds), n))
        if (high - low) / 2 <= half_width:
            return n
    return max_seeds


POWER_COLUMNS = ("setting", "method", "baseline", "measure", "dataset", "n_seeds", "sd", "half_width",
                 "seeds_for_10", "seeds_for_5")


def power_table(table: pd.DataFrame, measure: str = PRIMARY) -> pd.DataFrame:
    """Per comparison on `measure`: the paired SD per dataset, today's half-width and the seeds needed
    for +/-10 and +/-5 points, per dataset and on the mean over datasets; all in log points (the scale
    seeds are combined on; about reduction points near 0)."""
    rows = []

    def half(r):
        return float(log_points(r["ci_high"]) - log_points(r["ci_low"])) / 2

    cells = table[table["measure"] == measure]
    for (setting, method, baseline), group in cells.groupby(["setting", "method", "baseline"], sort=False):
        per = group[group["dataset"] != ALL_DATASETS].dropna(subset=["sd"])
        for _, r in per.iterrows():
            rows.append((setting, method, baseline, measure, r["dataset"], r["n_seeds"], r["sd"],
                         half(r), seeds_needed(r["sd"], 10.0), seeds_needed(r["sd"], 5.0)))
        mean = group[group["dataset"] == ALL_DATASETS]
        if len(per) > 1 and not mean.empty:
            m = mean.iloc[0]
            rows.append((setting, method, baseline, measure, ALL_DATASETS, m["n_seeds"], math.nan,
                         half(m), seeds_needed_for_mean(per["sd"].to_numpy(), 10.0),
                         seeds_needed_for_mean(per["sd"].to_numpy(), 5.0)))
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))
