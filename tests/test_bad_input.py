"""Bad input, table-driven: each case exits 2 with one `labald: error:` line naming the
problem, no traceback, and writes or overwrites nothing. Runs `run.main()` in-process (the same
code path as the command line; tests/test_run.py also drives a few through a real subprocess)."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pandas as pd
import pytest

from labald.cli import run

DIGITS = ["dataset=digits", "learner=none", "max_steps=2"]


def _files(tmp_path):
    """Feature and label files for the file cases."""
    good_x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    names = ["a"] * 30 + ["b"] * 30
    np.save(tmp_path / "good.npy", good_x)
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "short_labels.txt").write_text("\n".join(names[:-5]) + "\n")
    (tmp_path / "empty_labels.txt").write_text("\n")
    bad = good_x.copy()
    bad[4, 2] = np.inf
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "garbage.npy").write_bytes(b"\x00\x01 not numpy")
    np.save(tmp_path / "strings.npy", np.array([["x", "y"]] * 60))
    (tmp_path / "one_class_labels.txt").write_text("a\n" * 60)
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "folder_amt" / "group_workers.json").mkdir(parents=True)
    amt_dir = tmp_path / "corrupt_amt"
    amt_dir.mkdir()
    (amt_dir / "group_workers.json").write_text('{"imagenet100": ["n01"], "group_workers": {"0": [[[1')
    for name, text in (("list_amt", "[]"), ("strings_amt", '{"imagenet100": "n01", "group_workers": []}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "group_workers.json").write_text(text)  # valid JSON of the wrong shape
    wrong_dir = tmp_path / "wrong_amt"
    wrong_dir.mkdir()
    (wrong_dir / "group_workers.json").write_text(json.dumps(
        {"imagenet100": ["n01", "n02"], "group_workers": {"0": [[[1, 2, 3]]]}, "total_cm": [[0, 0], [0, 0]]}))


def _custom(tmp_path, features="good.npy", labels="labels.txt"):
    return ["dataset=custom", f"dataset.features_path={tmp_path / features}",
            f"dataset.labels_path={tmp_path / labels}", "dataset.n_prototypes=4", "learner=none",
            "workers=synthetic"]


CASES = {
    # config values
    "negative batch": (["batch_size=-5"], "batch_size=-5 is invalid"),
    "zero batch": (["batch_size=0"], "batch_size=0 is invalid"),
    "text batch": (["batch_size=abc"], "batch_size='abc' is invalid"),
    "cap zero": (["max_per_image=0"], "max_per_image=0 is invalid"),
    "confidence above 1": (["confidence=1.5"], "confidence=1.5"),
    "confidence zero": (["confidence=0"], "confidence=0"),
    "negative seed": (["seed=-1"], "seed=-1 is invalid"),
    "negative replicate": (["replicate=-1"], "replicate=-1 is invalid"),
    "zero steps": (["max_steps=0"], "max_steps=0 is invalid"),
    "zero threads": (["threads=0"], "threads=0 is invalid"),
    "unknown device": (["device=tpu"], "device='tpu' is unknown"),
    "dropout one": (lambda t: ["dataset=digits", "learner.dropout=1.0"], "learner.dropout must be in [0, 1)"),
    "no mc samples": (lambda t: ["dataset=digits", "learner.mc_samples=0"], "learner.mc_samples must be >= 1"),
    "no folds": (lambda t: ["dataset=digits", "learner.cross_fit=0"], "learner.cross_fit must be >= 1"),
    "unknown calibration": (lambda t: ["dataset=digits", "learner.calibrate=dropout"],
                            "learner.calibrate='dropout' is unknown"),
    "unknown keep-best": (lambda t: ["dataset=digits", "learner.keep_best=loss"],
                          "learner.keep_best='loss' is unknown"),
    "unknown prototype use": (lambda t: ["dataset=digits", "learner.prototypes=all"],
                              "learner.prototypes='all' is unknown"),
    "balanced not a bool": (lambda t: ["dataset=digits", "learner.balanced=maybe"], "learner.balanced must be true"),
    "negative min updates": (lambda t: ["dataset=digits", "learner.min_updates=-1"],
                             "learner.min_updates must be >= 0"),
    "cold start growth not above 1": (lambda t: ["dataset=digits", "learner.cold_start_growth=0.5"],
                                      "learner.cold_start_growth must be > 1"),
    "negative cold start updates": (lambda t: ["dataset=digits", "learner.cold_start_updates=-5"],
                                    "learner.cold_start_updates must be >= 0"),
    "reinfer not a bool": (lambda t: ["dataset=digits", "aggregation.reinfer=sometimes"],
                           "aggregation.reinfer='sometimes' is invalid"),
    "zero lr": (lambda t: ["dataset=digits", "learner.lr=0"], "learner.lr must be > 0"),
    "unknown assignment": (lambda t: ["dataset=digits", "acquisition.assignment=best"],
                           "acquisition.assignment='best' is unknown"),
    "unknown worker skill": (lambda t: ["dataset=digits", "acquisition.worker_skill=best"],
                             "acquisition.worker_skill='best' is unknown"),
    "skill groups without one_coin": (["dataset=digits", "acquisition.skill_groups=experts"],
                                      "acquisition.skill_groups=experts needs acquisition.worker_skill=one_coin"),
    "unknown skill groups": (["dataset=digits", "acquisition.worker_skill=one_coin", "acquisition.skill_groups=teams"],
                             "acquisition.skill_groups='teams' is unknown"),
    "key of a disabled learner": (["learner.dropout=0.5"], "learner.dropout is not a config key"),
    "negative crowd": (["workers.n_crowd=-1"], "workers.n_crowd=-1"),
    "no workers": (["workers.n_crowd=0", "workers.n_expert=0"], "at least one worker"),
    "unknown worker source": (["workers.source=mturk"], "workers.source='mturk' is unknown"),
    "unknown method": (["method=magic"], "method=magic is unknown"),
    "unknown dataset": (["dataset=no_such_dataset"], "dataset=no_such_dataset is unknown"),
    "unknown stopping": (["stopping=forever"], "stopping=forever is unknown"),
    "unknown learner": (["learner=cnn"], "learner=cnn is unknown"),
    "budget over cap": (["stopping=budget", "stopping.annotations_per_image=5"], "exceeds max_per_image"),
    "unknown local form": (["acquisition.local=approx"], "acquisition.local='approx' is unknown"),
    "negative power_beta": (["method=power_bald", "acquisition.power_beta=-1"],
                            "acquisition.power_beta=-1 is invalid; it must be a number >= 0.0"),
    "negative prior strength": (["aggregation.prior_strength=-1"], "aggregation.prior_strength=-1"),
    "imbalance below one": (["dataset.imbalance_ratio=0.5"], "dataset.imbalance_ratio=0.5"),
    "one prototype": (["dataset.n_prototypes=1"], "dataset.n_prototypes=1"),
    "unknown key": (["no_such_key=3"], "no_such_key is not a config key"),
    "unknown group key": (["workers.n_crowds=3"], "workers.n_crowds is not a config key; did you mean workers.n_crowd"),
    "misspelt key with +": (["+methd=la_bald"], "methd is not a config key; did you mean method?"),
    "misspelt key": (["methd=la_bald"], "methd is not a config key; did you mean method?"),
    "misspelt group key with +": (["+workers.n_crowds=3"], "did you mean workers.n_crowd?"),
    "key of a group option that lacks it, with +": (["+method.local=exact"], "method.local is not a config key"),
    "learner key with learner=none, with +": (["learner=none", "+learner.dropout=0.5"],
                                              "learner.dropout is set but learner=none"),
    "misspelt group option": (["method=la_bal"], "did you mean method=la_bald? choose one of:"),
    "misspelt cap value": (["workers.per_worker_per_step=nonee"],
                           "it must be an integer >= 1, null (ceil(2B/M), the default) or none (no per-step cap)"),
    "bad sweep value": (["-m", "seed=0,1", "confidence=2"], "confidence=2"),
    # files
    "custom without files": (["dataset=custom"], "features_path"),
    "missing features": (lambda t: _custom(t, features="absent.npy"), "does not exist"),
    "features path is a folder": (lambda t: _custom(t, features="folder_amt"), "is a folder"),
    "labels path is a folder": (lambda t: _custom(t, labels="folder_amt"), "dataset.labels_path="),
    "answer log is a folder": (lambda t: [*_custom(t), "dataset=replay", f"dataset.answers_path={t / 'folder_amt'}"],
                               "dataset.answers_path="),
    "garbage features": (lambda t: _custom(t, features="garbage.npy"), "not a readable .npy"),
    "text features": (lambda t: _custom(t, features="strings.npy"), "numeric N x D"),
    "infinite features": (lambda t: _custom(t, features="nan.npy"), "NaN or infinite values in 1 rows"),
    "count mismatch": (lambda t: _custom(t, labels="short_labels.txt"), "must match row for row"),
    "empty labels": (lambda t: _custom(t, labels="empty_labels.txt"), "is empty"),
    "wnids absent from worker data": (
        lambda t: ["dataset=commodity", "dataset.wnids=[n99999999,n04517823]", "dataset.n_per_class=20",
                   "learner=none"],
        "absent from the worker data"),
    "corrupt AMT file": (lambda t: DIGITS[:0] + ["dataset=commodity", "dataset.n_per_class=20",
                                                  f"data_dir={t / 'corrupt_amt'}"], "is corrupt"),
    "AMT file is a folder": (lambda t: ["dataset=commodity", "dataset.n_per_class=20",
                                        f"data_dir={t / 'folder_amt'}"], "is a folder"),
    "data_dir is a file": (lambda t: ["dataset=commodity", "dataset.n_per_class=20", f"data_dir={t / 'a_file'}"],
                           "is a file; give the folder"),
    "one-class labels file": (lambda t: _custom(t, labels="one_class_labels.txt"), "only one class"),
    "empty class list": (["dataset.wnids=[]"], "names no class"),
    "one wnid": (lambda t: ["dataset=commodity", "dataset.wnids=[n04517823]"], "only one class"),
    "a wnid twice": (lambda t: ["dataset=commodity", "dataset.wnids=[n04517823,n03062245,n04517823]"], "twice"),
    "results_dir under a file": (lambda t: [*DIGITS, f"results_dir={t / 'a_file' / 'results'}"], "which is a file"),
    "run_dir under a file": (lambda t: [*DIGITS, f"run_dir={t / 'a_file' / 'run'}"], "which is a file"),
    "run_dir is a file": (lambda t: [*DIGITS, f"run_dir={t / 'a_file'}"], "is a file, not a folder"),
    "AMT file of the wrong shape": (lambda t: ["dataset=commodity", "dataset.n_per_class=20",
                                               f"data_dir={t / 'wrong_amt'}"], "is corrupt"),
    "AMT file that is a JSON list": (lambda t: ["dataset=commodity", "dataset.n_per_class=20",
                                                f"data_dir={t / 'list_amt'}"], "not an object"),
    "AMT file with lists where objects belong": (lambda t: ["dataset=commodity", "dataset.n_per_class=20",
                                                            f"data_dir={t / 'strings_amt'}"], "is corrupt"),
}


def _main(argv, capsys):
    old = sys.argv
    sys.argv = ["run.py", *argv]
    code = 0
    try:
        run.main()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


def _snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    _files(tmp_path)
    args, message = CASES[case]
    args = args(tmp_path) if callable(args) else [*DIGITS, *args]
    results = tmp_path / "results"
    code, err = _main([f"results_dir={results}", *args], capsys)
    errors = [line for line in err.splitlines() if line.startswith("labald: error:")]
    assert code == 2, err
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
    assert not results.exists(), "a failed run must not write results"


def _finished_run(tmp_path, capsys):
    results = tmp_path / "results"
    code, err = _main([f"results_dir={results}", *DIGITS, "max_steps=3"], capsys)
    assert code == 0, err
    return results


def _run_once_then(tmp_path, capsys, extra):
    results = _finished_run(tmp_path, capsys)
    before = _snapshot(results)
    return results, before, _main([f"results_dir={results}", *DIGITS, "max_steps=3", *extra], capsys)


def test_checkpoint_of_another_config_is_refused_and_left_alone(tmp_path, capsys):
    """Another config names another directory; pointed at the old one with run_dir, it is refused."""
    results = _finished_run(tmp_path, capsys)
    (run,) = {p.parent for p in results.rglob("checkpoint.pt")}
    before = _snapshot(results)
    code, err = _main([f"results_dir={results}", *DIGITS, "max_steps=3", "aggregation.tol=0.01", f"run_dir='{run}'"],
                      capsys)
    assert code == 2 and "different config" in err and "resume=false" in err
    assert _snapshot(results) == before


def test_corrupt_checkpoint_is_refused_and_left_alone(tmp_path, capsys):
    results = _finished_run(tmp_path, capsys)
    ckpt = next(results.rglob("checkpoint.pt"))
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    before = _snapshot(results)
    code, err = _main([f"results_dir={results}", *DIGITS, "max_steps=3"], capsys)
    assert code == 2 and "checkpoint" in err and "corrupt" in err
    assert _snapshot(results) == before


def test_resume_false_starts_over(tmp_path, capsys):
    results, before, (code, err) = _run_once_then(tmp_path, capsys, ["aggregation.max_iter=1", "resume=false"])
    assert code == 0, err
    old = pd.read_csv(io.BytesIO(next(v for k, v in before.items() if k.name == "metrics.csv")))
    assert (old["em_iterations"] > 1).any()
    metrics = pd.read_csv(next(results.rglob("metrics.csv")))
    assert len(metrics) == 4 and (metrics["em_iterations"] <= 1).all()  # the new config's run, from step 0


def test_a_failing_sweep_job_leaves_the_others_intact(tmp_path, capsys):
    _files(tmp_path)
    results = tmp_path / "results"
    code, err = _main([f"results_dir={results}", "-m", "dataset=custom", "learner=none", "max_steps=2",
                       "workers=synthetic", "dataset.n_prototypes=4", f"dataset.labels_path={tmp_path / 'labels.txt'}",
                       f"dataset.features_path={tmp_path / 'nan.npy'},{tmp_path / 'good.npy'}"], capsys)
    assert code == 2
    assert err.count("NaN or infinite") == 1 and "1 job(s) failed" in err  # printed by the job, not repeated
    (metrics,) = (results / "runs" / "custom").glob("ss+learner=none+workers=synthetic+*/seed=0/metrics.csv")
    assert len(metrics.read_text().splitlines()) == 4  # header + steps 0..2 of the good job
