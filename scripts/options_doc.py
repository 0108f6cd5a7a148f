"""Write docs/options.md from configs/: every option of every config group, every key with its default
and the comment beside it in the config files, so the page cannot drift from what runs read.

Usage:
    python scripts/options_doc.py            # rewrite docs/options.md
    python scripts/options_doc.py --check    # exit 1 if docs/options.md differs from configs/

The text comes from the config files themselves: a group option's leading comment block describes it,
a key's trailing comment (`key: value  # ...`) describes the key. A test checks that the page equals
what this script writes and that it names every key a config may set (labald.config.config_keys).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("dataset", "workers", "method", "stopping", "learner")
SHARED = {"dataset": "sandbox_dataset.yaml"}  # keys every option of the group includes
SKIPPED_SECTIONS = ("defaults", "hydra")

INTRO = """# Options

Every key below can be set on the command line: `python run.py group=option key=value
group.key=value` in a checkout, or `labald run ...` (the same command line) wherever labald is
installed. Each run's resolved settings are written to its `config.yaml`; a key that is not listed
here is refused with the nearest valid names. Settings that differ from the paper's protocol name the
run's directory (`la_bald+workers.per_worker_per_step=none`), so runs of different settings never
share one. This page is generated from `configs/` by `python scripts/options_doc.py`; a test
keeps the two equal.
"""


def parse(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """(leading comment, [(dotted key, default, comment)]) of one flat-or-one-level-nested config file."""
    lines = path.read_text().splitlines()
    lead = []
    for line in lines:
        if not line.startswith("#"):
            break
        lead.append(line[1:])
    keys, section = [], None
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        body, _, comment = line.partition(" #")
        name, _, value = body.strip().partition(":")
        nested = line.startswith(" ")
        if not nested:
            section = name if not value.strip() else None
            if section is not None or name in SKIPPED_SECTIONS:
                continue
        elif section is None or section in SKIPPED_SECTIONS:
            continue
        keys.append((f"{section}.{name}" if nested else name, value.strip(), comment.strip()))
    return prose(lead), keys


def prose(comment: list[str]) -> str:
    """A leading comment block as Markdown: plain lines joined into paragraphs, lines indented past
    the comment's first column (examples, file formats) kept as they are in a text block."""
    out, block = [], []
    for line in comment:
        if line.startswith("  "):
            block.append(line[1:])
            continue
        if block:
            out += ["", "```text", *block, "```", ""]
            block = []
        out.append(line.strip())
    if block:
        out += ["", "```text", *block, "```"]
    text = "\n".join(out)
    return "\n\n".join(" ".join(p.split("\n")) if not p.startswith("```") else p
                       for p in text.split("\n\n")).strip()


def table(keys: list[tuple[str, str, str]], prefix: str = "") -> list[str]:
    rows = ["| key | default | what it does |", "| --- | --- | --- |"]
    rows += [f"| `{prefix}{k}` | `{v}` | {c.replace('|', '&#124;')} |" for k, v, c in keys]
    return rows


def render(configs: Path = ROOT / "configs") -> str:
    """The text of docs/options.md for the config files under `configs`."""
    _, top = parse(configs / "config.yaml")
    plain = [k for k in top if "." not in k[0]]
    out = [INTRO, "## Top-level keys", "", *table(plain), ""]
    for section in sorted({k.split(".")[0] for k, _, _ in top if "." in k}):
        out += [f"## `{section}`", "", *table([k for k in top if k[0].startswith(section + ".")]), ""]
    defaults = {}
    for line in (configs / "config.yaml").read_text().splitlines():
        name, _, option = line.strip().removeprefix("- ").partition(": ")
        if name in GROUPS:
            defaults[name] = option.strip()
    for group in GROUPS:
        out += [f"## `{group}=...` (default `{defaults.get(group, '')}`)", ""]
        if group in SHARED:
            lead, keys = parse(configs / SHARED[group])
            out += [f"Keys every `{group}` option has: {lead}", "", *table(keys, f"{group}."), ""]
        for path in sorted((configs / group).glob("*.yaml")):
            lead, keys = parse(path)
            keys = [k for k in keys if k[0] != "name"]
            out += [f"### `{group}={path.stem}`", ""]
            if lead:
                out += [lead, ""]
            if keys:
                out += [*table(keys, f"{group}."), ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/options.md is not up to date")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "options.md")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run python scripts/options_doc.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
