"""The documentation a user reads: docs/options.md is what configs/ hold and names every key a config
may set; the README stays short, links only to files that exist and needs nothing outside the repo."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from labald.settings import config_keys

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
