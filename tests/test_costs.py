"""Money, not counts: prices per answer, the cost columns, a budget in money, ranking by score per unit
of money, and figures and comparisons over money per image."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import yaml

from labald import comparison as cmp
from labald.costs import affordable_prefix, worker_costs
from labald.experiment import build_experiment
from labald.figures import load_runs
from labald.figures.__main__ import main as figures_main
from labald.figures.plots import accuracy_figure
from labald.identity import accepted_fingerprints, fingerprint, output_dir
from labald.loop import initial_state, run_steps
from labald.runner import answers_csv
from labald.samplers import Candidates, compose
from labald.samplers.selection import ASSIGNMENTS, PerCost
from labald.stopping import StoppingSettings, decide
from tests.helpers import make_settings
from tests.test_bad_input import _main
from tests.test_figures import write_run

# 300 digits, 10 workers (2 experts), no learner, 20 pairs a step: a run takes a second or two
SMALL = ["dataset=digits", "dataset.n_per_class=30", "workers=synthetic", "workers.n_crowd=8", "workers.n_expert=2",
         "learner=none", "batch_size=20"]


def _run(tmp_path, extra):
    exp = build_experiment(make_settings([*SMALL, *extra], tmp_path))
    state = run_steps(exp, initial_state(exp), progress=False)
    return exp, state


def test_prices_per_group_and_the_crowd_price_without_experts():
    np.testing.assert_array_equal(worker_costs(np.array([False, True, False]), 1.5, 4.0), [1.5, 4.0, 1.5])
    np.testing.assert_array_equal(worker_costs(np.zeros(3, dtype=bool), 1.5, 4.0), [1.5, 1.5, 1.5])  # a replayed log


def test_default_prices_make_cost_the_answer_count(tmp_path):
    exp, state = _run(tmp_path, ["max_steps=3"])
    for row in state.rows:
        assert row["cost"] == row["n_annotations"]
        assert row["cost_per_image"] == row["annotations_per_image"]
    assert state.rows[-1]["n_annotations"] == 60


def test_experts_at_five_cost_five_times_their_answers(tmp_path):
    exp, state = _run(tmp_path, ["workers.cost_expert=5", "max_steps=4"])
    assert output_dir(exp.settings).parent.name.endswith("+workers.cost_expert=5+workers.n_crowd=8+workers.n_expert=2")
    expert = exp.workers.is_expert[state.annotations.worker]
    assert 0 < expert.sum() < len(expert)
    for row in state.rows:
        so_far = state.annotations.step <= row["step"]
        assert row["cost"] == 5 * (expert & so_far).sum() + (~expert & so_far).sum()
        assert row["cost_per_image"] == pytest.approx(row["cost"] / exp.pool.n_images)
    answers = pd.read_csv(io.StringIO(answers_csv(state.annotations, exp.pool.class_names)))  # answers.csv
    expert_answers = exp.workers.is_expert[answers["worker"]].sum()
    assert state.rows[-1]["cost"] == 5 * expert_answers + (len(answers) - expert_answers)


def test_a_money_budget_stops_when_the_rest_pays_for_no_answer_and_never_overspends(tmp_path):
    exp, state = _run(tmp_path, ["method=la_bald", "workers.cost_expert=5", "stopping=cost",
                                 "stopping.cost_per_image=1.01"])
    assert output_dir(exp.settings).parent.name.startswith("la_bald+cost=1.01+")
    budget = 1.01 * exp.pool.n_images  # 303 in money
    last = state.rows[-1]
    assert last["cost"] <= budget + 1e-9
    assert budget - last["cost"] < exp.cost_M.min()  # it spent all it could
    assert "budget of 1.01 per image spent" in state.stop_reason
    per_step = np.bincount(state.annotations.step)[1:]
    short = int(np.argmax(per_step < 20))
    assert per_step[-1] < 20 and (per_step[:short] == 20).all() and (per_step[short:] < 20).all()
    # (a cut batch may leave what pays for a cheap answer or two: the next step asks those)


def test_the_last_batch_is_cut_to_the_prefix_the_rest_pays_for():
    assert affordable_prefix(np.array([1.0, 5.0, 1.0, 1.0]), left=6.5, budget=100) == 2
    assert affordable_prefix(np.array([1.0, 5.0, 1.0, 1.0]), left=5.5, budget=100) == 1  # in selection order
    assert affordable_prefix(np.array([0.1] * 10), left=1.0, budget=1.0) == 10  # rounding withholds none


def test_the_money_budget_over_annotates_after_the_papers_rule_like_the_budget_rule():
    rule = StoppingSettings("cost", cost_per_image=1.0)
    rows = [{"step": s, "n_eligible": e, "n_confident": 0, "annotations_per_image": c, "cost_per_image": c}
            for s, (e, c) in enumerate(zip([500, 5, 300], [0.0, 0.5, 0.9]))]
    decision = decide(rows, rule, 100, 1000, cheapest_per_image=0.05)
    assert decision.stop is None and decision.phase == "over"
    assert decide(rows, rule, 100, 1000, cheapest_per_image=0.2).stop is not None  # 0.9 + 0.2 > 1


def _candidates(cost_M):
    n, m = 2, len(cost_M)
    return Candidates(np.ones(n, dtype=bool), np.zeros((n, m), dtype=bool), np.full(m, 1), 1, np.asarray(cost_M))


def test_per_cost_ranks_by_score_per_unit_of_money():
    greedy = PerCost(ASSIGNMENTS["greedy"])
    rng = np.random.default_rng(0)
    equal = np.array([[0.3, 0.3], [0.1, 0.1]])  # workers 0 and 1 equally good; 1 costs half as much
    images, workers = greedy(equal, _candidates([2.0, 1.0]), rng)
    assert (images.tolist(), workers.tolist()) == ([0], [1])
    twice = np.array([[0.2, 0.1], [0.0, 0.0]])  # worker 0: twice the score at three times the price
    assert greedy(twice, _candidates([3.0, 1.0]), rng)[1].tolist() == [1]
    assert ASSIGNMENTS["greedy"](twice, _candidates([3.0, 1.0]), rng)[1].tolist() == [0]  # by score alone
    assert greedy(twice, dataclasses.replace(_candidates([3.0, 1.0]), cost_M=None), rng)[1].tolist() == [0]


def test_per_cost_wraps_the_assignment_of_scored_methods_only():
    assert isinstance(compose("la_bald", per_cost=True).assignment, PerCost)
    assert compose("la_bald", per_cost=True).pruning is None  # the pruning bounds are the score's
    assert compose("la_bald").pruning is not None and not isinstance(compose("la_bald").assignment, PerCost)
    assert not isinstance(compose("ss", per_cost=True).assignment, PerCost)


def test_per_cost_at_equal_prices_asks_what_ranking_by_score_asks(tmp_path):
    _, by_score = _run(tmp_path / "a", ["method=j_bald", "max_steps=3"])
    _, per_cost = _run(tmp_path / "b", ["method=j_bald", "max_steps=3", "acquisition.per_cost=true"])
    np.testing.assert_array_equal(by_score.annotations.worker, per_cost.annotations.worker)
    np.testing.assert_array_equal(by_score.annotations.image, per_cost.annotations.image)


def test_new_keys_at_their_defaults_keep_the_fingerprint_and_off_them_name_the_run(tmp_path):
    base = make_settings(["method=la_bald", "dataset=commodity", "dataset.n_per_class=200"], tmp_path)
    for extra, name in ((["workers.cost_crowd=2"], "+workers.cost_crowd=2"),
                        (["acquisition.per_cost=true"], "+acquisition.per_cost=true"),
                        (["stopping=cost", "stopping.cost_per_image=3"], "+cost=3")):
        other = make_settings(["method=la_bald", "dataset=commodity", "dataset.n_per_class=200", *extra], tmp_path)
        assert fingerprint(other) != fingerprint(base)
        assert name in output_dir(other).parent.name and output_dir(other) != output_dir(base)
    assert "4d4d6452025ca99b" in accepted_fingerprints(base)  # the published runs' checkpoints resume


# --- figures and comparisons over money ----------------------------------------------------------------

X = [0.0, 1.0, 2.0]
Y = [0.5, 0.7, 0.9]


def _priced_runs(tmp_path):
    """Two samplers with the same curve over annotations; `j_bald` pays twice as much for each."""
    for method, price in (("la_bald", 1.0), ("j_bald", 2.0)):
        run = write_run(tmp_path, "a", method, 0, X, Y)
        metrics = pd.read_csv(run / "metrics.csv")
        metrics["cost_per_image"] = price * metrics["annotations_per_image"]
        metrics.to_csv(run / "metrics.csv", index=False)
    return load_runs(tmp_path / "runs")


def test_comparison_over_money_by_hand(tmp_path):
    frame = _priced_runs(tmp_path)
    table = cmp.compare(frame).set_index("measure")["mean"]
    assert table.to_dict() == pytest.approx({"plateau": 0.0, "target": 0.0, "error_area": 0.0, "early_rise": 0.0})
    by_money = cmp.compare(frame, x="cost_per_image").set_index("measure")["mean"]
    # the baseline needs twice the money for every accuracy: 50% less; its mean error over [0, 2] is
    # (0.5 + 0.3) / 2 = 0.4 against (0.5 + 2 x 0.3 + 0.1) / 4 = 0.3
    assert by_money.to_dict() == pytest.approx({"plateau": 50.0, "target": 50.0, "error_area": 25.0,
                                                "early_rise": 50.0})


def test_accuracy_figure_over_money(tmp_path):
    fig = accuracy_figure(_priced_runs(tmp_path), "label_accuracy", x="cost_per_image")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("money per image")
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "j_bald:label")
    assert line.get_xdata()[-1] == pytest.approx(4.0)
    assert np.interp(2.0, line.get_xdata(), line.get_ydata()) == pytest.approx(0.7)


def test_older_runs_have_money_only_at_default_prices(tmp_path, capsys):
    write_run(tmp_path, "a", "la_bald", 0, X, Y)  # no cost column, no prices in its config: 1 an answer
    frame = load_runs(tmp_path / "runs")
    np.testing.assert_array_equal(frame["cost_per_image"], frame["annotations_per_image"])
    priced = write_run(tmp_path, "a", "j_bald", 0, X, Y)
    config = yaml.safe_load((priced / "config.yaml").read_text())
    (priced / "config.yaml").write_text(yaml.safe_dump({**config, "workers": {"cost_expert": 5.0}}))
    cmp.compare(load_runs(tmp_path / "runs"))  # over annotations, as before
    code = figures_main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "fig"), "--x", "cost"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("labald: error:") == 1 and "predate the cost columns" in err
    assert not (tmp_path / "fig").exists()


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["workers.cost_crowd=0"], "workers.cost_crowd=0 is invalid; it must be a number > 0"),
    (["workers.cost_expert=-1"], "workers.cost_expert=-1 is invalid"),
    (["workers.cost_expert=inf"], "workers.cost_expert=inf is invalid"),
    (["stopping=cost", "stopping.cost_per_image=null"], "stopping=cost needs stopping.cost_per_image"),
    (["stopping=cost", "stopping.cost_per_image=0"], "stopping.cost_per_image=0 is invalid"),
    (["acquisition.per_cost=true"], "method=ss has no score"),
])
def test_bad_prices_and_budgets_get_one_line(tmp_path, capsys, args, message):
    results = tmp_path / "results"
    code, err = _main([f"results_dir={results}", "dataset=digits", "learner=none", "max_steps=2", *args], capsys)
    errors = [line for line in err.splitlines() if line.startswith("labald: error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and not results.exists()
