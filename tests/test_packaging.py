"""`labald run` from any folder: the Hydra configs travel inside the package (labald.configs, the checkout's
configs/), an installed copy runs without the checkout, and run.py still runs a checkout as it is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from labald.cli import build_parser, main
from labald.cli.run import config_dir
from tests.helpers import ROOT

GROUPS = ("dataset", "method", "workers", "stopping", "learner")
RUN = ["method=ss", "dataset=digits", "max_steps=1"]
RUN_FILES = ("metrics.csv", "answers.csv", "summary.json")


def _options(configs: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (configs / group).glob("*.yaml"))


def _listed_groups(help_text: str) -> dict[str, list[str]]:
    """`group: a, b, c` lines of Hydra's help, the groups part only."""
    groups = help_text.split("== Every key with its default")[0]
    return {name: options.split(", ") for name, _, options in
            (line.partition(": ") for line in groups.splitlines()) if name in GROUPS}


def test_config_dir_of_a_checkout_is_its_configs_folder():
    assert config_dir() == ROOT / "configs"
    assert (config_dir() / "config.yaml").is_file()
    for group in GROUPS:
        assert _options(config_dir(), group), group


def test_pyproject_packages_every_subpackage_and_the_configs():
    """packages is an explicit list (a mapped folder is not found by packages.find): a subpackage left out
    would be missing from a `pip install .` only."""
    tomllib = pytest.importorskip("tomllib")
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    subpackages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "labald").rglob("__init__.py")}
    assert set(setup["packages"]) == subpackages | {"labald.configs"}
    assert setup["package-dir"] == {"labald.configs": "configs"}
    assert set(setup["package-data"]["labald.configs"]) == {"*.yaml", "**/*.yaml"}


def test_labald_help_lists_run():
    text = build_parser().format_help()
    assert "{run,aggregate,propose,features}" in text and "labald run --help" in text


def test_labald_run_with_a_bad_key_says_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = list(sys.argv)
    with pytest.raises(SystemExit) as stop:
        main(["run", *RUN, "no_such_key=3"])
    assert stop.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("labald: error: no_such_key is not a config key"), lines
    assert list(tmp_path.iterdir()) == [] and sys.argv == argv and "LABALD_COMMAND" not in os.environ


def test_labald_run_help_names_the_command_and_lists_every_group(capsys):
    with pytest.raises(SystemExit) as stop:  # Hydra exits after its help
        main(["run", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "Usage: labald run [-m]" in text and "labald run -m method=ss,j_bald,la_bald" in text
    assert "python run.py" not in text
    assert _listed_groups(text) == {group: _options(config_dir(), group) for group in GROUPS}


def test_run_py_runs_a_checkout_from_another_folder_into_its_results(tmp_path):
    """The shim with the default results_dir: results/ under the current folder, not the checkout's."""
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *RUN], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "results" / "runs" / "digits" / "ss" / "seed=0"
    for name in RUN_FILES:
        assert (run / name).is_file(), name


@pytest.mark.slow
def test_a_non_editable_install_runs_from_any_folder(tmp_path):
    """`pip install .` into a fresh venv, then that venv's `labald run` from a folder outside the checkout.
    The venv is made by this interpreter with --system-site-packages, which for a venv's interpreter means
    the base interpreter's packages, so a .pth adds this interpreter's (torch, hydra, setuptools, pip) after
    the venv's own: the installed labald comes first, and an editable install's finder there is never loaded
    (a .pth line adds a folder to sys.path without reading that folder's .pth files)."""
    started = time.monotonic()
    src = tmp_path / "src"  # a copy: pip builds in the source tree (build/, *.egg-info)
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for name in ("labald", "configs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python, labald = venv / "bin" / "python", venv / "bin" / "labald"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, env=env).stdout.strip())
    outer = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "outer_packages.pth").write_text("".join(f"{p}\n" for p in outer))
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--ignore-installed", "--no-index", str(src)],
                             capture_output=True, text=True, env=env, timeout=600)
    assert install.returncode == 0, install.stderr
    installed = time.monotonic()
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([python, "-c", "import labald, labald.cli.run as r; print(labald.__file__); "
                            "print(r.config_dir())"], capture_output=True, text=True, cwd=work, env=env)
    package, configs = map(Path, where.stdout.split())
    assert package == site / "labald" / "__init__.py", where.stdout
    assert configs == site / "labald" / "configs" and (configs / "config.yaml").is_file()
    assert {group: _options(configs, group) for group in GROUPS} == {
        group: _options(ROOT / "configs", group) for group in GROUPS}

    run = subprocess.run([labald, "run", *RUN], capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    out = work / "results" / "runs" / "digits" / "ss" / "seed=0"
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    help_text = subprocess.run([labald, "run", "--help"], capture_output=True, text=True, cwd=work, env=env,
                               timeout=300)
    assert help_text.returncode == 0, help_text.stderr
    assert "Usage: labald run [-m]" in help_text.stdout
    listed = _listed_groups(help_text.stdout)
    assert listed == {group: _options(ROOT / "configs", group) for group in GROUPS}
    assert "la_bald" in listed["method"] and "digits" in listed["dataset"] and "budget" in listed["stopping"]
    top = subprocess.run([labald, "--help"], capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert top.returncode == 0 and "{run,aggregate,propose,features}" in top.stdout, top.stderr
    print(f"install {installed - started:.1f} s, run and help {time.monotonic() - installed:.1f} s")
