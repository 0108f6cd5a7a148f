"""The documentation a user reads: docs/options.md is what configs/ hold and names every key a config
may set; the README stays short, links only to files that exist and needs nothing outside the repo."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from labald.config import config_keys

ROOT = Path(__file__).resolve().parents[1]


def _options_doc():
    spec = importlib.util.spec_from_file_location("options_doc", ROOT / "scripts" / "options_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_page_is_generated_from_the_configs():
    assert (ROOT / "docs" / "options.md").read_text() == _options_doc().render(), \
        "docs/options.md is out of date: run python scripts/options_doc.py"


def test_options_page_names_every_key_a_config_may_set():
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", (ROOT / "docs" / "options.md").read_text(), re.M))
    groups = {"dataset", "workers", "method", "stopping", "learner", "aggregation", "acquisition"}
    settable = {k for k in config_keys() if k not in groups and not k.endswith(".name")}
    assert settable - documented == set(), "keys a config may set but docs/options.md does not list"
    assert documented - config_keys() == set(), "keys docs/options.md lists that no config may set"


def test_options_page_shows_an_edited_comment(tmp_path):
    import shutil
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / "config.yaml"
    path.write_text(path.read_text().replace("# B, pairs per step", "# B, the pairs asked per step"))
    assert "B, the pairs asked per step" in _options_doc().render(tmp_path / "configs")


def test_readme_is_short_self_contained_and_links_to_files_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "../shared" not in text and "SPEC" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to missing {target}"
    assert not re.search(r"\bissue \d+", text)


def test_docs_say_what_the_software_does_not_how_it_was_developed():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "configs").rglob("*.yaml")]:
        assert not re.search(r"\bissues? \d+", path.read_text()), f"{path.relative_to(ROOT)} names an issue"


def test_package_cites_the_paper_not_a_spec_users_do_not_have():
    """Docstrings and comments cite the paper (section, equation, appendix) or say the rule in words:
    a user's clone has no SPEC document to look a "SPEC n" up in."""
    citing = []
    for path in sorted((ROOT / "labald").rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        data = path.read_bytes()
        if b"\0" in data:  # a binary file (.npz)
            continue
        lines = data.decode("utf-8", "replace").splitlines()
        citing += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(lines, 1) if re.search(r"SPEC [0-9]", line)]
    assert citing == [], "cites SPEC, which a user's clone does not have: " + ", ".join(citing)


# --- the README's results against results/reference ----------------------------------------------------

_CELL = re.compile(r"\*{0,2}(-?\d+\.\d) \((-?\d+\.\d) to (-?\d+\.\d)\), (\d+)/(\d+)\*{0,2}")


def _results_section(text: str) -> str:
    start = text.index("\n## Results")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _reference_cells(name: str = "comparison.csv") -> dict[tuple[str, str, str], tuple]:
    """(study title, comparison name, measure) -> (mean, low, high, wins, seeds) as the README prints
    them, for every mean-over-subtasks row of results/reference/<name>."""
    import pandas as pd

    from labald.figures.comparison import pair_name
    from labald.figures.style import setting_title

    table = pd.read_csv(ROOT / "results" / "reference" / name)
    table = table[table["dataset"] == "mean"]
    return {(setting_title(r.setting), pair_name(r.method, r.baseline), r.measure):
            (f"{r.mean:.1f}", f"{r.ci_low:.1f}", f"{r.ci_high:.1f}", str(r.wins), str(r.n_seeds))
            for r in table.itertuples()}


def test_the_readme_results_are_the_reference_tables():
    """Every cell of the README's results table is the reference comparison's row for its study, pair
    and measure, to the printed digit and with its bold (interval clear of 0); every interval quoted in
    the section's prose is one of the reference's rows."""
    section = _results_section((ROOT / "README.md").read_text())
    reference = _reference_cells()
    header = next(line for line in section.splitlines() if line.startswith("| study |"))
    measures = [re.sub(r"[`*]| \(.*\)", "", c).strip() for c in header.strip("|").split("|")[3:]]
    rows = [line for line in section.splitlines() if line.startswith("| ") and _CELL.search(line)]
    assert len(rows) >= 5, "the README's results table is missing"
    checked = 0
    for line in rows:
        study, comparison, _paper, *cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for measure, cell in zip(measures, cells):
            found = _CELL.fullmatch(cell)
            assert found, f"README: {study} / {comparison} / {measure}: {cell!r} is not 'mean (low to high), w/n'"
            expected = reference[(study, comparison, measure)]
            assert found.groups() == expected, f"README {study} / {comparison} / {measure}: {cell} vs {expected}"
            clear = float(expected[1]) > 0 or float(expected[2]) < 0
            assert cell.startswith("**") == clear, f"README {study} / {comparison} / {measure}: bold iff clear of 0"
            checked += 1
    assert checked >= 15
    quoted = {m.groups()[:3] for m in re.finditer(r"(-?\d+\.\d)%? \((-?\d+\.\d) to (-?\d+\.\d)\)", section)}
    known = {v[:3] for table in (reference, _reference_cells("comparison_real.csv")) for v in table.values()}
    assert quoted <= known, "README quotes an interval that results/reference lacks"


def test_the_readme_results_check_catches_a_number_that_drifted(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    first = _CELL.search(_results_section(text))
    drifted = f"{float(first.group(1)) + 0.1:.1f}"
    cell = first.group(0).replace(first.group(1), drifted, 1)
    (tmp_path / "README.md").write_text(text.replace(first.group(0), cell, 1))
    (tmp_path / "results").symlink_to(ROOT / "results")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    try:
        test_the_readme_results_are_the_reference_tables()
    except AssertionError:
        return
    raise AssertionError("a drifted README number passed the check")
