"""scripts/fetch_labelme.py: the LabelMe-AMT files reach a data folder only with their pinned SHA-256,
and a corrupt file leaves the folder as it was. No network: copies from a folder, or file:// URLs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from labald.data import labelme
from labald.paths import sha256_file
from tests.helpers import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("fetch_labelme", ROOT / "scripts" / "fetch_labelme.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _shared_folder() -> Path:
    """The real files: <$LABALD_DATA_DIR>/labelme, else ../shared/data/labelme beside the checkout."""
    return Path(os.environ.get("LABALD_DATA_DIR") or ROOT.parent / "shared" / "data") / labelme.FOLDER


SHARED = _shared_folder()
NEEDS_SHARED = pytest.mark.skipif(not (SHARED / labelme.ANSWERS_FILE).is_file(),
                                  reason=f"the LabelMe-AMT files are not in {SHARED} (make data-labelme)")


def _fake_folder(folder: Path) -> dict[str, str]:
    """A tiny folder with every file name, each holding a few bytes; returns their SHA-256."""
    folder.mkdir()
    for name in labelme.FILES:
        (folder / name).write_bytes(f"tiny {name}\n".encode())
    return {name: sha256_file(folder / name) for name in labelme.FILES}


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fetch_labelme: error: "), err
    return err[0]


@NEEDS_SHARED
def test_copying_the_real_files_checks_their_hashes_and_labald_reads_them(tmp_path, capsys):
    dest = tmp_path / "data" / "labelme"
    assert _script().main(["--source", str(SHARED), "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "GPL v3" in out and str(dest) in out
    assert sorted(p.name for p in dest.iterdir()) == sorted(labelme.FILES)  # no part files left behind
    assert {name: sha256_file(dest / name) for name in labelme.FILES} == labelme.SHA256
    data = labelme.load_labelme(labelme.find_folder(None, dest.parent))
    assert data.answers.shape == (1000, 59) and len(data.log()[0]) == 2547
    # a real copy with one file damaged is refused, and the good copy stays as it was
    damaged = tmp_path / "damaged"
    shutil.copytree(SHARED, damaged)
    last = damaged / labelme.FILES[-1]
    last.chmod(0o644)
    last.write_bytes(last.read_bytes()[:-1] + b"9")
    before = _contents(dest)
    assert _script().main(["--source", str(damaged), "--dest", str(dest)]) == 2
    assert labelme.FILES[-1] in _one_error_line(capsys)
    assert _contents(dest) == before


def test_a_corrupt_file_is_refused_with_exit_2_and_nothing_written(tmp_path, capsys):
    _fake_folder(tmp_path / "fake")  # the right names, not the pinned contents
    dest = tmp_path / "data" / "labelme"
    assert _script().main(["--source", str(tmp_path / "fake"), "--dest", str(dest)]) == 2
    assert "SHA-256" in _one_error_line(capsys)
    assert not (tmp_path / "data").exists()


def test_a_checked_copy_replaces_the_old_one_only_when_every_file_matches(tmp_path, capsys, monkeypatch):
    hashes = _fake_folder(tmp_path / "fake")
    monkeypatch.setattr(labelme, "SHA256", hashes)  # pin the tiny files instead of the real ones
    script, dest = _script(), tmp_path / "labelme"
    assert script.main(["--source", str(tmp_path / "fake"), "--dest", str(dest)]) == 0
    assert _contents(dest) == _contents(tmp_path / "fake")
    capsys.readouterr()
    (tmp_path / "fake" / labelme.ANSWERS_FILE).write_bytes(b"tiny answers.txt, changed\n")
    (tmp_path / "fake" / labelme.FILES[-1]).write_bytes(b"corrupt\n")
    before = _contents(dest)
    assert script.main(["--source", str(tmp_path / "fake"), "--dest", str(dest)]) == 2
    assert labelme.ANSWERS_FILE in _one_error_line(capsys)  # the first bad file is named
    assert _contents(dest) == before  # not even the files checked before it moved in


def test_downloads_fetch_each_file_from_the_address_template(tmp_path, capsys, monkeypatch):
    hashes = _fake_folder(tmp_path / "remote")
    monkeypatch.setattr(labelme, "SHA256", hashes)
    dest = tmp_path / "labelme"
    template = (tmp_path / "remote").as_uri() + "/{}"  # file://, no network
    assert _script().main(["--url", template, "--dest", str(dest)]) == 0
    assert _contents(dest) == _contents(tmp_path / "remote")
    assert capsys.readouterr().out.count("downloading file://") == len(labelme.FILES)
    missing = (tmp_path / "nowhere").as_uri() + "/{}"
    assert _script().main(["--url", missing, "--dest", str(tmp_path / "other")]) == 2
    assert "download failed" in _one_error_line(capsys) and not (tmp_path / "other").exists()


@pytest.mark.parametrize("problem", ["missing file", "no folder", "dest is a file"])
def test_bad_source_or_destination_gets_one_line_and_exit_2(tmp_path, capsys, problem):
    _fake_folder(tmp_path / "fake")
    source, dest = tmp_path / "fake", tmp_path / "labelme"
    if problem == "missing file":
        (source / labelme.LABELS_FILE.format("valid")).unlink()
    elif problem == "no folder":
        source = tmp_path / "absent"
    else:
        dest.write_text("not a folder")
    assert _script().main(["--source", str(source), "--dest", str(dest)]) == 2
    line = _one_error_line(capsys)
    assert {"missing file": "lacks LabelMe_Z_valid.txt", "no folder": "is not a folder",
            "dest is a file": "is a file"}[problem] in line
    assert dest.is_file() if problem == "dest is a file" else not dest.exists()


def test_the_pinned_hashes_cover_exactly_the_files_labald_reads():
    assert sorted(labelme.SHA256) == sorted(labelme.FILES)
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in labelme.SHA256.values())
    assert labelme.COMMIT in labelme.URL and labelme.URL.format("x").endswith("/data/LabelMe/x")


def test_the_aggregation_table_without_crowd_kit_says_so_in_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("labelme_aggregation", ROOT / "scripts" / "labelme_aggregation.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setitem(sys.modules, "crowdkit", None)  # import crowdkit now raises ImportError
    assert script.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "crowd-kit is not installed" in err[0]
    assert list(tmp_path.iterdir()) == []
