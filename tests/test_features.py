"""`labald features` and `dataset=folder`: a folder of images becomes features, ids and labels that
are the same on every run, survive a kill, skip what is not an image, and feed the samplers' runs;
every bad input is one line before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

if os.environ.get("LABALD_REQUIRE_TORCHVISION"):  # `make test-images` (CI): a missing torchvision fails
    import torchvision  # noqa: F401
else:
    pytest.importorskip("torchvision", reason="image features need the images extra: pip install -e '.[images]'")

from labald.cli import main  # noqa: E402
from labald.data import images  # noqa: E402
from labald.errors import LabaldError  # noqa: E402
from labald.figures.__main__ import main as figures_main  # noqa: E402
from tests.helpers import ROOT, make_settings  # noqa: E402

FAST = ["--weights", "none", "--backbone", "resnet18", "--workers", "0", "--batch-size", "8"]


def _folder(root, classes=("cat", "dog", "owl"), per_class=7, junk=True):
    """Tiny random PNGs at class/image, plus (with `junk`) a truncated JPEG and a text file."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")
    if junk:
        (root / classes[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
        (root / classes[1] / "notes.txt").write_text("not an image")
    return root


def _features(tmp_path, name="out", *extra):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    assert main(["features", str(tmp_path / "images"), "-o", str(out / "f.npy"), *FAST, *extra]) == 0
    return out


def test_a_class_folder_gives_features_ids_labels_and_lists_what_it_skipped(tmp_path, capsys):
    _folder(tmp_path / "images")
    out = _features(tmp_path)
    x = np.load(out / "f.npy")
    ids = (out / "ids.txt").read_text().splitlines()
    assert x.shape == (21, 512) and x.dtype == np.float32 and np.isfinite(x).all()
    assert ids == sorted(f"{c}/{i:02d}.png" for c in ("cat", "dog", "owl") for i in range(7))
    labels = pd.read_csv(out / "labels.csv")
    assert list(labels.columns) == ["task", "label"] and list(labels["task"]) == ids
    assert list(labels["label"]) == [t.split("/")[0] for t in ids]
    skipped = [line.split("\t")[0] for line in (out / "skipped.txt").read_text().splitlines()]
    assert skipped == ["cat/broken.jpg", "dog/notes.txt"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "21 images" in lines[0]
    assert "skipped 2 files" in lines[1] and "cat/broken.jpg, dog/notes.txt" in lines[1]
    assert not (out / "f.npy.partial").exists()


def test_same_folder_same_features_and_a_weights_file_loads_like_the_backbone(tmp_path):
    import torch
    from torchvision.models import get_model

    _folder(tmp_path / "images", junk=False)
    first = np.load(_features(tmp_path, "a") / "f.npy")
    assert np.array_equal(first, np.load(_features(tmp_path, "b") / "f.npy"))
    with torch.random.fork_rng(devices=[]):  # the weights `none` draws, saved as a file with their head
        torch.manual_seed(images.RANDOM_SEED)
        torch.save(get_model("resnet18", weights=None).state_dict(), tmp_path / "w.pth")
    assert np.array_equal(first, np.load(_features(tmp_path, "c", "--weights", str(tmp_path / "w.pth")) / "f.npy"))
    # a folder that is not class/image shaped gets no labels.csv
    (tmp_path / "images" / "cat" / "deeper").mkdir()
    (tmp_path / "images" / "cat" / "01.png").rename(tmp_path / "images" / "cat" / "deeper" / "01.png")
    out = _features(tmp_path, "d")
    assert not (out / "labels.csv").exists() and "cat/deeper/01.png" in (out / "ids.txt").read_text()


def test_a_killed_extraction_resumes_from_its_blocks_to_the_same_array(tmp_path, monkeypatch, capsys):
    _folder(tmp_path / "images")
    monkeypatch.setattr(images, "BLOCK_ROWS", 6)  # 23 files: 4 blocks
    whole = np.load(_features(tmp_path, "whole") / "f.npy")
    written = []
    write = images._write_block

    def killed_after_one(partial, b, *rest):
        if written:
            raise KeyboardInterrupt  # as a kill between blocks
        written.append(b)
        write(partial, b, *rest)

    monkeypatch.setattr(images, "_write_block", killed_after_one)
    cut = tmp_path / "cut"
    cut.mkdir()
    capsys.readouterr()
    assert main(["features", str(tmp_path / "images"), "-o", str(cut / "f.npy"), *FAST]) == 130
    assert capsys.readouterr().err.splitlines() == [
        "labald: interrupted; the same command resumes from the last chunk written"]
    assert sorted(p.name for p in (cut / "f.npy.partial").iterdir()) == ["block-00000.npz", "manifest.json"]
    assert not (cut / "f.npy").exists() and not (cut / "ids.txt").exists()
    resumed = []
    monkeypatch.setattr(images, "_write_block", lambda partial, b, *rest: (resumed.append(b), write(partial, b, *rest)))
    np.testing.assert_array_equal(np.load(_features(tmp_path, "cut") / "f.npy"), whole)
    assert resumed == [1, 2, 3] and not (cut / "f.npy.partial").exists()
    assert (cut / "ids.txt").read_text() == (tmp_path / "whole" / "ids.txt").read_text()


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("file", "is a file, not a folder"),
    ("empty", "holds no files"),
    ("no images", "none of the 1 files"),
    ("backbone", "invalid choice: 'vgg'"),
    ("no weights file", "neither default, none nor an existing file"),
    ("junk weights", "is not a torch state_dict"),
    ("other backbone's weights", "does not fit resnet18"),
    ("exists", "exists; pass --force"),
    ("no output folder", "does not exist; create it first"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case, message):
    import torch

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.png").write_bytes(b"")  # a file to list; never read, except in "no images"
    (tmp_path / "nothing").mkdir()
    (tmp_path / "junk.pth").write_bytes(b"junk")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    (tmp_path / "out").mkdir()
    if case == "exists":
        (tmp_path / "out" / "f.npy").write_bytes(b"mine")
    image_dir = {"missing": "absent", "file": "junk.pth", "empty": "nothing"}.get(case, "ok")
    options = {"backbone": ["--backbone", "vgg"], "no weights file": ["--weights", str(tmp_path / "absent.pth")],
               "junk weights": ["--weights", str(tmp_path / "junk.pth")],
               "other backbone's weights": ["--weights", str(tmp_path / "other.pth")]}.get(case, [])
    out = tmp_path / ("absent/f.npy" if case == "no output folder" else "out/f.npy")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = ["features", str(tmp_path / image_dir), "-o", str(out), *FAST, *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labald: error:") and message in err[0], err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_folder_tag_follows_the_files_not_the_cache(tmp_path):
    root = _folder(tmp_path / "images", junk=False)
    tag = images.folder_tag(root)
    (root / ".labald").mkdir()
    (root / ".labald" / "features.npy").write_bytes(b"cache")
    assert images.folder_tag(root) == tag
    (root / "cat" / "new.png").write_bytes((root / "cat" / "00.png").read_bytes())
    assert images.folder_tag(root) != tag


def test_missing_torchvision_names_the_install_command(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else
                        find_spec(name, *a))
    with pytest.raises(LabaldError, match=r"pip install -e '\.\[images\]'"):
        images.require_torchvision()


@pytest.mark.parametrize("setup, overrides, message", [
    (None, [], "dataset=folder needs dataset.root=DIR"),
    (None, ["dataset.root=/no/such/folder"], "does not exist"),
    ("flat", [], "is not a class/image folder"),
    ("one class", [], "a pool needs at least two classes"),
    ("classes", ["dataset.n_prototypes=12"], "too few for dataset.n_prototypes=12"),
    ("classes", ["dataset.backbone=vgg"], "dataset.backbone=vgg is unknown"),
    ("classes", ["dataset.weights=absent.pth"], "dataset.weights=absent.pth is neither"),
    ("classes", ["dataset.extract_workers=-1"], "dataset.extract_workers=-1 is invalid"),
])
def test_folder_settings_are_checked_before_a_run(tmp_path, setup, overrides, message):
    root = tmp_path / "images"
    if setup == "flat":
        _folder(root, junk=False)
        (root / "cat" / "00.png").rename(root / "top.png")
    elif setup == "one class":
        _folder(root, classes=("cat",), junk=False)
    elif setup == "classes":
        _folder(root, per_class=12, junk=False)
    where = [f"dataset.root={root}"] if setup else []
    with pytest.raises(LabaldError, match=message):
        make_settings(["dataset=folder", "workers=synthetic", *where, *overrides], tmp_path)
    assert not (tmp_path / "runs").exists() and not (root / ".labald").exists()


def test_the_four_samplers_run_on_a_folder_and_the_figures_draw_them(tmp_path, capsys):
    _folder(tmp_path / "images", classes=("ant", "bee", "fly"), per_class=10)
    command = [sys.executable, str(ROOT / "run.py"), "-m", "method=ss,rand_i_greedy_w,j_bald,la_bald",
               "dataset=folder", f"dataset.root={tmp_path / 'images'}", "dataset.weights=none",
               "dataset.backbone=resnet18", "dataset.n_prototypes=4", "dataset.extract_workers=0",
               "workers=synthetic", "batch_size=10", "max_steps=2", "learner.max_epochs=2", "threads=1",
               f"results_dir={tmp_path / 'results'}"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("features: extracting") == 1 and proc.stderr.count("(cached for 32 files)") == 3
    cache = tmp_path / "images" / ".labald" / "resnet18-random"
    assert len(np.load(cache / "features.npy")) == 30 and len((cache / "skipped.txt").read_text().splitlines()) == 2
    runs = sorted((tmp_path / "results" / "runs" / "folder").glob("*/seed=0/metrics.csv"))
    assert len(runs) == 4
    assert {r.parent.parent.name.split("+")[0] for r in runs} == {"ss", "rand_i_greedy_w", "j_bald", "la_bald"}
    for metrics in runs:
        m = pd.read_csv(metrics)
        assert list(m["step"]) == [0, 1, 2] and m["n_annotations"].iloc[-1] == 20
    assert figures_main(["--runs", str(tmp_path / "results" / "runs"), "--out", str(tmp_path / "figs"),
                         "--bench", str(tmp_path / "none.csv")]) == 0
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    assert any(n.startswith("label_accuracy_") and n.endswith(".png") for n in names)
    assert "| folder | " in (tmp_path / "figs" / "comparison.md").read_text()
    table = pd.read_csv(tmp_path / "figs" / "comparison.csv")
    assert set(table.loc[table["method"] == "la_bald", "baseline"]) == {"ss", "rand_i_greedy_w", "j_bald"}
