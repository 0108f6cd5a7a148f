"""End-to-end runs through the same config path as the CLI, and the CLI's handling of bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from labald.identity import output_dir
from labald.metrics import TIMING_COLUMNS
from labald.runner import run_experiment
from tests.helpers import CONFIG_DIR, ROOT, compose_config, make_settings, shared_data


def _run(tmp_path, overrides):
    settings = make_settings(overrides, tmp_path)
    summary = run_experiment(settings, progress=False)
    return settings, summary, pd.read_csv(output_dir(settings) / "metrics.csv")


def test_ss_on_digits_labels_the_pool_within_the_constraints(tmp_path):
    settings, summary, m = _run(tmp_path, ["dataset=digits", "method=ss", "learner=none"])
    out = tmp_path / "runs" / "digits" / "ss+learner=none" / "seed=0"
    assert output_dir(settings) == out
    for name in ("metrics.csv", "config.yaml", "summary.json", "checkpoint.pt"):
        assert (out / name).is_file()
    assert m["label_accuracy"].iloc[-1] > 0.8
    assert m["label_accuracy"].iloc[-1] > m["label_accuracy"].iloc[0] + 0.5
    assert "paper's rule" in summary["stop_reason"] and m["n_eligible"].iloc[-1] < 10
    assert (m["n_annotations"].diff().dropna() <= 100).all()
    import torch

    ann = torch.load(out / "checkpoint.pt", weights_only=False)["annotations"]
    per_image = np.bincount(ann["image"])
    assert per_image.max() <= 3
    pairs = set(zip(ann["image"].tolist(), ann["worker"].tolist()))
    assert len(pairs) == len(ann["image"]), "an image-worker pair repeated"
    assert set(m.columns) >= {"step", "phase", "n_annotations", "annotations_per_image", "label_accuracy",
                              "n_confident", "n_eligible", "em_iterations", "seconds_em"}


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    cols = lambda m: m.drop(columns=list(TIMING_COLUMNS))  # noqa: E731
    _, _, a = _run(tmp_path / "a", ["dataset=digits", "learner=none", "max_steps=6"])
    _, _, b = _run(tmp_path / "b", ["dataset=digits", "learner=none", "max_steps=6"])
    _, _, c = _run(tmp_path / "c", ["dataset=digits", "learner=none", "max_steps=6", "seed=1"])
    pd.testing.assert_frame_equal(cols(a), cols(b))
    assert not cols(a).equals(cols(c))


def test_resume_continues_to_the_same_end(tmp_path):
    full_settings, _, full = _run(tmp_path / "full", ["dataset=digits", "learner=none", "max_steps=8"])
    _run(tmp_path / "cut", ["dataset=digits", "learner=none", "max_steps=3"])
    _, _, resumed = _run(tmp_path / "cut", ["dataset=digits", "learner=none", "max_steps=8"])
    cols = [c for c in full.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(full[cols], resumed[cols])


@pytest.mark.parametrize("group", ["dataset", "workers", "method", "stopping", "learner"])
def test_every_config_option_composes_and_validates(group, tmp_path):
    from labald.errors import LabaldError

    for option in sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_")):
        if group == "method" and option == "custom":  # a sampler you bring: its class is required
            with pytest.raises(LabaldError, match="method.sampler=module:Class"):
                make_settings([f"{group}={option}"], tmp_path)
            continue
        if option == "custom":
            with pytest.raises(LabaldError, match="features_path"):
                from labald.data import load_pool

                load_pool(make_settings([f"{group}={option}"], tmp_path).dataset, None, 0)
            continue
        if option == "folder":  # your own images: the folder is required
            with pytest.raises(LabaldError, match="dataset.root=DIR"):
                make_settings([f"{group}={option}"], tmp_path)
            continue
        if option == "labelme":  # LabelMe's files are read from a folder, its crowd is for its images only
            with pytest.raises(LabaldError, match="make data-labelme" if group == "dataset" else "dataset=labelme"):
                make_settings([f"{group}={option}", f"data_dir={tmp_path / 'no-data'}"], tmp_path)
            folder = shared_data("labelme")
            if folder is not None:
                assert make_settings(["dataset=labelme", f"{group}={option}", f"dataset.root={folder}"], tmp_path)
            continue
        settings = make_settings([f"{group}={option}"], tmp_path)
        assert settings is not None


def test_help_lists_every_option_of_each_group_and_nothing_else():
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line and "," in line)
    for group in ("dataset", "method", "learner", "stopping", "workers"):
        options = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        assert listed[group].split(", ") == options, group
    groups, config = proc.stdout.split("== Every key with its default")
    assert "dog" in listed["dataset"] and "sandbox" not in groups
    assert "  n_crowd: 50" in config and "confidence: 0.9" in config and "batch_size: 100" in config
    assert "python run.py method=la_bald dataset=commodity" in config and "python run.py -m" in config


def test_config_defaults_follow_the_paper():
    cfg = compose_config([])
    assert cfg["batch_size"] == 100 and cfg["max_per_image"] == 3 and cfg["confidence"] == 0.9
    assert cfg["workers"]["n_crowd"] == 50 and cfg["workers"]["n_expert"] == 10
    assert cfg["aggregation"]["prior_strength"] == 1 and cfg["aggregation"]["max_iter"] == 10
    assert cfg["learner"]["mc_samples"] == 100 and cfg["learner"]["dropout"] == 0.3
    assert cfg["stopping"]["name"] == "unconfident" and cfg["dataset"]["n_prototypes"] == 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset=no_such_dataset"], "dataset=no_such_dataset is unknown"),
        (["batch_size=-5"], "batch_size=-5 is invalid"),
        (["method=magic"], "method=magic is unknown"),
        (["learner.dropout=1.5"], "dropout"),
        (["no_such_key=3"], "no_such_key"),
        (["-m", "seed=0,1", "confidence=2"], "confidence=2"),
    ],
)
def test_bad_command_line_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), f"results_dir={tmp_path / 'results'}", *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_runs_of_different_settings_get_their_own_directories(tmp_path):
    paper = output_dir(make_settings(["method=la_bald"], tmp_path))
    assert paper == tmp_path / "runs" / "commodity" / "la_bald" / "seed=0"
    variants = [
        ["method=la_bald", "stopping=budget"],
        ["method=la_bald", "dataset.imbalance_ratio=10"],
        ["method=la_bald", "acquisition.local=exact"],
        ["method=la_bald", "learner=none"],
        ["method=la_bald", "stopping=budget", "stopping.annotations_per_image=3"],
        ["method=la_bald", "seed=1"],
        ["method=j_bald"],
    ]
    dirs = {output_dir(make_settings(v, tmp_path)) for v in variants}
    assert len(dirs) == len(variants) and paper not in dirs
    assert output_dir(make_settings(["method=la_bald", "stopping=budget"], tmp_path)).parent.name == (
        "la_bald+budget=2")
    # the local form only names joint methods' runs; SS ignores it
    assert output_dir(make_settings(["acquisition.local=exact"], tmp_path)).parent.name == "ss"


def test_a_submitit_sweep_writes_every_run_and_reports_a_failing_job(tmp_path):
    """hydra/launcher=submitit_local runs jobs through the same submitit machinery as submitit_slurm,
    with the keys docs/design.md's cluster example uses (timeout_min, cpus_per_task, mem_gb)."""
    good = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    bad = good.copy()
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "labels.txt").write_text("a\n" * 30 + "b\n" * 30)
    results = tmp_path / "results"
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
                "hydra.launcher.mem_gb=2"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", *launcher, f"results_dir={results}", "dataset=digits",
         "learner=none", "max_steps=2", "seed=0,1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for seed in (0, 1):
        run = results / "runs" / "digits" / "ss+learner=none" / f"seed={seed}"
        assert pd.read_csv(run / "metrics.csv")["step"].tolist() == [0, 1, 2]
        assert json.loads((run / "summary.json").read_text())["threads"] == 1  # its cpus_per_task
    # two jobs at once, one failing (custom features with a NaN; digits ignores the features file);
    # distinct datasets, so the jobs never share a run directory whatever order they run in
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", *launcher, f"results_dir={results}", "dataset=digits,custom",
         "seed=5", "learner=none", "max_steps=2", "workers=synthetic", "dataset.n_prototypes=4",
         f"dataset.labels_path={tmp_path / 'labels.txt'}", f"dataset.features_path={tmp_path / 'nan.npy'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("NaN or infinite") == 1, proc.stderr  # the job's log is elsewhere: repeated once
    assert "1 job(s) failed" in proc.stderr and "Traceback" not in proc.stderr
    (good,) = (results / "runs" / "digits").glob("ss+learner=none+*/seed=5/metrics.csv")
    assert len(good.read_text().splitlines()) == 4 and not (results / "runs" / "custom").exists()


def test_a_joblib_sweep_job_gets_its_share_of_the_cores_and_a_setting_wins(tmp_path):
    from labald.threads import threads_per_job

    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         f"results_dir={results}", "dataset=digits", "learner=none", "max_steps=1", "seed=0,1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for seed in (0, 1):
        run = results / "runs" / "digits" / "ss+learner=none" / f"seed={seed}"
        assert json.loads((run / "summary.json").read_text())["threads"] == threads_per_job(2)
    settings = make_settings(["dataset=digits", "learner=none", "max_steps=1", "threads=1"], tmp_path / "one")
    summary = run_experiment(settings, progress=False)
    assert summary["threads"] == 1
    assert summary["cores"] == os.cpu_count() and summary["load_1min"] >= 0  # timing.md reads the load


def test_outside_a_terminal_progress_comes_as_lines_and_each_sweep_job_says_how_it_ended(tmp_path):
    """stderr is a pipe here: no bar, a line every 10 steps, and every job's final line, also from
    joblib's worker processes."""
    args = ["dataset=digits", "learner=none", "max_steps=10", "workers.n_crowd=5", "workers.n_expert=1",
            f"results_dir={tmp_path / 'results'}"]
    one = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    assert "digits/ss seed 0: step 10, " in one.stderr and "label accuracy" in one.stderr
    assert "\r" not in one.stderr and "it/s" not in one.stderr  # no bar redraws in a log
    sweep = subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", *args, "seed=1,2",
                            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                           capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr
    assert sweep.stderr.count("[labald] stopped: ") == 2, sweep.stderr
    assert "digits/ss seed 1: step 10" in sweep.stderr and "digits/ss seed 2: step 10" in sweep.stderr


def _other_value(value, name, tmp_path):
    """A different valid value of a setting (each settings group refuses an invalid one as it is built)."""
    if name.endswith("_path"):
        path = tmp_path / f"{name}.npy"
        path.write_bytes(b"some file " + name.encode())
        return str(path)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return {"imbalance_ratio": 2.0}.get(name, value / 2 + 0.01)
    if isinstance(value, str):
        return {"calibrate": "network", "keep_best": "nll", "prototypes": "split", "train_on": "answered",
                "kind": "digits", "source": "synthetic", "dynamics": "learning", "prior_diagonal": "per_class",
                "local": "exact", "jaccard_ties": "index", "assignment": "matching", "worker_skill": "one_coin",
                "skill_groups": "experts", "rule": "plateau"}.get(name, value + "x")
    if isinstance(value, tuple):
        return ("n01", "n02")
    return {"mean_accuracy": 0.5, "prior_accuracy": 0.5, "wnids": ("n01", "n02")}.get(name, 2)  # None: 2 fits the rest


def test_changing_any_result_changing_option_changes_the_run_directory(tmp_path):
    """Walk every field of the settings (top level and each group): a field that changes results moves
    the run to another directory, so two different experiments never share one."""
    import dataclasses

    from labald.identity import NOT_RESULTS, fingerprint, unused_keys

    base = make_settings(["method=la_bald", "stopping=budget", "stopping.annotations_per_image=1"], tmp_path)
    seen = {output_dir(base)}
    checked = 0
    for field in dataclasses.fields(base):
        value = getattr(base, field.name)
        if field.name in NOT_RESULTS:
            continue
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                if f"{field.name}.{sub.name}" in NOT_RESULTS or (field.name, sub.name) == ("dataset", "name"):
                    continue
                if f"{field.name}.{sub.name}" in unused_keys(dataclasses.asdict(value)):  # the sandbox ignores it
                    continue
                if (field.name, sub.name) == ("stopping", "cost_per_image"):  # read by stopping=cost alone (below)
                    continue
                other = {sub.name: _other_value(getattr(value, sub.name), sub.name, tmp_path)}
                if sub.name == "skill_groups":  # groups need a skill model that reads them
                    other["worker_skill"] = "one_coin"
                if sub.name == "replay":  # LabelMe's log: the one replayable kind
                    other["kind"] = "labelme"
                changed = dataclasses.replace(value, **other)
                moved = dataclasses.replace(base, **{field.name: changed})
                out = output_dir(moved)
                assert out not in seen, f"{field.name}.{sub.name}"
                assert fingerprint(moved) != fingerprint(base), f"{field.name}.{sub.name}"  # names and hashes agree
                seen.add(out)
                checked += 1
        elif field.name not in ("method", "sampler", "sampler_options"):  # the latter two: method=custom only
            out = output_dir(dataclasses.replace(base, **{field.name: _other_value(value, field.name, tmp_path)}))
            assert out not in seen, field.name
            seen.add(out)
            checked += 1
    assert checked > 50  # the walk reached every group
    money = [output_dir(make_settings(["stopping=cost", f"stopping.cost_per_image={c}"], tmp_path)) for c in (1, 2)]
    assert money[0] != money[1] and not set(money) & seen
    custom = make_settings(["method=custom", "method.sampler=examples.samplers.uncertainty:UncertaintySampler"],
                           tmp_path)
    other_options = dataclasses.replace(custom, sampler_options=(("worker", "best"),))
    other_class = dataclasses.replace(custom, sampler="examples.samplers.other:UncertaintySampler")
    assert len({output_dir(custom), output_dir(other_options), output_dir(other_class)} | seen) == len(seen) + 3
    # the content of a features file names the run, not its path: a copy shares the runs, an edit does not
    features = tmp_path / "f.npy"
    features.write_bytes(b"one")
    copy = tmp_path / "copy.npy"
    copy.write_bytes(b"one")
    dirs = [output_dir(dataclasses.replace(base, dataset=dataclasses.replace(base.dataset, features_path=str(p))))
            for p in (features, copy)]
    assert dirs[0] == dirs[1] and dirs[0].parent.name.endswith(f"+dataset.features_path={_sha8(b'one')}")
    assert output_dir(make_settings([], tmp_path)).parent.name == "ss"  # the paper's protocol: no tags


def _sha8(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:8]


def test_one_protocol_diff_names_the_run_is_in_its_summary_and_groups_its_figures(tmp_path):
    from labald.figures.load import load_runs
    from labald.identity import run_name

    overrides = ["dataset=digits", "method=ss", "learner=none", "max_steps=2", "batch_size=50",
                 "dataset.imbalance_ratio=2", "aggregation.reinfer=false", "rerun=1"]
    settings, summary, _ = _run(tmp_path, overrides)
    diff = {"imbalance": "2", "learner": "none", "batch_size": "50", "aggregation.reinfer": "false", "rerun": "1"}
    assert summary["protocol_diff"] == diff and list(summary["protocol_diff"]) == list(diff)
    assert json.loads((output_dir(settings) / "summary.json").read_text())["protocol_diff"] == diff
    assert output_dir(settings).parent.name == run_name("ss", diff)
    frame = load_runs(tmp_path / "runs")
    assert set(frame["setting"]) == {",".join(f"{k}={v}" for k, v in diff.items())}


def test_config_defaults_equal_the_dataclass_defaults():
    """Defaults are written twice, in the configs (what a user reads and overrides) and in the settings
    dataclasses (what code and tests build directly); this keeps the two equal, key by key."""
    import dataclasses

    from labald.data import DatasetSettings
    from labald.learner import LearnerSettings
    from labald.settings import AcquisitionSettings, AggregationSettings, RunSettings
    from labald.stopping import StoppingSettings
    from labald.workers import WorkerSettings

    cfg = compose_config([])
    per_dataset = {"name", "wnids", "kind", "features_path", "labels_path", "answers_path"}  # each dataset's own
    groups = [(RunSettings, {k: v for k, v in cfg.items() if not isinstance(v, dict)}, {"seed", "resume", "data_dir"}),
              (AggregationSettings, cfg["aggregation"], set()), (AcquisitionSettings, cfg["acquisition"], set()),
              (LearnerSettings, cfg["learner"], {"name"}), (StoppingSettings, cfg["stopping"], {"name"}),
              (WorkerSettings, cfg["workers"], set()), (DatasetSettings, cfg["dataset"], per_dataset)]
    checked = 0
    for cls, values, own in groups:
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        for key, value in values.items():
            if key in own:
                continue
            assert key in defaults, f"{cls.__name__}.{key} is in the configs but has no dataclass default"
            expected = list(defaults[key]) if isinstance(defaults[key], tuple) else defaults[key]
            assert value == expected, f"{cls.__name__}.{key}: config {value!r}, dataclass {expected!r}"
            checked += 1
    assert checked >= 50  # every group has its keys checked, not a handful
