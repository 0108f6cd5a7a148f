"""dataset=replay: samplers ask only the pairs a real answer log holds, and get the logged answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from labald.data import load_pool
from labald.errors import LabaldError
from labald.identity import output_dir
from labald.runner import run_experiment
from labald.workers import build_workers
from tests.helpers import make_settings

N_TASKS, N_CLASSES, N_WORKERS, ANSWERED = 200, 4, 15, 0.6


@pytest.fixture
def log_files(tmp_path):
    """A CIFAR-10H-style log: 200 tasks, 4 classes, 15 workers each answering a random 60% of the
    tasks (accuracy 0.55 to 0.9, one adversary), with 6-d features clustered by class."""
    rng = np.random.default_rng(11)
    truth = rng.integers(N_CLASSES, size=N_TASKS)
    centres = rng.normal(scale=3.0, size=(N_CLASSES, 6))
    np.save(tmp_path / "feats.npy", (centres[truth] + rng.normal(size=(N_TASKS, 6))).astype(np.float32))
    tasks = [f"img-{i:03d}" for i in range(N_TASKS)]
    pd.DataFrame({"task": tasks, "label": [f"class{y}" for y in truth]}).to_csv(tmp_path / "truth.csv", index=False)
    accuracy = np.r_[np.linspace(0.55, 0.9, N_WORKERS - 1), 0.0]
    rows = []
    for j in range(N_WORKERS):
        for i in np.flatnonzero(rng.random(N_TASKS) < ANSWERED):
            right = rng.random() < accuracy[j]
            z = truth[i] if right else (truth[i] + (1 if j == N_WORKERS - 1 else rng.integers(1, N_CLASSES))) % 4
            rows.append((tasks[i], str(100 + j), f"class{z}"))
    order = rng.permutation(len(rows))  # a log comes in any order
    pd.DataFrame([rows[r] for r in order], columns=["task", "worker", "label"]).to_csv(
        tmp_path / "answers.csv", index=False)
    return tmp_path


def _overrides(d, *extra):
    return ["dataset=replay", f"dataset.features_path={d / 'feats.npy'}", f"dataset.labels_path={d / 'truth.csv'}",
            f"dataset.answers_path={d / 'answers.csv'}", "dataset.n_prototypes=4", "batch_size=20", *extra]


def _logged(d) -> dict[tuple[str, str], str]:
    log = pd.read_csv(d / "answers.csv", dtype=str)
    return {(t, w): z for t, w, z in zip(log["task"], log["worker"], log["label"])}


@pytest.fixture
def one_thread():
    """The learner's tiny MLP trains fastest on one thread (the CI box has 2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# confidence 0.999: the calibrated learner makes this small pool confident within a step or two
@pytest.mark.parametrize("method, learner", [("la_bald", ["learner.max_epochs=5", "confidence=0.999"]),
                                             ("rand_i_greedy_w", ["learner=none"])])
def test_a_replay_run_asks_only_logged_pairs_and_gets_the_logged_answers(log_files, tmp_path, one_thread,
                                                                         method, learner):
    settings = make_settings(_overrides(log_files, f"method={method}", *learner, "max_steps=8"),
                             tmp_path / "results")
    summary = run_experiment(settings, progress=False)
    pool = load_pool(settings.dataset, None, settings.seed)
    ann = torch.load(output_dir(settings) / "checkpoint.pt", weights_only=False)["annotations"]
    assert len(ann["image"]) > 20 and summary["n_workers"] == N_WORKERS
    assert "replayed log" in summary["worker_source"]
    logged = _logged(log_files)
    for i, j, z in zip(ann["image"], ann["worker"], ann["label"]):
        pair = (pool.task_ids[i], pool.worker_ids[j])
        assert pair in logged, f"asked {pair}, which the log does not hold"
        assert logged[pair] == pool.class_names[z]
    assert len(set(zip(ann["image"], ann["worker"]))) == len(ann["image"])
    assert np.bincount(ann["image"]).max() <= 3
    assert summary["label_accuracy"] > 0.5


def test_replay_workers_estimate_confusions_from_the_log_against_the_truth(log_files, tmp_path):
    settings = make_settings(_overrides(log_files), tmp_path)
    pool = load_pool(settings.dataset, None, settings.seed)
    workers = build_workers(settings.workers, pool, None, settings.seed)
    assert pool.n_images == N_TASKS - 4 * N_CLASSES and pool.class_names == tuple(f"class{k}" for k in range(4))
    assert workers.n_workers == N_WORKERS and not workers.is_expert.any()
    assert pool.kind.crowd == "log" and workers.kind == "replay" and workers.dynamics is None
    assert pool.worker_ids == tuple(str(100 + j) for j in range(N_WORKERS))  # numeric order
    np.testing.assert_allclose(workers.confusions.sum(axis=2), 1.0)
    accuracy = np.diagonal(workers.confusions, axis1=1, axis2=2).mean(axis=1)
    assert accuracy[-1] < 0.1 and accuracy[-2] > 0.75 and accuracy[0] < 0.7  # adversary, best, worst
    # availability is exactly the log restricted to the pool, and answers are the logged ones
    logged = _logged(log_files)
    held = {(pool.task_ids[i], pool.worker_ids[j]) for i, j in zip(*np.nonzero(workers.available_N_M))}
    assert held == {p for p in logged if p[0] in set(pool.task_ids)}
    i, j = np.nonzero(workers.available_N_M)
    answers = workers.answer(i, j)
    assert [pool.class_names[z] for z in answers] == [logged[(pool.task_ids[a], pool.worker_ids[b])]
                                                      for a, b in zip(i, j)]
    missing = np.argwhere(~workers.available_N_M)[0]
    with pytest.raises(ValueError, match="not in the answer log"):
        workers.answer(missing[:1], missing[1:])


@pytest.mark.parametrize("breaker, message", [
    (lambda d: (d / "answers.csv").write_text("task,worker,label\nnope,1,class0\n"), "'nope'"),
    (lambda d: (d / "answers.csv").write_text("task,worker,label\nimg-000,1,class9\n"), "'class9'"),
    (lambda d: (d / "answers.csv").write_text("task,worker,label\nimg-000,1,class0\nimg-000,1,class1\n"), "twice"),
    (lambda d: (d / "answers.csv").write_text("task,label\nimg-000,class0\n"), "lacks column(s) worker"),
    (lambda d: (d / "truth.csv").write_text("task,label\nimg-000,class0\n"), "match row for row"),
])
def test_a_malformed_log_is_refused_in_one_line(log_files, tmp_path, breaker, message):
    breaker(log_files)
    settings = make_settings(_overrides(log_files), tmp_path)
    with pytest.raises(LabaldError, match=None) as error:
        load_pool(settings.dataset, None, settings.seed)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_replay_without_its_files_says_which_key_is_missing(tmp_path):
    settings = make_settings(["dataset=replay"], tmp_path)
    with pytest.raises(LabaldError, match="dataset.features_path"):
        load_pool(settings.dataset, None, settings.seed)


# --- replay that behaves: each defect of a real log, fixed ---------------------------------------


def test_the_papers_stopping_rule_fires_in_replay(log_files, tmp_path, one_thread):
    """Eligible images are those that can still be asked: an image whose logged answers are all taken
    no longer counts, so the rule (fewer than floor(B/10) eligible) stops the run."""
    from labald.experiment import build_experiment
    from labald.loop import eligible, initial_state, run_steps

    log = pd.read_csv(log_files / "answers.csv", dtype=str)
    log.groupby("task").head(2).to_csv(log_files / "answers.csv", index=False)  # at most 2 answers a task, as is common
    settings = make_settings(_overrides(log_files, "learner=none", "method=ss", "confidence=0.99"), tmp_path)
    exp = build_experiment(settings)
    state = run_steps(exp, initial_state(exp), progress=False)
    assert "paper's rule" in state.stop_reason
    left = exp.workers.available_N_M & ~state.annotations.asked()
    under_cap = state.annotations.per_image() < settings.max_per_image
    assert state.rows[-1]["n_eligible"] == int(eligible(exp, state, "label").sum()) < settings.batch_size // 10
    assert not (eligible(exp, state, "label") & ~left.any(axis=1)).any()  # never an image nobody can answer
    assert (under_cap & ~left.any(axis=1)).any()  # there were such images: they no longer keep a run going


def test_a_class_a_worker_never_answered_takes_the_crowds_pooled_confusion():
    from labald.workers.replay import ReplayWorkers

    truth = np.array([0, 0, 1, 1, 2, 2])
    answers = np.full((6, 3), -1)
    answers[:, 0] = [0, 0, 1, 2, 2, 2]  # worker 0 answers everything
    answers[:2, 1] = [0, 1]  # worker 1 only class 0
    answers[2:4, 2] = [1, 1]  # worker 2 only class 1
    workers = ReplayWorkers(answers, truth, 3, "test")
    counts = workers.counts_M_K_K
    pooled = counts.sum(axis=0) + 1 / 3
    pooled /= pooled.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(workers.confusions[1, 1:], pooled[1:])  # never answered: the crowd's rows
    np.testing.assert_allclose(workers.confusions[1, 0], (counts[1, 0] + pooled[0]) / (counts[1, 0].sum() + 1))
    # the prior's mean accuracy follows the crowd (.75 right), not a guesser's 1/3 on empty rows
    assert np.diagonal(workers.confusions, axis1=1, axis2=2).mean() > 0.6


def test_replay_has_no_per_worker_cap_unless_asked(log_files, tmp_path, one_thread):
    from labald.experiment import build_experiment

    capped = make_settings(_overrides(log_files, "workers.per_worker_per_step=1"), tmp_path)
    assert build_experiment(make_settings(_overrides(log_files), tmp_path)).capacity_per_step == 20
    assert build_experiment(capped).capacity_per_step == 1
    settings = make_settings(_overrides(log_files, "learner=none", "method=ss", "max_steps=5"), tmp_path)
    run_experiment(settings, progress=False)
    per_step = pd.read_csv(output_dir(settings) / "metrics.csv")["n_annotations"].diff().dropna()
    assert (per_step == 20).all()  # full batches, where ceil(2B / M) = 3 tasks per worker cut some short


def test_badly_scaled_features_are_standardized_or_warned_about(log_files, tmp_path, caplog):
    x = np.load(log_files / "feats.npy")
    x[:, 0] *= 1000.0
    np.save(log_files / "feats.npy", x)
    pool = load_pool(make_settings(_overrides(log_files), tmp_path).dataset, None, 0)
    both = np.concatenate([pool.features, pool.prototype_features])
    np.testing.assert_allclose(both.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(both.std(axis=0), 1.0, rtol=1e-4)
    assert "badly scaled" not in caplog.text
    raw = load_pool(make_settings(_overrides(log_files, "dataset.standardize=false"), tmp_path).dataset, None, 0)
    assert raw.features[:, 0].std() > 100 * raw.features[:, 1].std()
    warnings = [r for r in caplog.records if "badly scaled" in r.getMessage()]
    assert len(warnings) == 1 and "dataset.standardize=true" in warnings[0].getMessage()


def test_resuming_after_an_input_file_changed_is_refused_in_one_line(log_files, tmp_path, one_thread):
    run_dir = tmp_path / "run"
    overrides = _overrides(log_files, "learner=none", "method=ss", "max_steps=2", f"run_dir={run_dir}")
    run_experiment(make_settings(overrides, tmp_path), progress=False)
    lines = (log_files / "answers.csv").read_text().splitlines()
    (log_files / "answers.csv").write_text("\n".join(lines[:-40]) + "\n")  # the log lost answers
    with pytest.raises(LabaldError, match=r"dataset.answers_path=.*changed since .* was run on it"):
        run_experiment(make_settings(overrides, tmp_path), progress=False)
    summary = run_experiment(make_settings(overrides, tmp_path), resume=False, progress=False)  # starting over works
    assert summary["inputs"]["dataset.answers_path"] != "" and summary["steps"] == 2


def test_replay_run_names_carry_only_settings_that_apply_to_a_log(log_files, tmp_path):
    settings = make_settings(_overrides(log_files, "workers=synthetic", "workers.n_crowd=7"), tmp_path)
    name = output_dir(settings).parent.name
    assert "workers" not in name and name.startswith("ss+")
    capped = output_dir(make_settings(_overrides(log_files, "workers.per_worker_per_step=5"), tmp_path)).parent.name
    assert "+workers.per_worker_per_step=5" in capped
