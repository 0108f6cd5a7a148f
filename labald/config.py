"""Config at the edge: RunSettings built from a plain config mapping (what `labald run` gets from
Hydra), every key spell-checked and every value checked before any work starts.

Each settings group checks its own values as it is built (`labald.settings`); what is checked here
needs the world outside the settings: the method among the registered samplers, a custom sampler
imported and built once, the device, the input files and folders, and the run directory.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from labald.data.kinds import own_workers
from labald.device import resolve_device
from labald.errors import LabaldError
from labald.identity import FILE_KEYS, output_dir
from labald.methods import CUSTOM
from labald.paths import check_destination
from labald.samplers.compose import methods
from labald.samplers.custom import check_custom_sampler
from labald.settings import GROUPS, TOP_LEVEL, RunSettings


@functools.lru_cache(maxsize=1)
def config_keys() -> frozenset[str]:
    """Every key a config may set, dotted (`seed`, `workers.n_crowd`, ...): the settings' own fields,
    the config groups, a group option's `name` and `resume`. Nothing else is read, so nothing else
    may be given."""
    keys = {"seed", "method", "resume", *TOP_LEVEL, *GROUPS, "method.name", "learner.name", "stopping.name",
            "method.sampler", "method.options"}
    for group, cls in GROUPS.items():
        keys |= {f"{group}.{f.name}" for f in fields(cls) if (group, f.name) != ("stopping", "rule")}
    return frozenset(keys)


def check_key(key: str) -> None:
    """LabaldError naming the nearest valid keys unless `key` is one of `config_keys`."""
    keys = config_keys()
    if key in keys or key.startswith("method.options."):  # a custom sampler's own options are free
        return
    group, _, name = key.rpartition(".")
    pool = sorted(k for k in keys if k.rpartition(".")[0] == group) or sorted(keys)
    names = {k.rpartition(".")[2]: k for k in pool}
    close = [names[n] for n in difflib.get_close_matches(name, list(names), n=2, cutoff=0.75)]
    hint = (f"did you mean {' or '.join(close)}?" if close else
            f"known keys{f' of {group}' if group else ''}: {', '.join(k.rpartition('.')[2] for k in pool)}")
    raise LabaldError(f"{key} is not a config key; {hint}")


def settings_from_config(cfg: Mapping[str, Any]) -> RunSettings:
    """Build and validate RunSettings from a resolved config mapping; LabaldError on any bad value."""
    for key in cfg:
        check_key(str(key))
    learner_cfg = dict(cfg.get("learner") or {})
    learner_name = learner_cfg.pop("name", "none")
    if learner_name not in ("none", "mlp"):
        raise LabaldError(f"learner={learner_name!r} is unknown; use learner=mlp or learner=none")
    if learner_name == "none" and learner_cfg:
        raise LabaldError(f"learner.{sorted(learner_cfg)[0]} is set but learner=none has no learner; "
                          "drop it or choose learner=mlp")
    method_cfg = dict(cfg.get("method") or {})
    for key in method_cfg:
        check_key(f"method.{key}")
    method = method_cfg.get("name")
    if method != CUSTOM and (method_cfg.get("sampler") is not None or method_cfg.get("options")):
        raise LabaldError("method.sampler and method.options are for method=custom (a sampler you bring)")
    options = method_cfg.get("options") or {}
    if not isinstance(options, Mapping):
        raise LabaldError(f"method.options must be a mapping of constructor arguments, got {options!r}")
    _check_method(method)
    stopping = dict(cfg.get("stopping") or {})
    stopping["rule"] = stopping.pop("name", stopping.get("rule"))
    dataset = dict(cfg.get("dataset") or {})
    workers = dict(cfg.get("workers") or {})
    if workers.get("source") == "labelme":  # LabelMe's real crowd: what workers=amt gives on dataset=labelme
        if not own_workers(dataset):
            raise LabaldError("workers=labelme is LabelMe's own crowd, for dataset=labelme; other datasets take "
                              "workers=amt (the real AMT crowd) or workers=synthetic")
        workers["source"] = "amt"
    if dataset.get("wnids") is not None:
        dataset["wnids"] = tuple(str(w) for w in dataset["wnids"])
    groups = {"dataset": dataset, "workers": workers, "aggregation": cfg.get("aggregation"),
              "acquisition": cfg.get("acquisition"), "stopping": stopping}
    built = {group: _build(group, values) for group, values in groups.items()}
    top = {name: cfg[name] for name in TOP_LEVEL if name in cfg}
    try:
        settings = RunSettings(
            seed=cfg.get("seed"), method=method, **built,
            learner=None if learner_name == "none" else _build("learner", learner_cfg),
            sampler=method_cfg.get("sampler") if method == CUSTOM else None,
            sampler_options=tuple(sorted((str(k), _frozen(v)) for k, v in options.items())),
            **top,
        )
    except TypeError as e:
        raise LabaldError(f"{e}; fix the value in the config or on the command line") from None
    validate(settings)
    return settings


def validate(s: RunSettings) -> None:
    """What the settings cannot check themselves: the method among the registered samplers (a custom
    sampler built once), the device, every input file and folder (before anything reads or hashes
    them), and the run directory. The first problem raises a LabaldError naming the key and the fix."""
    _check_method(s.method)
    if s.method == CUSTOM:
        check_custom_sampler(s.sampler, s.sampler_options)
    resolve_device(s.device)
    d = s.dataset
    for key in FILE_KEYS:
        value = getattr(d, key)
        if value and not Path(value).expanduser().is_file():
            what = "is a folder" if Path(value).expanduser().is_dir() else "does not exist"
            raise LabaldError(f"dataset.{key}={value} {what}; give the path of an existing file")
    if d.kind == "folder":
        from labald.data.images import check_folder_settings

        check_folder_settings(d)
    if d.kind == "labelme":
        from labald.data.labelme import find_folder

        find_folder(d.root, s.data_dir)
    check_destination(output_dir(s), "the run directory (results_dir / run_dir)")


def _check_method(method: Any) -> None:
    choices = (*methods(), CUSTOM)
    if method not in choices:
        raise LabaldError(f"method={method!r} is unknown; choose one of: {', '.join(choices)}")


def _build(group: str, values: Mapping[str, Any] | None):
    values = dict(values or {})
    for key in sorted(values):
        if key != "rule" or group != "stopping":
            check_key(f"{group}.{key}")
    try:
        return GROUPS[group](**values)
    except (TypeError, ValueError) as e:
        where = "" if str(e).startswith(f"{group}.") else f"{group}: "
        raise LabaldError(f"{where}{e}; fix the value in the config or on the command line") from None


def _frozen(value: Any) -> Any:
    """A config value as a hashable one: lists become tuples, mappings tuples of items."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value
