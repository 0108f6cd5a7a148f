"""The `labald` command on CSV files: aggregation quality, valid proposals, a campaign driven through
files matching the in-process loop, and one-line errors on malformed input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from labald.cli import build_parser, main
from labald.errors import LabaldError
from labald.experiment import build_experiment
from labald.loop import advance, initial_state
from labald.workers import build_workers
from tests.helpers import ROOT, make_settings


@pytest.fixture(autouse=True)
def _one_thread():
    """The learner's tiny MLP trains fastest on one thread (the CI box has 2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_answers(path: Path, tasks, workers, labels, rounds=None) -> None:
    table = {"task": tasks, "worker": workers, "label": labels}
    if rounds is not None:
        table["round"] = rounds
    pd.DataFrame(table).to_csv(path, index=False)


def _crowd_answers(rng, n_tasks, n_classes, accuracies, per_task, adversary=None):
    """Each task answered by `per_task` random workers; worker j is right w.p. accuracies[j], else a
    uniformly random wrong class; the adversary answers (y + 1) mod K."""
    truth = rng.integers(n_classes, size=n_tasks)
    rows = []
    for i in range(n_tasks):
        for j in rng.choice(len(accuracies), size=per_task, replace=False):
            if j == adversary:
                z = (truth[i] + 1) % n_classes
            elif rng.random() < accuracies[j]:
                z = truth[i]
            else:
                z = (truth[i] + rng.integers(1, n_classes)) % n_classes
            rows.append((f"t{i}", f"w{j}", f"c{z}"))
    return truth, pd.DataFrame(rows, columns=["task", "worker", "label"])


def _majority_accuracy(answers: pd.DataFrame, truth, rng) -> float:
    correct = []
    for task, group in answers.groupby("task"):
        counts = group["label"].value_counts()
        top = counts[counts == counts.max()].index.tolist()
        correct.append(rng.choice(top) == f"c{truth[int(task[1:])]}")
    return float(np.mean(correct))


def _label_accuracy(labels_csv: Path, truth) -> float:
    out = pd.read_csv(labels_csv, dtype=str)
    return float(np.mean([lab == f"c{truth[int(t[1:])]}" for t, lab in zip(out["task"], out["label"])]))


@pytest.mark.parametrize("adversary", [None, 0])
def test_aggregate_is_at_least_as_accurate_as_majority_vote(tmp_path, adversary):
    rng = np.random.default_rng(5)
    accuracies = np.array([0.6, 0.55, 0.6, 0.65, 0.5, 0.6, 0.55, 0.6])
    truth, answers = _crowd_answers(rng, 400, 4, accuracies, per_task=4, adversary=adversary)
    answers.to_csv(tmp_path / "answers.csv", index=False)
    assert main(["aggregate", "--annotations", str(tmp_path / "answers.csv"), "-o", str(tmp_path / "labels.csv")]) == 0
    em, mv = _label_accuracy(tmp_path / "labels.csv", truth), _majority_accuracy(answers, truth, rng)
    assert em >= mv + (0.1 if adversary is not None else 0.0), (em, mv)
    workers = pd.read_csv(tmp_path / "workers.csv", dtype={"worker": str})
    assert set(workers.columns) == {"worker", "accuracy", "n_answers"}
    assert workers["n_answers"].sum() == len(answers)
    if adversary is not None:  # the adversary is found out: lowest estimated accuracy
        assert workers.sort_values("accuracy")["worker"].iloc[0] == f"w{adversary}"
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert np.allclose(labels["confidence"] + labels["risk"], 1.0) and (labels["confidence"] <= 1).all()


def _digits_campaign_files(tmp_path, settings):
    """The in-process run's pool written as a campaign: feats.npy (pool rows, then prototypes),
    ids.txt, gold.csv (the prototypes), classes.txt, and a roster of every worker."""
    exp = build_experiment(settings)
    pool = exp.pool
    ids = [f"img{i}" for i in range(pool.n_images)] + [f"gold{p}" for p in range(len(pool.prototype_labels))]
    np.save(tmp_path / "feats.npy", np.concatenate([pool.features, pool.prototype_features]))
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    pd.DataFrame({"task": ids[pool.n_images:], "label": pool.prototype_labels}).to_csv(tmp_path / "gold.csv",
                                                                                        index=False)
    (tmp_path / "classes.txt").write_text("\n".join(pool.class_names) + "\n")
    m = exp.workers.n_workers
    pd.DataFrame({"worker": [f"w{j}" for j in range(m)], "capacity": exp.capacity_per_step}).to_csv(
        tmp_path / "roster.csv", index=False)
    return exp


SMALL_DIGITS = ["dataset=digits", "dataset.n_per_class=30", "workers=synthetic", "workers.n_crowd=8",
                "workers.n_expert=2", "batch_size=40", "aggregation.prior_accuracy=0.7", "method=la_bald",
                "learner.max_epochs=10"]


def _propose_args(d: Path, extra=()):
    """One round's `propose`; --force: each round replaces the last round's tasks.csv, as a campaign
    script does. --raw-features: the in-process loop on digits takes the features as they are."""
    return ["propose", "--force", "--annotations", str(d / "answers.csv"), "--features", str(d / "feats.npy"),
            "--ids", str(d / "ids.txt"), "--prototypes", str(d / "gold.csv"), "--classes", str(d / "classes.txt"),
            "--workers", str(d / "roster.csv"), "-B", "40", "--prior-accuracy", "0.7", "--epochs", "10",
            "--raw-features", "-o", str(d / "tasks.csv"), *extra]


def test_a_campaign_through_csv_files_matches_the_in_process_loop(tmp_path):
    rounds = 3
    settings = make_settings(SMALL_DIGITS, tmp_path / "run")
    exp = _digits_campaign_files(tmp_path, settings)
    state = initial_state(exp)
    for _ in range(rounds):
        assert advance(exp, state, "label")
    # The same simulated crowd (same seeds) answers what `labald propose` asks.
    crowd = build_workers(settings.workers, exp.pool, None, settings.seed)
    _write_answers(tmp_path / "answers.csv", [], [], [], [])
    log = pd.read_csv(tmp_path / "answers.csv", dtype=str)
    for r in range(1, rounds + 1):
        assert main(_propose_args(tmp_path)) == 0
        tasks = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
        images = np.array([int(t[3:]) for t in tasks["task"]])
        workers = np.array([int(w[1:]) for w in tasks["worker"]])
        mine = state.annotations.step == r
        np.testing.assert_array_equal(images, state.annotations.image[mine])  # same pairs, same order
        np.testing.assert_array_equal(workers, state.annotations.worker[mine])
        assert (tasks["round"] == str(r)).all()
        answers = crowd.answer(images, workers)
        new = pd.DataFrame({"task": tasks["task"], "worker": tasks["worker"],
                            "label": [exp.pool.class_names[z] for z in answers], "round": tasks["round"]})
        log = pd.concat([log, new], ignore_index=True)
        log.to_csv(tmp_path / "answers.csv", index=False)
    args = ["aggregate", "--annotations", str(tmp_path / "answers.csv"), "--features", str(tmp_path / "feats.npy"),
            "--ids", str(tmp_path / "ids.txt"), "--prototypes", str(tmp_path / "gold.csv"), "--classes",
            str(tmp_path / "classes.txt"), "--prior-accuracy", "0.7", "--epochs", "10", "--refine", "0",
            "--raw-features",
            "-o", str(tmp_path / "l.csv")]
    assert main(args) == 0
    everything = pd.read_csv(tmp_path / "l.csv", dtype=str)
    gold_file = pd.read_csv(tmp_path / "gold.csv", dtype=str)
    gold = everything[everything["gold"] == "true"]  # the gold tasks, with their known labels, after the pool's
    assert list(gold["task"]) == list(gold_file["task"]) and list(gold["label"]) == list(gold_file["label"])
    assert (gold["confidence"].astype(float) == 1.0).all()
    labels = everything[everything["gold"] == "false"]
    assert list(everything["task"]) == list(labels["task"]) + list(gold["task"])
    assert list(labels["task"]) == [f"img{i}" for i in range(exp.pool.n_images)]
    expected = [exp.pool.class_names[k] for k in state.posterior_N_K.argmax(axis=1)]
    assert list(labels["label"]) == expected
    np.testing.assert_allclose(labels["confidence"].astype(float), state.posterior_N_K.max(axis=1), rtol=1e-12)


def test_propose_with_one_coin_skills_and_roster_groups_matches_the_in_process_loop(tmp_path):
    """`--worker-skill one_coin` with a roster `group` column asks what the loop with
    acquisition.worker_skill=one_coin and skill_groups=experts asks (the groups being who is an expert)."""
    rounds = 3
    settings = make_settings([*SMALL_DIGITS, "acquisition.worker_skill=one_coin", "acquisition.skill_groups=experts"],
                             tmp_path / "run")
    exp = _digits_campaign_files(tmp_path, settings)
    roster = pd.read_csv(tmp_path / "roster.csv")
    roster["group"] = np.where(exp.workers.is_expert, "expert", "crowd")
    roster.to_csv(tmp_path / "roster.csv", index=False)
    state = initial_state(exp)
    crowd = build_workers(settings.workers, exp.pool, None, settings.seed)
    _write_answers(tmp_path / "answers.csv", [], [], [], [])
    log = pd.read_csv(tmp_path / "answers.csv", dtype=str)
    for r in range(1, rounds + 1):
        assert advance(exp, state, "label")
        assert main(_propose_args(tmp_path, ["--worker-skill", "one_coin"])) == 0
        tasks = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
        images = np.array([int(t[3:]) for t in tasks["task"]])
        workers = np.array([int(w[1:]) for w in tasks["worker"]])
        mine = state.annotations.step == r
        np.testing.assert_array_equal(images, state.annotations.image[mine])
        np.testing.assert_array_equal(workers, state.annotations.worker[mine])
        answers = crowd.answer(images, workers)
        new = pd.DataFrame({"task": tasks["task"], "worker": tasks["worker"],
                            "label": [exp.pool.class_names[z] for z in answers], "round": tasks["round"]})
        log = pd.concat([log, new], ignore_index=True)
        log.to_csv(tmp_path / "answers.csv", index=False)
    # and the groups matter: without them (one prior for the crew) the next batch differs
    assert main(_propose_args(tmp_path, ["--worker-skill", "one_coin"])) == 0
    grouped = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
    roster.drop(columns="group").to_csv(tmp_path / "roster.csv", index=False)
    assert main(_propose_args(tmp_path, ["--worker-skill", "one_coin"])) == 0
    crew = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
    assert set(zip(grouped["task"], grouped["worker"])) != set(zip(crew["task"], crew["worker"]))


def test_aggregate_with_features_uses_the_learner_to_label_better(tmp_path, capsys):
    settings = make_settings(SMALL_DIGITS, tmp_path / "run")
    exp = _digits_campaign_files(tmp_path, settings)
    rng = np.random.default_rng(3)
    truth = exp.pool.labels
    right = rng.random(len(truth)) < 0.55  # one answer per image from a noisy crowd
    answers = np.where(right, truth, (truth + rng.integers(1, 10, size=len(truth))) % 10)
    workers = rng.integers(10, size=len(truth))
    _write_answers(tmp_path / "answers.csv", [f"img{i}" for i in range(len(truth))], [f"w{j}" for j in workers],
                   answers)
    common = ["aggregate", "--annotations", str(tmp_path / "answers.csv"), "--classes", str(tmp_path / "classes.txt")]
    (tmp_path / "plain").mkdir()
    assert main([*common, "-o", str(tmp_path / "plain" / "labels.csv")]) == 0
    assert main([*common, "--features", str(tmp_path / "feats.npy"), "--ids", str(tmp_path / "ids.txt"),
                 "--prototypes", str(tmp_path / "gold.csv"), "-o", str(tmp_path / "labels.csv")]) == 0
    assert "with the learner as prior" in capsys.readouterr().out

    def accuracy(path):
        out = pd.read_csv(path, dtype=str)
        out = out[out["gold"] == "false"]  # the pool's tasks, not the gold ones
        return float(np.mean(out["label"].to_numpy() == np.array([str(truth[int(t[3:])]) for t in out["task"]])))

    plain, learned = accuracy(tmp_path / "plain" / "labels.csv"), accuracy(tmp_path / "labels.csv")
    assert plain < 0.65 and learned > plain + 0.2, (plain, learned)


OWN_SAMPLER = "examples.samplers.uncertainty:UncertaintySampler"


@pytest.mark.parametrize("choice", [["--method", "la_bald"], ["--method", "ss"], ["--method", "elr"],
                                    ["--sampler", OWN_SAMPLER]], ids=lambda choice: choice[-1].split(":")[-1])
def test_propose_returns_valid_new_pairs_within_capacities_and_caps(tmp_path, capsys, choice):
    settings = make_settings(SMALL_DIGITS, tmp_path / "run")
    exp = _digits_campaign_files(tmp_path, settings)
    rng = np.random.default_rng(0)
    n, m = exp.pool.n_images, exp.workers.n_workers
    rows = [(f"img{i}", f"w{j}", str(rng.integers(10)))
            for i in range(0, n, 2) for j in rng.choice(m, size=rng.integers(1, 4), replace=False)]
    rows += [("img1", "outsider", "3")]  # a worker who is not on the roster
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    answers.to_csv(tmp_path / "answers.csv", index=False)
    capacity = {f"w{j}": c for j, c in enumerate([0, 1, 2, 3, 5, 0, 9, 9, 1, 2])}
    pd.DataFrame({"worker": list(capacity), "capacity": list(capacity.values())}).to_csv(
        tmp_path / "roster.csv", index=False)
    assert main(_propose_args(tmp_path, choice)) == 0
    tasks = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
    assert 0 < len(tasks) <= 40 and tasks["task"].is_unique
    assert set(tasks["task"]) <= {f"img{i}" for i in range(n)}  # pool tasks, never gold
    asked = set(zip(answers["task"], answers["worker"]))
    assert not asked & set(zip(tasks["task"], tasks["worker"]))
    per_task = answers["task"].value_counts()
    assert all(per_task.get(t, 0) < 3 for t in tasks["task"])
    used = tasks["worker"].value_counts()
    assert all(w in capacity and used[w] <= capacity[w] for w in used.index)
    assert np.isfinite(tasks["score"].astype(float)).all()
    assert "proposed" in capsys.readouterr().out


def test_propose_takes_every_method_of_the_simulator_but_the_oracle():
    """Each configs/method/*.yaml is a --method, but the oracle and `custom` (that is --sampler)."""
    names = {path.stem for path in (ROOT / "configs" / "method").glob("*.yaml")}
    assert {"ss", "la_bald", "elr", "power_bald"} <= names
    propose = ["propose", "--annotations", "a.csv", "--features", "f.npy", "--ids", "i.txt", "--workers", "r.csv",
               "-o", "t.csv"]
    for name in sorted(names - {"oracle", "custom"}):
        assert build_parser().parse_args([*propose, "--method", name]).method == name


@pytest.mark.parametrize("extra, expected", [
    (["--method", "oracle"], "oracle ranks pairs by the true labels and the workers' true skills, which only a "
                             "simulation knows; a campaign has neither"),
    (["--sampler", "nosuch:Thing"], "method.sampler=nosuch:Thing: cannot import nosuch"),
    (["--sampler", "examples.samplers.uncertainty:Nope"], "examples.samplers.uncertainty has no class Nope"),
    (["--method", "ss", "--sampler", OWN_SAMPLER], "argument --sampler: not allowed with argument --method"),
    (["--sampler", OWN_SAMPLER, "--worker-skill", "one_coin"], "a --sampler of your own reads EM's itself"),
], ids=["oracle", "no module", "no class", "method and sampler", "sampler and worker skill"])
def test_a_sampler_propose_cannot_use_gets_one_line_exit_2_and_nothing_written(tmp_path, capsys, extra, expected):
    files = _valid_files(tmp_path)
    (tmp_path / "out").mkdir()
    args = ["propose", "--annotations", str(files["answers"]), "--features", str(files["features"]),
            "--ids", str(files["ids"]), "--workers", str(files["roster"]), "-B", "2",
            "-o", str(tmp_path / "out" / "tasks.csv"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labald: error: ") and expected in err[0], err
    assert list((tmp_path / "out").iterdir()) == []


def test_propose_says_done_and_exits_0_when_the_stopping_rule_fires(tmp_path, capsys):
    settings = make_settings(SMALL_DIGITS, tmp_path / "run")
    exp = _digits_campaign_files(tmp_path, settings)
    rows = [(f"img{i}", f"w{j}", str(exp.pool.labels[i])) for i in range(exp.pool.n_images) for j in range(3)]
    pd.DataFrame(rows, columns=["task", "worker", "label"]).to_csv(tmp_path / "answers.csv", index=False)
    assert main(_propose_args(tmp_path, ["--no-learner"])) == 0
    assert "campaign is done" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "tasks.csv")) == 0


def _valid_files(d: Path) -> dict[str, Path]:
    np.save(d / "f.npy", np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))
    (d / "ids.txt").write_text("a\nb\nc\nd\ne\ng\n")
    (d / "answers.csv").write_text("task,worker,label\na,1,x\na,2,y\nb,1,y\nc,2,x\n")
    (d / "roster.csv").write_text("worker,capacity\n1,5\n2,5\n")
    return {"answers": d / "answers.csv", "features": d / "f.npy", "ids": d / "ids.txt", "roster": d / "roster.csv"}


def _label_outside_classes(d):
    (d / "classes.txt").write_text("x\ny\n")
    (d / "answers.csv").write_text("task,worker,label\na,1,x\nb,1,q\n")


def _nan_features(d):
    x = np.ones((6, 3), dtype=np.float32)
    x[2, 1] = np.nan
    np.save(d / "f.npy", x)


MALFORMED = {
    "missing column": (lambda d: (d / "answers.csv").write_text("task,worker\na,1\n"), "lacks column(s) label"),
    "empty file": (lambda d: (d / "answers.csv").write_text(""), "is empty"),
    "unknown task": (lambda d: (d / "answers.csv").write_text("task,worker,label\nzz,1,x\na,1,y\n"), "'zz'"),
    "duplicate answer": (lambda d: (d / "answers.csv").write_text("task,worker,label\na,1,x\na,1,y\n"), "twice"),
    "label outside classes": (_label_outside_classes, "'q'"),
    "count mismatch": (lambda d: (d / "ids.txt").write_text("a\nb\nc\n"), "match row for row"),
    "nan features": (_nan_features, "NaN"),
    "roster capacity": (lambda d: (d / "roster.csv").write_text("worker,capacity\n1,-2\n"), "capacity"),
    "roster blank group": (lambda d: (d / "roster.csv").write_text("worker,capacity,group\n1,5,expert\n2,5,\n"),
                           "no group on line 3"),
    "bad option": (None, "-B"),
    "one class": (lambda d: (d / "answers.csv").write_text("task,worker,label\na,1,x\nb,2,x\n"), "only one class"),
    "output under a file": (lambda d: (d / "out").write_text("not a folder\n"), "which is a file"),
}


@pytest.mark.parametrize("command, case", [(command, case) for command in ("aggregate", "propose")
                                           for case in sorted(MALFORMED)
                                           if not (command == "aggregate" and case.startswith("roster"))])
def test_malformed_input_gets_one_line_exit_2_and_nothing_written(tmp_path, capsys, case, command):
    files = _valid_files(tmp_path)
    breaker, expected = MALFORMED[case]
    if case != "output under a file":
        (tmp_path / "out").mkdir()
    if breaker is not None:
        breaker(tmp_path)
    out = tmp_path / "out" / "result.csv"
    args = [command, "--annotations", str(files["answers"]), "--features", str(files["features"]),
            "--ids", str(files["ids"]), "-o", str(out)]
    if (tmp_path / "classes.txt").exists():
        args += ["--classes", str(tmp_path / "classes.txt")]
    if command == "propose":
        args += ["--workers", str(files["roster"]), "-B", "0" if case == "bad option" else "2"]
    elif case == "bad option":
        args += ["--refine", "-1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labald: error: "), err
    if case != "bad option":
        assert expected in err[0], err[0]
    if case == "output under a file":
        assert (tmp_path / "out").read_text() == "not a folder\n"
    else:
        assert list((tmp_path / "out").iterdir()) == []


def test_debug_shows_the_traceback_instead(tmp_path):
    with pytest.raises(LabaldError, match="does not exist"):
        main(["aggregate", "--annotations", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "l.csv"), "--debug"])


def test_console_command_reports_one_line_without_traceback(tmp_path):
    labald = Path(sys.executable).parent / "labald"
    done = subprocess.run([str(labald), "aggregate", "--annotations", str(tmp_path / "missing.csv"), "-o",
                           str(tmp_path / "l.csv")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"labald: error: annotations file {tmp_path / 'missing.csv'} does not exist; "
        "give the path of an existing CSV file"]


def test_worker_skill_needs_a_method_with_a_score(tmp_path, capsys):
    files = _valid_files(tmp_path)
    args = ["propose", "--annotations", str(files["answers"]), "--features", str(files["features"]),
            "--ids", str(files["ids"]), "--workers", str(files["roster"]), "-B", "2", "--method", "ss",
            "--worker-skill", "one_coin", "-o", str(tmp_path / "tasks.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["labald: error: --worker-skill one_coin changes a pair score's worker confusions; "
                   "--method ss has no score"]
    assert not (tmp_path / "out").exists()


def test_existing_outputs_are_never_silently_replaced(tmp_path, capsys):
    """`aggregate` writes workers.csv beside -o: an existing roster there is refused without --force,
    as is an existing -o; nothing is written by a refused command."""
    files = _valid_files(tmp_path)
    roster = "worker,capacity\n1,5\n2,5\n"
    (tmp_path / "workers.csv").write_text(roster)
    args = ["aggregate", "--annotations", str(files["answers"]), "--no-learner", "-o", str(tmp_path / "labels.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"labald: error: output {tmp_path / 'workers.csv'} exists; pass --force to replace it, "
                   "or choose another path"]
    assert (tmp_path / "workers.csv").read_text() == roster and not (tmp_path / "labels.csv").exists()
    assert main([*args, "--force"]) == 0
    assert (tmp_path / "workers.csv").read_text().startswith("worker,accuracy,n_answers")
    (tmp_path / "tasks.csv").write_text("mine\n")
    propose = ["propose", "--annotations", str(files["answers"]), "--features", str(files["features"]),
               "--ids", str(files["ids"]), "--workers", str(files["roster"]), "-B", "2", "-o",
               str(tmp_path / "tasks.csv")]
    assert main(propose) == 2 and "tasks.csv exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "tasks.csv").read_text() == "mine\n"


def test_output_into_a_missing_folder_is_refused(tmp_path, capsys):
    files = _valid_files(tmp_path)
    out = tmp_path / "no" / "such" / "labels.csv"
    assert main(["aggregate", "--annotations", str(files["answers"]), "--no-learner", "-o", str(out)]) == 2
    assert f"folder {out.parent} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_outputs_honour_the_umask(tmp_path):
    files = _valid_files(tmp_path)
    old = os.umask(0o022)
    try:
        assert main(["aggregate", "--annotations", str(files["answers"]), "--no-learner",
                     "-o", str(tmp_path / "labels.csv")]) == 0
    finally:
        os.umask(old)
    for name in ("labels.csv", "workers.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
