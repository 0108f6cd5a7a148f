"""Paired comparisons (labald.comparison): the measures against hand computations on tiny curves, the
intervals against their formulas, the A/A pairs, the power analysis, and rows that do not move when
unrelated runs are added."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labald import comparison as cmp
from labald.figures import load_runs
from labald.methods import display_name
from tests.test_figures import write_run

X = [0.0, 0.5, 1.0]
FAST = [0.5, 0.8, 0.9]  # the method
SLOW = [0.5, 0.6, 0.9]  # the baseline


def test_cost_to_reach_interpolates_the_first_crossing_and_is_nan_when_never_reached():
    assert cmp.cost_to_reach([0, 1, 2], [0.5, 0.7, 0.9], 0.8) == pytest.approx(1.5)
    assert cmp.cost_to_reach([0, 1, 2], [0.5, 0.9, 0.8], 0.85) == pytest.approx(0.875)  # first, not last
    assert cmp.cost_to_reach([0, 1], [0.9, 0.95], 0.8) == 0.0
    assert math.isnan(cmp.cost_to_reach([0, 1], [0.5, 0.6], 0.8))


def test_plateau_is_the_geometric_mean_cost_ratio_at_three_targets_near_the_plateau_by_hand():
    # a0 = 0.5, af = 0.9: targets 0.86, 0.88, 0.892, all on the last segment of both curves. FAST:
    # 0.5 + 0.5 (t - 0.8) / 0.1 = 0.80, 0.90, 0.96; SLOW: 0.5 + 0.5 (t - 0.6) / 0.3 = 0.9333, 0.9667, 0.9867.
    fast, slow = [0.80, 0.90, 0.96], [0.5 + 0.26 / 0.6, 0.5 + 0.28 / 0.6, 0.5 + 0.292 / 0.6]
    expected = 100 * (1 - np.prod(np.divide(fast, slow)) ** (1 / 3))
    assert cmp.plateau(X, FAST, X, SLOW) == pytest.approx(expected)
    assert expected == pytest.approx(8.09, abs=0.01)  # ratios .857, .931, .973
    assert cmp.plateau(X, SLOW, X, FAST) == pytest.approx(100 * (1 - 1 / (1 - expected / 100)))  # symmetric in log
    # the early targets (0.70-0.86) see FAST far ahead; near the plateau the two are much closer
    assert cmp.early_rise(X, FAST, X, SLOW) > 4 * cmp.plateau(X, FAST, X, SLOW)


def test_early_rise_is_the_geometric_mean_cost_ratio_at_five_targets_by_hand():
    # a0 = 0.5, af = 0.9: targets 0.70, 0.74, 0.78, 0.82, 0.86. FAST: 0.5 (t - 0.5) / 0.3 up to 0.8,
    # then 0.5 + 0.5 (t - 0.8) / 0.1; SLOW: 0.5 + 0.5 (t - 0.6) / 0.3 above 0.6.
    fast = [1 / 3, 0.4, 0.28 / 0.6, 0.6, 0.8]
    slow = [2 / 3, 0.5 + 0.07 / 0.3, 0.8, 0.5 + 0.11 / 0.3, 0.5 + 0.13 / 0.3]
    expected = 100 * (1 - np.prod(np.divide(fast, slow)) ** (1 / 5))
    assert cmp.early_rise(X, FAST, X, SLOW) == pytest.approx(expected)
    assert expected == pytest.approx(37.63, abs=0.01)  # ratios .5, .545, .583, .692, .857
    assert cmp.early_rise(X, SLOW, X, FAST) == pytest.approx(100 * (1 - 1 / (1 - expected / 100)))  # symmetric in log
    assert cmp.early_rise(X, FAST, X, FAST) == 0.0


def test_early_rise_uses_the_higher_start_and_the_lower_final():
    # baseline starts at 0.6 and ends at 1.0: a0 = 0.6, af = 0.9 (the method's final)
    base_x, base_y = [0.0, 0.5, 1.0], [0.6, 0.7, 1.0]
    targets = cmp.rise_targets(np.array(FAST), np.array(base_y), cmp.EARLY_QUANTILES)
    np.testing.assert_allclose(targets, [0.75, 0.78, 0.81, 0.84, 0.87])
    fast = [0.5 * 0.25 / 0.3, 0.5 * 0.28 / 0.3, 0.55, 0.7, 0.85]
    base = [0.5 + 0.5 * (t - 0.7) / 0.3 for t in targets]
    assert cmp.early_rise(X, FAST, base_x, base_y) == pytest.approx(100 * (1 - np.prod(np.divide(fast, base)) ** 0.2))


def test_a_pair_without_a_rise_has_no_value():
    """A run that never gets above the other's start leaves no target between start and final: the
    seed has no `plateau` or `early_rise` (NaN) and is left out of the table's counts, which show it."""
    flat = [0.5, 0.5, 0.5]
    assert math.isnan(cmp.early_rise(X, flat, X, SLOW)) and math.isnan(cmp.plateau(X, flat, X, SLOW))
    assert math.isnan(cmp.target(X, flat, X, SLOW))  # target 0.5: the baseline "reaches" it at 0


def test_target_and_error_area_by_hand():
    base = [0.5, 0.6, 0.95]  # target = min(0.9, 0.95) = 0.9: method at 1.0, baseline at 0.5 + 0.5 * 0.3 / 0.35
    c_b = 0.5 + 0.5 * 0.3 / 0.35
    assert cmp.target(X, FAST, X, base) == pytest.approx(100 * (c_b - 1.0) / c_b)
    # errors [.5, .2, .1] and [.5, .4, .1] over [0, 1]: areas 0.25 and 0.35
    assert cmp.error_area(X, FAST, X, SLOW) == pytest.approx(100 * (1 - 0.25 / 0.35))
    # a longer baseline is cut at the method's end (x = 1), where it reads 0.6 + 0.3 * 0.5 = 0.75
    assert cmp.error_area(X, FAST, [0.0, 0.5, 1.5], [0.5, 0.6, 0.9]) == pytest.approx(
        100 * (1 - 0.25 / (0.5 * (0.5 + 0.4) / 2 + 0.5 * (0.4 + 0.25) / 2)))


def test_mean_interval_is_welch_over_independent_dataset_means():
    means, sds, ns = np.array([10.0, 20.0]), np.array([4.0, 8.0]), np.array([5, 10])
    v = sds**2 / ns
    se = math.sqrt(v.sum()) / 2
    df = v.sum() ** 2 / (v[0] ** 2 / 4 + v[1] ** 2 / 9)
    mean, low, high = cmp.mean_interval(means, sds, ns)
    assert mean == 15.0 and (high - low) / 2 == pytest.approx(stats.t.ppf(0.975, df) * se)


def test_seeds_needed_meets_the_half_width_with_one_seed_less_missing_it():
    n = cmp.seeds_needed(9.3, 5.0)
    half = lambda k: stats.t.ppf(0.975, k - 1) * 9.3 / math.sqrt(k)  # noqa: E731
    assert half(n) <= 5.0 < half(n - 1) and n == 16
    m = cmp.seeds_needed_for_mean(np.full(4, 9.3), 5.0)
    assert m < n and cmp.seeds_needed_for_mean(np.full(4, 9.3), 2.0) > m


def _two_datasets(tmp_path, extra=()):
    """Datasets a and b, seeds 0-2: LA-BALD follows FAST-like curves, J-BALD SLOW-like, each seed a
    little different; a J-BALD rerun equal to J-BALD but on seed 1."""
    for dataset in ("a", "b"):
        for seed in range(3):
            lift = 0.02 * seed + (0.01 if dataset == "b" else 0.0)
            write_run(tmp_path, dataset, "la_bald", seed, X, [0.5, 0.8 - lift, 0.9])
            write_run(tmp_path, dataset, "j_bald", seed, X, [0.5, 0.6 + lift, 0.9])
            write_run(tmp_path, dataset, "j_bald", seed, X, [0.5, 0.6 + lift + (0.05 if seed == 1 else 0), 0.9],
                      rerun=1)
    for args in extra:
        write_run(tmp_path, *args)
    return load_runs(tmp_path / "runs")


def test_table_by_hand_with_reruns_as_the_aa_pair(tmp_path):
    frame = _two_datasets(tmp_path)
    table = cmp.compare(frame)
    assert set(table["setting"]) == {"main"}  # the rerun joined the main study
    assert set(zip(table["method"], table["baseline"])) == {("la_bald", "j_bald"), ("j_bald@rerun=1", "j_bald")}
    row = table[(table["method"] == "la_bald") & (table["dataset"] == "a") & (table["measure"] == "plateau")].iloc[0]
    values = [cmp.plateau(X, [0.5, 0.8 - 0.02 * s, 0.9], X, [0.5, 0.6 + 0.02 * s, 0.9]) for s in range(3)]
    logs = [-100 * math.log(1 - v / 100) for v in values]  # seeds combine as log cost ratios
    half = stats.t.ppf(0.975, 2) * np.std(logs, ddof=1) / math.sqrt(3)
    back = [100 * (1 - math.exp(-p / 100)) for p in (np.mean(logs), np.mean(logs) - half, np.mean(logs) + half)]
    assert (row["n_seeds"], row["wins"]) == (3, 3)
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(back)
    assert row["sd"] == pytest.approx(np.std(logs, ddof=1))
    mean_row = table[(table["method"] == "la_bald") & (table["dataset"] == "mean") & (table["measure"] == "plateau")]
    assert mean_row["paper"].iloc[0] == 12.0 and mean_row["n_seeds"].iloc[0] == 3
    assert dict(zip(table["method"], table["kind"])) == {"la_bald": "sampler", "j_bald@rerun=1": "aa"}
    aa = table[(table["method"] == "j_bald@rerun=1") & (table["measure"] == "early_rise") & (table["dataset"] == "a")]
    assert aa["wins"].iloc[0] == 1 and aa["n_seeds"].iloc[0] == 3  # better on seed 1 only, 0 elsewhere
    coverage = cmp.aa_coverage(table)
    assert set(coverage["measure"]) == set(cmp.MEASURES) and (coverage["intervals"] == 2).all()


def test_a_ramped_sampler_meets_ramped_samplers_and_itself_at_b_only_as_a_protocol_row(tmp_path):
    frame = _two_datasets(tmp_path, extra=[("a", "elr", s, X, [0.5, 0.7, 0.9]) for s in range(3)]
                          + [("a", m, s, X, [0.5, 0.85, 0.9], None, "unconfident", 1, True, 0, 0, 1)
                             for s in range(3) for m in ("elr", "j_bald")])
    table = cmp.compare(frame)
    assert set(table["setting"]) == {"main"}  # the ramped runs joined the main study
    kinds = dict(zip(zip(table["method"], table["baseline"]), table["kind"]))
    assert {("elr@batch_ramp=1", "j_bald@batch_ramp=1"): "sampler", ("elr", "j_bald"): "sampler",
            ("elr", "la_bald"): "sampler", ("elr@batch_ramp=1", "elr"): "protocol",
            ("j_bald@batch_ramp=1", "j_bald"): "protocol"}.items() <= kinds.items()
    for method, baseline in [("elr@batch_ramp=1", "j_bald"), ("elr@batch_ramp=1", "la_bald"),
                             ("j_bald@batch_ramp=1", "elr"), ("la_bald", "j_bald@batch_ramp=1")]:
        assert (method, baseline) not in kinds  # never a sampler claim across two protocols
        assert cmp.pair_kind(method, baseline) is None
    row = table[(table["method"] == "elr@batch_ramp=1") & (table["baseline"] == "elr")
                & (table["measure"] == "early_rise") & (table["dataset"] == "a")].iloc[0]
    assert row["mean"] == pytest.approx(cmp.early_rise(X, [0.5, 0.85, 0.9], X, [0.5, 0.7, 0.9]))  # the same each seed
    assert display_name("elr@batch_ramp=1") == "ELR, ramp from 1"
    assert all(math.isnan(p) for p in table.loc[table["method"] != "la_bald", "paper"])  # the paper's figure: LA-BALD


def test_seeds_combine_in_log_so_equal_samplers_read_zero():
    # An A/A pair costing 2x on one seed and 0.5x on the other: equal worth. The reductions are -100% and
    # +50%; their plain mean (-25%) would call the rerun worse, the mean log ratio is exactly 0.
    values = pd.DataFrame({"setting": "main", "dataset": "a", "seed": [0, 1], "method": "j_bald@rerun=1",
                           "baseline": "j_bald", "measure": "plateau", "reduction": [-100.0, 50.0]})
    row = cmp.comparison_table(values).iloc[0]
    assert row["mean"] == pytest.approx(0.0, abs=1e-9)
    assert row["ci_low"] < 0 < row["ci_high"] and row["wins"] == 1
    assert row["sd"] == pytest.approx(np.std([100 * math.log(2), -100 * math.log(2)], ddof=1))
    assert cmp.from_log_points(cmp.log_points([-100.0, 0.0, 50.0])) == pytest.approx([-100.0, 0.0, 50.0])


def test_rows_do_not_move_when_unrelated_runs_are_added(tmp_path):
    before = cmp.compare(_two_datasets(tmp_path / "one"))
    after = cmp.compare(_two_datasets(tmp_path / "two", extra=[
        ("a", "ss", 0, X, [0.5, 0.55, 0.7]),  # an SS run with a lower final: the old common target moved
        ("a", "eag", 0, X, [0.5, 0.7, 0.8]),
        ("a", "la_bald", 7, X, [0.5, 0.7, 0.8]),  # a seed no baseline has
    ]))
    key = ["setting", "dataset", "method", "baseline", "measure"]
    pd.testing.assert_frame_equal(before.set_index(key), after.set_index(key).loc[before.set_index(key).index])


def test_unfinished_runs_and_seeds_without_rise_are_left_out(tmp_path):
    write_run(tmp_path, "a", "la_bald", 0, X, FAST)
    write_run(tmp_path, "a", "j_bald", 0, X, SLOW)
    write_run(tmp_path, "a", "la_bald", 1, X, [0.5, 0.5, 0.5])  # no rise
    write_run(tmp_path, "a", "j_bald", 1, X, SLOW)
    write_run(tmp_path, "a", "la_bald", 2, X, FAST, finished=False)
    write_run(tmp_path, "a", "j_bald", 2, X, SLOW)
    table = cmp.compare(load_runs(tmp_path / "runs"))
    counts = dict(zip(table["measure"], table["n_seeds"]))
    assert counts == {"plateau": 1, "target": 1, "error_area": 2, "early_rise": 1}


def test_power_table_gives_the_seeds_for_each_half_width(tmp_path):
    table = cmp.compare(_two_datasets(tmp_path))
    power = cmp.power_table(table)
    la = power[power["method"] == "la_bald"].set_index("dataset")
    assert set(power["measure"]) == {"plateau"}  # the primary measure
    sd_a = table[(table["method"] == "la_bald") & (table["dataset"] == "a") & (table["measure"] == "plateau")]["sd"]
    assert la.loc["a", "seeds_for_5"] == cmp.seeds_needed(float(sd_a.iloc[0]), 5.0)
    assert la.loc["mean", "seeds_for_5"] <= max(la.loc["a", "seeds_for_5"], la.loc["b", "seeds_for_5"])


def test_rise_profile_gives_each_target_on_its_own_and_tends_to_target():
    # FAST vs SLOW (a0 0.5, af 0.9): at q = 0.5 the target 0.7 costs 1/3 vs 2/3: 50% fewer
    profile = cmp.rise_profile(X, FAST, X, SLOW, quantiles=(0.5, 1.0))
    assert profile[0] == pytest.approx(50.0)
    assert profile[1] == pytest.approx(cmp.target(X, FAST, X, SLOW))  # q = 1 is the plateau target
    logs = np.log(1 - np.array(cmp.rise_profile(X, FAST, X, SLOW, quantiles=cmp.EARLY_QUANTILES)) / 100)
    assert cmp.early_rise(X, FAST, X, SLOW) == pytest.approx(100 * (1 - np.exp(logs.mean())))


def _check_script():
    """scripts/check_comparison.py, the independent re-implementation of `rise`, as a module."""
    from tests.helpers import script_module

    return script_module("check_comparison")


def test_the_independent_recomputation_matches_the_table_and_catches_a_slip(tmp_path, capsys):
    frame = _two_datasets(tmp_path, extra=[("a", "ss", s, X, [0.5, 0.55 + 0.05 * s, 0.85]) for s in range(3)])
    table = cmp.compare(frame)
    assert {"j_bald@rerun=1", "la_bald"} <= set(table["method"])
    check = _check_script()
    table.to_csv(tmp_path / "comparison.csv", index=False)
    assert check.main(["--runs", str(tmp_path / "runs"), "--table", str(tmp_path / "comparison.csv")]) == 0
    assert "max |diff| = 0.000" in capsys.readouterr().out
    for measure in ("plateau", "early_rise"):  # a slip of 1 point on either is caught
        hit = (table["measure"] == measure) & (table["dataset"] == "mean")
        table.assign(mean=table["mean"].where(~hit, table["mean"] + 1.0)).to_csv(tmp_path / "slipped.csv", index=False)
        assert check.main(["--runs", str(tmp_path / "runs"), "--table", str(tmp_path / "slipped.csv")]) == 1
    mixed = table.assign(baseline=table["baseline"].where(table["method"] != "la_bald", "j_bald@batch_ramp=1"))
    mixed.to_csv(tmp_path / "mixed.csv", index=False)  # a sampler row across two protocols is refused
    assert check.main(["--runs", str(tmp_path / "runs"), "--table", str(tmp_path / "mixed.csv")]) == 1
    assert "pairs two protocols" in capsys.readouterr().out


def test_a_ramped_sampler_with_em_that_forgets_meets_the_same_ramped_sampler():
    following = "elr@batch_ramp=1@aggregation.forgetting=0.8"
    pairs = cmp.compared_pairs(["ss", "la_bald", "elr@batch_ramp=1", following, "ss@batch_ramp=1"])
    assert len(pairs) == len(set(pairs))
    assert {(following, "elr@batch_ramp=1"), ("elr@batch_ramp=1", "ss@batch_ramp=1"), ("la_bald", "ss"),
            ("ss@batch_ramp=1", "ss")} == set(pairs)
    assert [cmp.pair_kind(*p) for p in pairs].count("protocol") == 2


def test_a_sampler_ranking_per_unit_of_money_meets_its_own_sampler_and_the_baselines():
    per_cost = "la_bald@acquisition.per_cost=true"
    pairs = cmp.compared_pairs(["ss", "j_bald", "la_bald", per_cost])
    assert {(per_cost, "la_bald"), (per_cost, "ss"), (per_cost, "j_bald")} <= set(pairs)
    frame = pd.DataFrame({"setting": ["acquisition.per_cost=true,workers.cost_expert=5", "workers.cost_expert=5"],
                          "method": ["la_bald", "la_bald"]})
    joined = cmp.with_settings_joined(frame)
    assert list(joined["setting"]) == ["workers.cost_expert=5"] * 2
    assert list(joined["method"]) == [per_cost, "la_bald"]
    assert display_name(per_cost) == "LA-BALD, per cost"


def test_a_sampler_with_em_that_forgets_joins_its_study_and_meets_its_own_sampler(tmp_path):
    import shutil

    import yaml

    from tests.test_figures import write_run

    for dataset in ("a", "b"):
        for seed in range(3):
            run = write_run(tmp_path / "staging", dataset, "la_bald", seed, X, [0.5, 0.7, 0.9])
            config = yaml.safe_load((run / "config.yaml").read_text())
            config["aggregation"] = {"forgetting": 0.8}
            (run / "config.yaml").write_text(yaml.safe_dump(config))
            target = tmp_path / "runs" / dataset / "la_bald+aggregation.forgetting=0.8"
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(run, target / f"seed={seed}")
    frame = _two_datasets(tmp_path)
    table = cmp.compare(frame)
    assert set(table["setting"]) == {"main"}
    pairs = set(zip(table["method"], table["baseline"]))
    following = "la_bald@aggregation.forgetting=0.8"
    assert (following, "la_bald") in pairs and (following, "j_bald") not in pairs  # EM is part of the protocol
    row = table[(table["method"] == following) & (table["baseline"] == "la_bald")
                & (table["measure"] == "early_rise") & (table["dataset"] == "a")].iloc[0]
    assert row["kind"] == "protocol"
    assert row["wins"] == 0  # below LA-BALD's 0.76-0.8 at the middle point on every seed
    assert display_name("elr@batch_ramp=1@aggregation.forgetting=0.8") == "ELR, ramp from 1, forgetting 0.8"


def test_the_crews_figure_puts_each_crew_in_its_panel_and_marks_its_best_sampler():
    from labald.figures.comparison import crew_of, crew_studies, crews_figure

    assert crew_of("workers.dynamics=fatigue,workers.cost_expert=5") == ("fatigue", "workers.cost_expert=5")
    assert crew_of("workers.spammer_share=0.2") == ("spammers 0.2", "main") and crew_of("main") == ("static", "main")
    assert cmp.versus("ss")(["ss", "la_bald", "j_bald@rerun=1"]) == [("la_bald", "ss")]
    assert cmp.versus("ss")(["la_bald", "j_bald"]) == []
    ramped = ["ss", "la_bald@batch_ramp=1", "elr@batch_ramp=1", "ss@batch_ramp=1", "la_bald"]
    assert cmp.versus("ss")(ramped) == [("elr@batch_ramp=1", "ss@batch_ramp=1"), ("la_bald", "ss"),
                                        ("la_bald@batch_ramp=1", "ss@batch_ramp=1")]
    settings = ["workers.cost_expert=5", "workers.cost_expert=5,workers.dynamics=fatigue"]
    rows = [{"setting": s, "dataset": "mean", "method": m, "baseline": "ss", "measure": "plateau", "n_seeds": 4,
             "mean": mean, "ci_low": mean - 5, "ci_high": mean + 5, "wins": 4}
            for s, values in zip(settings, ({"la_bald": 5.0, "j_bald": 9.0}, {"la_bald": 12.0, "j_bald": 3.0}))
            for m, mean in values.items()]
    table = pd.DataFrame(rows + [{**rows[0], "setting": "imbalance=10"}])
    assert crew_studies(table) == {"workers.cost_expert=5": settings}  # imbalance has no other crew
    fig = crews_figure(table, settings)
    static, fatigue = fig.axes[:2]
    assert [static.get_title(), fatigue.get_title()] == ["crew: static", "crew: fatigue"]
    best = {ax.get_title(): [line.get_xdata()[0] for line in ax.get_lines() if line.get_marker() == "D"]
            for ax in (static, fatigue)}
    assert best == {"crew: static": [9.0], "crew: fatigue": [12.0]}  # J-BALD, then LA-BALD
    area = pd.DataFrame([{**r, "measure": "error_area", "mean": -r["mean"]} for r in rows])
    fig = crews_figure(pd.concat([table, area]), settings)  # a row per measure, its own best
    assert len(fig.axes) == 4 and fig.axes[2].get_title() == ""
    assert [line.get_xdata()[0] for line in fig.axes[3].get_lines() if line.get_marker() == "D"] == [-3.0]
    assert "error_area" in fig.axes[3].get_xlabel()
