"""A run's identity, from its settings: how it differs from the paper's protocol (`protocol_diff`),
the directory that difference names (`run_name`, `output_dir`), the study figures file it under
(`study_slug`), and the fingerprint and input tags a checkpoint must match to be resumed.

One table says which settings change results (every setting but those in NOT_RESULTS): run names
and fingerprints read the same table, so a setting that names a run also fingerprints it, and a
setting that may change on a stopped run (where results go, threads, the scoring block size)
neither renames it nor stops it resuming. Torch-free: figures and tables read runs through it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from labald import compat
from labald.data import kind_of
from labald.data.images import folder_tag
from labald.data.kinds import from_file, generated, own_crowd, replays_log, synthetic_only
from labald.methods import CUSTOM, custom_method_key, uses_influence
from labald.paths import file_tag
from labald.settings import GROUPS, RunSettings, defaults

# Settings that change how a result is computed or where it goes, never what it is: left out of
# run names and fingerprints alike, so changing one on a stopped run resumes it.
NOT_RESULTS = frozenset({
    "results_dir", "run_dir", "data_dir", "threads", "device",
    "max_steps",  # a larger value extends a finished run
    "acquisition.chunk", "acquisition.prune",  # images per scoring block; pruning finds the same batch
    "dataset.extract_batch_size", "dataset.extract_workers",  # how a folder's features are extracted
})
# Options that run names show in their own words (`ss+imbalance=10+n_per_class=200`, `+local=exact`,
# `+workers=synthetic`, `+budget=2`, `+cost=2`); every other option off its default is named
# `+group.key=value` (`ablation_changes`) and `make figures` keeps such runs out of the main study.
NAMED_ELSEWHERE = frozenset({"dataset.name", "dataset.n_per_class", "dataset.imbalance_ratio", "workers.source",
                             "acquisition.local", "stopping.rule", "stopping.annotations_per_image",
                             "stopping.cost_per_image"})
FILE_KEYS = ("answers_path", "features_path", "labels_path")  # dataset inputs named by their content
PANEL_KEYS = ("n_per_class",)  # protocol differences that figures show as the panel, not the study
# The paper's protocol of the top-level settings that run names show in their own words.
_PAPER_RUN = {f.name: f.default for f in fields(RunSettings)
              if f.name in ("batch_size", "batch_ramp", "max_per_image", "confidence")}
# Settings of the simulated crowd, which a replayed log's own workers replace.
_CROWD_KEYS = {"workers", "workers.source", "workers.n_crowd", "workers.n_expert", "workers.mean_accuracy"}
# How simulated answers are drawn, part of every fingerprint: a checkpoint whose answers were drawn
# another way never resumes into this world.
ANSWER_DRAWS = "per-pair"


def protocol_diff(config: RunSettings | Mapping[str, Any]) -> dict[str, str]:
    """Every setting of a run that differs from the paper's protocol, `key: value` as run names show
    them, in the order they show them: `budget` (the budget stopping rule's annotations per image),
    `cost` (the money budget's cost per image) or `stopping` (another rule), `imbalance`,
    `n_per_class`, `local` (for the methods it changes), `learner=none`, `workers`, `batch_size`,
    `max_per_image`, `confidence`, every other option off its default as `group.key`
    (`ablation_changes`), then `replicate` and `rerun`.

    `config` is a run's settings, or a plain mapping of them (a run's config.yaml) or part of one
    (missing keys take their defaults). The one comparison with the protocol: it names the run
    directory (`run_name`), is written to summary.json, and is what figures group runs by (all but
    PANEL_KEYS, which make the panel)."""
    if isinstance(config, RunSettings):
        config = dataclasses.asdict(config)
    dataset, stopping = config.get("dataset") or {}, config.get("stopping") or {}
    diff: dict[str, str] = {}
    rule = stopping.get("rule") or stopping.get("name") or "unconfident"
    if rule == "budget":
        diff["budget"] = _text(stopping.get("annotations_per_image"))
    elif rule == "cost":
        diff["cost"] = _text(stopping.get("cost_per_image"))
    elif rule != "unconfident":
        diff["stopping"] = str(rule)
    if float(dataset.get("imbalance_ratio") or 1) != 1:
        diff["imbalance"] = _text(dataset["imbalance_ratio"])
    if dataset.get("n_per_class") is not None:
        diff["n_per_class"] = _text(dataset["n_per_class"])
    method, local = config.get("method"), (config.get("acquisition") or {}).get("local", "paper")
    if local != "paper" and uses_influence(str(method)):
        diff["local"] = str(local)
    if "learner" in config and config["learner"] is None:
        diff["learner"] = "none"
    if (config.get("workers") or {}).get("source", "amt") != "amt":
        diff["workers"] = str(config["workers"]["source"])
    for key, paper in _PAPER_RUN.items():
        if key in config and config[key] != paper:
            diff[key] = _text(config[key])
    diff.update((key, _text(value)) for key, value in sorted(ablation_changes(config).items()))
    for key in ("replicate", "rerun"):
        if config.get(key):
            diff[key] = _text(config[key])
    unused = unused_keys(dataset)
    return {key: value for key, value in diff.items() if key not in unused}


def unused_keys(dataset: Mapping[str, Any]) -> set[str]:
    """Protocol differences the run's dataset ignores, left out of its name: the simulated crowd's
    settings in a replay (and its AMT-or-synthetic source on digits, which has no AMT data); the
    sandbox generator's without it; standardization without a features file."""
    unused = set()
    if replays_log(dataset):
        unused |= _CROWD_KEYS | {"workers.cost_expert"}  # a replayed log knows no experts
    elif own_crowd(dataset):
        unused |= {"workers.n_crowd"}  # the crowd is the data's own real workers
    if synthetic_only(dataset):
        unused |= {"workers", "workers.source"}
    if not generated(dataset):
        unused |= {"dataset.feature_dim", "dataset.separation"}
    if not from_file(dataset):
        unused.add("dataset.standardize")
    return unused


def ablation_changes(groups: Mapping[str, Any]) -> dict[str, Any]:
    """`group.key: value` for every option of the config groups in `groups` (a group name to its
    values, as in a config) that differs from its default, except those run names show in their own
    words (NAMED_ELSEWHERE) and those that do not change results (NOT_RESULTS); a file's value is a
    short hash of its content (`file_tag`). Shared by run names and figures, so every result-changing
    option names its runs and keeps them out of the main study."""
    changed = {}
    for group in GROUPS:
        values = groups.get(group)
        if not isinstance(values, Mapping):
            continue
        # the dataset options digits, custom and replay are their own kind
        name = str(values.get("name", ""))
        default = defaults(group, name=name, kind=kind_of(name)) if group == "dataset" else defaults(group)
        for f in sorted(fields(default), key=lambda f: f.name):
            key, value = f"{group}.{f.name}", values.get(f.name, getattr(default, f.name))
            if key in NAMED_ELSEWHERE or key in NOT_RESULTS or _same(value, getattr(default, f.name)):
                continue
            if f.name in FILE_KEYS or (f.name == "weights" and value not in ("default", "none")):
                changed[key] = file_tag(value)
            elif f.name == "root":  # a folder of images: its file list, so an edited folder gets new runs
                changed[key] = folder_tag(value)
            else:
                changed[key] = _short(value)
    return changed


def run_name(method: str, diff: Mapping[str, str]) -> str:
    """The run directory's name: the method, then `+key=value` for each difference from the paper's
    protocol (`protocol_diff`), so runs of different settings never share a directory."""
    return "+".join([method, *(f"{key}={value}" for key, value in diff.items())])


def output_dir(settings: RunSettings) -> Path:
    """<results_dir>/runs/<dataset>/<run name>/seed=<seed>, or `run_dir` when given."""
    if settings.run_dir:
        return Path(settings.run_dir)
    method = settings.method
    if settings.method == CUSTOM:  # the class's path, then its options, each as a tag
        method = custom_method_key(settings.sampler) + "".join(
            f"+method.options.{k}={_text(v)}" for k, v in settings.sampler_options)
    return Path(settings.results_dir) / "runs" / settings.dataset.name / run_name(method, protocol_diff(settings)) / \
        f"seed={settings.seed}"


def study_slug(diff: Mapping[str, str]) -> str:
    """The study a run belongs to, as figures and tables name it: its protocol differences but the
    panel's, joined by commas; `main` for the paper's protocol."""
    return ",".join(f"{key}={value}" for key, value in diff.items() if key not in PANEL_KEYS) or "main"


def fingerprint(settings: RunSettings) -> str:
    """Hash of every setting that changes results (all but NOT_RESULTS), with the keys added to the
    settings after run directories existed left out while at their defaults (`compat.LATER_KEYS`),
    and the way answers are drawn: a checkpoint resumes only under the same hash."""
    return _hash(_fingerprinted(settings, NOT_RESULTS))


def accepted_fingerprints(settings: RunSettings) -> set[str]:
    """The fingerprints a checkpoint of these settings may hold: today's, and the ones checkpoints
    written before took of the same settings (`compat.ONCE_FINGERPRINTED`)."""
    return {fingerprint(settings), _hash(_fingerprinted(settings, NOT_RESULTS - compat.ONCE_FINGERPRINTED))}


def _fingerprinted(settings: RunSettings, skip: frozenset[str]) -> dict:
    values = dataclasses.asdict(settings)
    for key in skip:
        group, _, name = key.rpartition(".")
        (values[group] if group else values).pop(name, None)
    if settings.sampler is None:  # a built-in sampler: the custom-sampler keys stay out of its fingerprint
        del values["sampler"], values["sampler_options"]
    values = compat.drop_later_defaults(values)
    values["answer_draws"] = ANSWER_DRAWS
    return values


def _hash(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def input_tags(settings: RunSettings) -> dict[str, str]:
    """`dataset.<key>: content hash` of every input file the run reads (features, labels, answer log):
    a checkpoint resumes only on the same content."""
    d = settings.dataset
    return {f"dataset.{key}": file_tag(getattr(d, key)) for key in FILE_KEYS if getattr(d, key)}


def _text(value: Any) -> str:
    """A setting's value as run names show it: booleans in lower case, whole floats without `.0`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return a is not None and b is not None and list(a) == list(b)
    return a == b


def _short(value: Any) -> Any:
    """A value as a run name shows it: lists joined by '-', and anything longer than 24 characters as
    `h` plus 8 hex digits of its hash."""
    text = "-".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    if isinstance(text, str) and len(text) > 24:
        return "h" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text
