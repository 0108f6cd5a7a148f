"""Pools: sandbox geometry, sizes, imbalance, digits, and the real features-file loader."""

import numpy as np
import pytest

from labald.data import DatasetSettings, kinds, load_pool
from labald.data.amt import EMBEDDED_AMT, amt_file, find_amt_file, load_amt
from labald.data.subtasks import SUBTASKS
from labald.errors import LabaldError
from tests.helpers import ROOT, original_amt_file


@pytest.fixture(scope="module")
def amt():
    return load_amt(EMBEDDED_AMT)  # what runs use without a data directory


def test_sandbox_sizes_prototypes_and_seeding(amt):
    s = DatasetSettings(name="commodity", n_per_class=40)
    pool = load_pool(s, amt, seed=0)
    k = len(SUBTASKS["commodity"])
    assert pool.n_classes == k and pool.class_names == tuple(SUBTASKS["commodity"])
    assert np.bincount(pool.labels, minlength=k).tolist() == [40] * k
    assert np.bincount(pool.prototype_labels, minlength=k).tolist() == [10] * k
    # prototypes are distinct images, not copies of pool images
    pool_rows = {row.tobytes() for row in pool.features}
    assert not any(row.tobytes() in pool_rows for row in pool.prototype_features)
    again = load_pool(s, amt, seed=0)
    assert np.array_equal(pool.features, again.features) and np.array_equal(pool.labels, again.labels)
    other = load_pool(s, amt, seed=1)
    assert not np.array_equal(pool.features, other.features)
    assert "SURROGATE" in pool.source


def test_default_sandbox_has_imagenet_class_sizes(amt):
    pool = load_pool(DatasetSettings(name="commodity"), amt, seed=0)
    assert pool.n_images == 16 * 1300


def test_sandbox_puts_confused_classes_closer(amt):
    pool = load_pool(DatasetSettings(name="dog", n_per_class=200), amt, seed=0)
    k = pool.n_classes
    centroids = np.stack([pool.features[pool.labels == c].mean(0) for c in range(k)])
    dist = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    sym = pool.similarity + pool.similarity.T
    off = ~np.eye(k, dtype=bool)
    corr = np.corrcoef(sym[off], dist[off])[0, 1]
    assert corr < -0.5, f"distance should fall as human confusion rises, corr={corr:.2f}"


def test_imbalance_ratio_sets_majority_over_minority(amt):
    pool = load_pool(DatasetSettings(name="insect_fungus", n_per_class=200, imbalance_ratio=10), amt, seed=3)
    counts = np.bincount(pool.labels)
    assert counts.max() == 200 and counts.min() == 20


def test_digits_is_the_real_sklearn_set():
    pool = load_pool(DatasetSettings(name="digits", kind="digits"), None, seed=0)
    assert pool.n_images + len(pool.prototype_labels) == 1797
    assert pool.n_classes == 10 and len(pool.prototype_labels) == 100
    assert "digits" in pool.source
    assert pool.kind.name == "digits" and pool.kind.crowd == kinds.SYNTHETIC  # who answers it: the pool says


def test_one_kind_table_answers_every_decision_by_kind():
    """What a kind is made of, read the way run names read a config's `dataset.*` mapping."""
    assert kinds.KINDS == ("sandbox", "digits", "custom", "replay", "folder", "real", "labelme")
    from_file = [k for k in kinds.KINDS if kinds.dataset_kind(k).from_file]
    assert from_file == ["custom", "replay", "folder", "real", "labelme"]
    assert kinds.replays_log({"name": "x", "kind": "replay"}) and kinds.replays_log({"name": "labelme", "replay": True})
    assert not kinds.replays_log({"name": "labelme"}) and kinds.own_crowd({"name": "labelme"})
    replayed = {"name": "labelme", "replay": True}
    assert not kinds.own_crowd(replayed) and kinds.own_workers(replayed)  # LabelMe's workers, replayed
    assert not kinds.own_workers({"name": "replay"})
    assert not kinds.replays_log({"name": "digits", "replay": True})  # only LabelMe's log replays
    assert kinds.synthetic_only({"name": "digits"}) and not kinds.synthetic_only({"name": "commodity"})
    assert kinds.generated({"name": "commodity"}) and not kinds.generated({"name": "commodity", "features_path": "f"})
    assert not kinds.generated({"name": "digits"}) and not kinds.generated({"name": "dog_real"})
    assert kinds.from_file({"name": "dog_real"}) and kinds.from_file({"name": "commodity", "features_path": "f"})
    assert not kinds.from_file({"name": "digits"}) and not kinds.from_file({"name": "commodity"})
    unknown = kinds.kind_in({"name": "x", "kind": "gone"})  # an old config's kind: nothing of its own
    assert not (unknown.generated or unknown.from_file) and unknown.crowd == kinds.SIMULATED
    assert [k for k in kinds.KINDS if not kinds.dataset_kind(k).reads_amt] == ["replay", "labelme"]
    assert not kinds.dataset_kind("labelme", replay=True).reads_amt


def test_wnids_override_defines_a_new_subtask(amt):
    wnids = tuple(SUBTASKS["dog"][:4])
    pool = load_pool(DatasetSettings(name="my_dogs", wnids=wnids, n_per_class=30), amt, seed=0)
    assert pool.class_names == wnids and pool.n_images == 120


def _write_features(tmp_path, x, names):
    np.save(tmp_path / "f.npy", x)
    (tmp_path / "l.txt").write_text("".join(f"{n}\n" for n in names))
    return tmp_path / "f.npy", tmp_path / "l.txt"


def test_features_file_with_wnid_filename_lines(tmp_path):
    rng = np.random.default_rng(0)
    names = [w for w in ("n01", "n02", "n03") for _ in range(30)]
    x = rng.normal(size=(90, 5)).astype(np.float32)
    f, l = _write_features(tmp_path, x, [f"{n}/img_{i}.JPEG" for i, n in enumerate(names)])
    s = DatasetSettings(name="custom", kind="custom", features_path=str(f), labels_path=str(l),
                        wnids=("n03", "n01"), n_prototypes=4, standardize=False)
    pool = load_pool(s, None, seed=0)
    assert pool.class_names == ("n03", "n01")
    assert pool.n_images == 2 * 26 and len(pool.prototype_labels) == 8
    # features travel with their labels: every pool row is a row of x from the right class
    source_class = {x[i].tobytes(): names[i] for i in range(90)}
    assert all(source_class[row.tobytes()] == pool.class_names[c] for row, c in zip(pool.features, pool.labels))


@pytest.mark.parametrize(
    "problem, message",
    [
        ("mismatch", "must match row for row"),
        ("nan", "NaN or infinite"),
        ("missing_wnid", "have no rows"),
        ("not_npy", "not a readable .npy"),
        ("one_dim", "N x D"),
    ],
)
def test_features_file_problems_are_one_clear_error(tmp_path, problem, message):
    x = np.ones((20, 3), dtype=np.float32)
    names = ["a"] * 10 + ["b"] * 10
    wnids = None
    if problem == "mismatch":
        names = names[:-1]
    elif problem == "nan":
        x[3, 1] = np.nan
    elif problem == "missing_wnid":
        wnids = ("a", "zz")
    f, l = _write_features(tmp_path, x, names)
    if problem == "not_npy":
        f.write_bytes(b"not numpy")
    elif problem == "one_dim":
        np.save(f, np.ones(20, dtype=np.float32))
    s = DatasetSettings(name="custom", kind="custom", features_path=str(f), labels_path=str(l),
                        wnids=wnids, n_prototypes=2)
    with pytest.raises(LabaldError, match=message):
        load_pool(s, None, seed=0)


def test_embedded_crowd_is_exactly_what_the_original_file_gives():
    """The shipped compact copy equals Liao et al.'s group_workers.json, and the script that derives it
    reproduces it byte for byte (CI runs this with the original; a clone without it cannot)."""
    import importlib.util
    import json

    original = original_amt_file()
    if original is None:
        pytest.skip("Liao et al.'s group_workers.json is not here (set LABALD_DATA_DIR); CI has it")
    a, b = load_amt(original), load_amt(EMBEDDED_AMT)
    assert a.wnids == b.wnids and sorted(a.groups) == sorted(b.groups)
    for g in a.groups:
        assert np.array_equal(a.groups[g], b.groups[g]), g
    assert np.array_equal(a.total_counts, b.total_counts)
    spec = importlib.util.spec_from_file_location("make_amt_crowd", ROOT / "scripts" / "make_amt_crowd.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.compact(original) == EMBEDDED_AMT.read_text(encoding="utf-8")
    names = json.loads(original.read_text())["imagenet100_name"]
    assert json.loads(EMBEDDED_AMT.read_text())["names"] == names


def test_runs_read_the_original_when_the_data_directory_has_it_else_the_embedded_copy(tmp_path):
    assert find_amt_file(tmp_path) is None and amt_file(tmp_path) == EMBEDDED_AMT
    (tmp_path / "group_workers.json").write_text(EMBEDDED_AMT.read_text())  # any file in the original's place
    assert amt_file(tmp_path) == tmp_path / "group_workers.json"
    folder = tmp_path / "as_folder"
    (folder / "group_workers.json").mkdir(parents=True)
    with pytest.raises(LabaldError, match="is a folder"):
        amt_file(folder)
    embedded = load_amt(EMBEDDED_AMT)
    assert "embedded copy" in embedded.origin and sum(len(c) for c in embedded.groups.values()) == 58
