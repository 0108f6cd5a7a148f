"""Typed run settings built from a plain config mapping (what `run.py` gets from Hydra), with every
value range-checked before any work starts. Components only ever see these dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from labald import streams
from labald.data import FROM_FILE_KINDS, KINDS, REAL_DATASETS, DatasetSettings, kind_of
from labald.data.images import folder_tag
from labald.data.pool import require_classes
from labald.device import resolve_device
from labald.errors import LabaldError
from labald.learner import LearnerSettings
from labald.paths import check_destination, file_tag
from labald.samplers.compose import METHOD_SKILLS, methods, parts, uses_influence
from labald.samplers.custom import CUSTOM, check_custom_sampler, custom_method_key
from labald.stopping import RULES, StoppingSettings
from labald.workers import WorkerSettings
from labald.workers.dynamics import DYNAMICS

LOCAL_FORMS = ("paper", "exact")


@dataclass(frozen=True)
class AggregationSettings:
    """`aggregation.*`: Dirichlet prior strength, EM iterations and tolerance, prior mean accuracy
    (None = the average per-class accuracy of the run's workers, as the paper sets it), and whether
    EM runs again after the learner is retrained (`reinfer`, Liao et al.'s order)."""

    prior_strength: float = 1.0
    max_iter: int = 10
    tol: float = 1e-3
    prior_accuracy: float | None = None
    reinfer: bool = True  # EM again after the learner is retrained, with the new model as prior
    # "average per-class accuracy" (paper, Sec. 4) read as one number (scalar: the mean over classes
    # and workers of W_j[k, k]) or as one per class (per_class: row k's diagonal is the mean over
    # workers of W_j[k, k]); ignored when prior_accuracy is given
    prior_diagonal: str = "scalar"
    # workers whose skill changes: each step's confusions estimated from every step's answers weighted
    # forgetting^(steps apart) (labald.aggregation.em); 1.0: one confusion per worker (the paper)
    forgetting: float = 1.0


@dataclass(frozen=True)
class AcquisitionSettings:
    """`acquisition.*`: form of the local influence and images per scoring block."""

    local: str = "paper"
    chunk: int = 2048
    # greedy J-BALD / LA-BALD score only the images whose score bound can reach the batch (the same
    # batch and Jaccard columns as scoring every image, faster); false scores every image
    prune: bool = True
    # ties in the top-k pair sets of the Jaccard columns: a seeded random order per ranking, as
    # selection breaks them (random), or by pair index (index)
    jaccard_ties: str = "random"
    # method=power_bald: images drawn with probability proportional to (best J-BALD score)^power_beta
    power_beta: float = 1.0
    # methods that take pairs by score (j_bald, la_bald, eag): greedily by score (SPEC 5), or the B pairs
    # of the largest total score under the same constraints (matching: a max-weight b-matching)
    assignment: str = "greedy"
    # methods with a pair score (all but ss): the worker confusions the score uses: EM's What (SPEC 5),
    # or What with each worker's diagonal set to its one-coin skill learned from the answers (one_coin;
    # labald.samplers.skill), or to the simulated crew's true skill (oracle: a bound, never available on
    # a real campaign), or each group's confusion pooled over its answers (group)
    worker_skill: str = "em"
    # with worker_skill=one_coin: one prior for the crew (none), or one per group of workers known in
    # advance (experts: hired experts and crowd, each with its own type-II-ML prior); with group: the
    # groups whose answers are pooled (none: the whole crew is one group)
    skill_groups: str = "none"
    # methods with a pair score (all but ss): rank pairs by score per unit of money, s_ij / c_j (the
    # worker's price, `workers.cost_crowd` / `cost_expert`), instead of by score (`PerCost`)
    per_cost: bool = False


@dataclass(frozen=True)
class RunSettings:
    seed: int
    method: str
    dataset: DatasetSettings
    workers: WorkerSettings
    aggregation: AggregationSettings
    learner: LearnerSettings | None  # None: learner=none, uniform prior
    acquisition: AcquisitionSettings
    stopping: StoppingSettings
    batch_size: int = 100
    # None: B pairs every step. b: step 1 asks b pairs, each later step twice its predecessor, up to B
    # (`step_batch`): the first retrainings lift the labels by themselves, with or without answers
    batch_ramp: int | None = None
    max_per_image: int = 3
    confidence: float = 0.9
    max_steps: int = 10_000
    results_dir: str = "results"
    data_dir: str | None = None
    run_dir: str | None = None  # None: <results_dir>/runs/<dataset>/<method>/seed=<seed>
    threads: int | None = None  # torch/BLAS threads; None: all cores, or a sweep job's share (run.py)
    device: str = "auto"  # auto | cpu | cuda: where the learner and the scoring run (labald.device)
    # 0: the seed's world of answers. r > 0: another world on the same pool, crowd and prototype split
    # (every pair's answer drawn anew); the runs of all samplers with one replicate share it
    replicate: int = 0
    # 0: the seed's own luck. r > 0: the same world with other luck in what the run itself draws
    # (selection ties, the learner's initialisation, batches, dropout and folds): a sampler against
    # itself on one world, the A/A check of a paired comparison
    rerun: int = 0
    # method=custom: the sampler's class, `module:Class`, and its constructor's keyword arguments
    sampler: str | None = None
    sampler_options: tuple[tuple[str, Any], ...] = ()

    @property
    def method_key(self) -> str:
        """The method as figures and tables name it: `method`, or a custom sampler's `module.Class[...]`."""
        if self.method == CUSTOM:
            return custom_method_key(self.sampler, self.sampler_options)
        return self.method

    @property
    def answer_seed(self) -> int:
        """The key of the world of answers: `seed` for replicate 0, else derived from (seed, replicate)."""
        return _derived(self.seed, streams.REPLICATE, self.replicate)

    @property
    def luck_seed(self) -> int:
        """The seed of the run's own draws (selection, learner): `seed` for rerun 0, else derived from
        (seed, rerun)."""
        return _derived(self.seed, streams.RERUN, self.rerun)

    def protocol_diff(self) -> dict[str, str]:
        """What this run does differently from the paper's protocol (`protocol_diff`)."""
        return protocol_diff(dataclasses.asdict(self))

    @property
    def output_dir(self) -> Path:
        """<results_dir>/runs/<dataset>/<run name>/seed=<seed>, or `run_dir` when given."""
        if self.run_dir:
            return Path(self.run_dir)
        method = self.method
        if self.method == CUSTOM:  # the class's path, then its options, each as a tag
            method = custom_method_key(self.sampler) + "".join(
                f"+method.options.{k}={_text(v)}" for k, v in self.sampler_options)
        return Path(self.results_dir) / "runs" / self.dataset.name / run_name(method, self.protocol_diff()) / \
            f"seed={self.seed}"


_PAPER_RUN = {f.name: f.default for f in fields(RunSettings)
              if f.name in ("batch_size", "batch_ramp", "max_per_image", "confidence")}
PANEL_KEYS = ("n_per_class",)  # protocol differences that figures show as the panel, not the study


def protocol_diff(config: Mapping[str, Any]) -> dict[str, str]:
    """Every setting of a run that differs from the paper's protocol, `key: value` as run names show
    them, in the order they show them: `budget` (the budget stopping rule's annotations per image),
    `cost` (the money budget's cost per image) or `stopping` (another rule), `imbalance`,
    `n_per_class`, `local` (for the methods it changes), `learner=none`, `workers`, `batch_size`,
    `max_per_image`, `confidence`, every other option off its default as `group.key`
    (`ablation_changes`), then `replicate` and `rerun`.

    `config` is a run's settings as a plain mapping (`dataclasses.asdict(RunSettings)`, a run's
    config.yaml) or part of one (missing keys take their defaults). The one comparison with the
    protocol: it names the run directory (`run_name`), is written to summary.json, and is what
    figures group runs by (all but PANEL_KEYS, which make the panel)."""
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
    if local != "paper" and method in methods() and uses_influence(method):
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


# Settings of the simulated crowd, which a replayed log's own workers replace.
_CROWD_KEYS = {"workers", "workers.source", "workers.n_crowd", "workers.n_expert", "workers.mean_accuracy"}


def unused_keys(dataset: Mapping[str, Any]) -> set[str]:
    """Protocol differences the run's dataset ignores, left out of its name: the simulated crowd's
    settings in a replay (and its AMT-or-synthetic source on digits, which has no AMT data); the
    sandbox generator's without it; standardization without a features file."""
    kind = dataset.get("kind") or kind_of(str(dataset.get("name", "")))
    from_file = kind in FROM_FILE_KINDS or bool(dataset.get("features_path"))
    unused = set()
    if kind == "replay" or (kind == "labelme" and dataset.get("replay")):
        unused |= _CROWD_KEYS | {"workers.cost_expert"}  # a replayed log knows no experts
    elif kind == "labelme":
        unused |= {"workers.n_crowd"}  # the crowd is LabelMe's own real workers
    if kind == "digits":
        unused |= {"workers", "workers.source"}
    if kind != "sandbox" or from_file:
        unused |= {"dataset.feature_dim", "dataset.separation"}
    if not from_file:
        unused.add("dataset.standardize")
    return unused


def run_name(method: str, diff: Mapping[str, str]) -> str:
    """The run directory's name: the method, then `+key=value` for each difference from the paper's
    protocol (`protocol_diff`), so runs of different settings never share a directory."""
    return "+".join([method, *(f"{key}={value}" for key, value in diff.items())])


def study_slug(diff: Mapping[str, str]) -> str:
    """The study a run belongs to, as figures and tables name it: its protocol differences but the
    panel's, joined by commas; `main` for the paper's protocol."""
    return ",".join(f"{key}={value}" for key, value in diff.items() if key not in PANEL_KEYS) or "main"


def _text(value: Any) -> str:
    """A setting's value as run names show it: booleans in lower case, whole floats without `.0`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _frozen(value: Any) -> Any:
    """A config value as a hashable one: lists become tuples, mappings tuples of items."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _derived(seed: int, purpose: int, index: int) -> int:
    """`seed` itself for index 0, else a 63-bit seed drawn from (seed, purpose, index)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, purpose, index]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def ablation_changes(groups: Mapping[str, Any]) -> dict[str, Any]:
    """`group.key: value` for every option of the config groups in `groups` (a group name to its
    values, as in a config) that differs from its default, except those run names show in their own
    words (NAMED_ELSEWHERE) and those that do not change results (NOT_RESULTS); a file's value is a
    short hash of its content (`file_tag`). Shared by run names and figures, so every result-changing
    option names its runs and keeps them out of the main study."""
    defaults = {"dataset": DatasetSettings(name=""), "aggregation": AggregationSettings(),
                "learner": LearnerSettings(), "workers": WorkerSettings(), "acquisition": AcquisitionSettings(),
                "stopping": StoppingSettings()}
    changed = {}
    for group, default in defaults.items():
        values = groups.get(group)
        if not isinstance(values, Mapping):
            continue
        skip = NAMED_ELSEWHERE.get(group, set()) | NOT_RESULTS.get(group, set())
        if group == "dataset":  # the dataset options digits, custom and replay are their own kind
            default = dataclasses.replace(default, kind=kind_of(str(values.get("name", ""))))
        for f in sorted(fields(default), key=lambda f: f.name):
            value = values.get(f.name, getattr(default, f.name))
            if f.name in skip or _same(value, getattr(default, f.name)):
                continue
            if f.name in FILE_KEYS or (f.name == "weights" and value not in ("default", "none")):
                changed[f"{group}.{f.name}"] = file_tag(value)
            elif f.name == "root":  # a folder of images: its file list, so an edited folder gets new runs
                changed[f"{group}.{f.name}"] = folder_tag(value)
            else:
                changed[f"{group}.{f.name}"] = _short(value)
    return changed


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


@functools.lru_cache(maxsize=1)
def config_keys() -> frozenset[str]:
    """Every key a config may set, dotted (`seed`, `workers.n_crowd`, ...): the settings' own fields,
    the config groups, a group option's `name` and `resume`. Nothing else is read, so nothing else
    may be given."""
    groups = {"dataset": DatasetSettings, "workers": WorkerSettings, "aggregation": AggregationSettings,
              "learner": LearnerSettings, "acquisition": AcquisitionSettings, "stopping": StoppingSettings}
    keys = {"seed", "method", "resume", *_TOP_LEVEL, *groups, "method.name", "learner.name", "stopping.name",
            "method.sampler", "method.options"}
    for group, cls in groups.items():
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
    stopping = dict(cfg.get("stopping") or {})
    stopping["rule"] = stopping.pop("name", stopping.get("rule"))
    dataset = dict(cfg.get("dataset") or {})
    workers = dict(cfg.get("workers") or {})
    if workers.get("source") == "labelme":  # LabelMe's real crowd: what workers=amt gives on dataset=labelme
        if (dataset.get("kind") or kind_of(str(dataset.get("name", "")))) != "labelme":
            raise LabaldError("workers=labelme is LabelMe's own crowd, for dataset=labelme; other datasets take "
                              "workers=amt (the real AMT crowd) or workers=synthetic")
        workers["source"] = "amt"
    if dataset.get("wnids") is not None:
        dataset["wnids"] = tuple(str(w) for w in dataset["wnids"])
    settings = RunSettings(
        seed=cfg.get("seed"),
        method=method,
        dataset=_build(DatasetSettings, dataset, "dataset"),
        workers=_build(WorkerSettings, workers, "workers"),
        aggregation=_build(AggregationSettings, cfg.get("aggregation"), "aggregation"),
        learner=None if learner_name == "none" else _build(LearnerSettings, learner_cfg, "learner"),
        acquisition=_build(AcquisitionSettings, cfg.get("acquisition"), "acquisition"),
        stopping=_build(StoppingSettings, stopping, "stopping"),
        sampler=method_cfg.get("sampler") if method == CUSTOM else None,
        sampler_options=tuple(sorted((str(k), _frozen(v)) for k, v in options.items())),
        **{f.name: cfg[f.name] for f in fields(RunSettings) if f.name in cfg and f.name in _TOP_LEVEL},
    )
    validate(settings)
    return settings


PRIOR_DIAGONALS = ("scalar", "per_class")
JACCARD_TIES = ("random", "index")
ASSIGNMENTS = ("greedy", "matching")
WORKER_SKILLS = ("em", "one_coin", "group", "oracle")
SKILL_GROUPS = ("none", "experts")
# Options that run names show in their own words (`ss+imbalance=10+n_per_class=200`, `+local=exact`,
# `+workers=synthetic`, `+budget=2`, `+cost=2`); every other option off its default is named
# `+group.key=value` (ablation_changes) and `make figures` keeps such runs out of the main study.
NAMED_ELSEWHERE = {"dataset": {"name", "n_per_class", "imbalance_ratio"}, "workers": {"source"},
                   "acquisition": {"local"}, "stopping": {"rule", "annotations_per_image", "cost_per_image"}}
# Options that change how a result is computed, never what it is: scoring block size.
NOT_RESULTS = {"acquisition": {"chunk", "prune"}, "dataset": {"extract_batch_size", "extract_workers"}}
FILE_KEYS = {"features_path", "labels_path", "answers_path"}
_TOP_LEVEL = {"batch_size", "batch_ramp", "max_per_image", "confidence", "max_steps", "results_dir", "data_dir",
              "run_dir", "threads", "device", "replicate", "rerun"}


def _build(cls, values: Mapping[str, Any] | None, group: str):
    values = dict(values or {})
    for key in sorted(values):
        if key != "rule" or group != "stopping":
            check_key(f"{group}.{key}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        where = "" if str(e).startswith(f"{group}.") else f"{group}: "
        raise LabaldError(f"{where}{e}; fix the value in the config or on the command line") from None


def validate(s: RunSettings) -> None:
    """Range-check every value; the first problem raises a LabaldError naming the key and the fix."""
    _int("seed", s.seed, 0)
    _int("replicate", s.replicate, 0)
    _int("rerun", s.rerun, 0)
    _choice("method", s.method, (*methods(), CUSTOM))
    if s.method == CUSTOM:
        check_custom_sampler(s.sampler, s.sampler_options)
    _int("batch_size", s.batch_size, 1)
    _int("batch_ramp", s.batch_ramp, 1, optional=True)
    if s.batch_ramp is not None and s.batch_ramp > s.batch_size:
        raise LabaldError(f"batch_ramp={s.batch_ramp} is larger than batch_size={s.batch_size}; the ramp starts "
                          "below B (e.g. batch_ramp=1) or is null")
    _int("max_per_image", s.max_per_image, 1)
    _open_unit("confidence", s.confidence)
    _int("max_steps", s.max_steps, 1)
    _int("threads", s.threads, 1, optional=True)
    resolve_device(s.device)
    d = s.dataset
    _choice("dataset.kind", d.kind, KINDS)
    for key in ("features_path", "labels_path", "answers_path"):  # before anything reads or hashes them
        value = getattr(d, key)
        if value and not Path(value).expanduser().is_file():
            what = "is a folder" if Path(value).expanduser().is_dir() else "does not exist"
            raise LabaldError(f"dataset.{key}={value} {what}; give the path of an existing file")
    if d.kind == "folder":
        from labald.data.images import check_folder_settings

        check_folder_settings(d)
    if d.kind == "real" and d.name not in REAL_DATASETS:
        raise LabaldError(f"dataset.kind=real is for the committed real-image subtasks ({', '.join(REAL_DATASETS)}); "
                          f"dataset.name={d.name} is none of them")
    if not isinstance(d.replay, bool):
        raise LabaldError(f"dataset.replay={d.replay!r} is invalid; it must be true or false")
    if d.replay and d.kind != "labelme":
        raise LabaldError("dataset.replay=true replays LabelMe's real log (dataset=labelme); to replay a log of "
                          "your own use dataset=replay")
    if d.kind == "labelme":
        from labald.data.labelme import find_folder

        find_folder(d.root, s.data_dir)
    _int("dataset.n_per_class", d.n_per_class, 1, optional=True)
    _int("dataset.n_prototypes", d.n_prototypes, 2)
    _number("dataset.imbalance_ratio", d.imbalance_ratio, 1.0)
    _int("dataset.feature_dim", d.feature_dim, 1)
    _number("dataset.separation", d.separation, 0.0, strict=True)
    if not isinstance(d.standardize, bool):
        raise LabaldError(f"dataset.standardize={d.standardize!r} is invalid; it must be true or false")
    w = s.workers
    _choice("workers.source", w.source, ("amt", "synthetic"))  # labelme: an alias, see settings_from_config
    _int("workers.n_crowd", w.n_crowd, 0)
    _int("workers.n_expert", w.n_expert, 0)
    if w.n_crowd + w.n_expert < 1:
        raise LabaldError("workers.n_crowd + workers.n_expert is 0; at least one worker is needed")
    if w.mean_accuracy is not None:
        _open_unit("workers.mean_accuracy", w.mean_accuracy)
    cap = w.per_worker_per_step  # "none": no per-step cap (the paper names none)
    if cap != "none" and (cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1)):
        raise LabaldError(f"workers.per_worker_per_step={cap!r} is invalid; it must be an integer >= 1, null "
                          "(ceil(2B/M), the default) or none (no per-step cap)")
    _int("workers.max_per_worker", w.max_per_worker, 1, optional=True)
    _number("workers.cost_crowd", w.cost_crowd, 0.0, strict=True)
    _number("workers.cost_expert", w.cost_expert, 0.0, strict=True)
    _choice("workers.dynamics", w.dynamics, DYNAMICS)
    for key in ("learning_gain", "fatigue_loss", "fatigue_recovery", "spammer_share"):
        _unit(f"workers.{key}", getattr(w, key))
    for key in ("learning_answers", "fatigue_answers"):
        _number(f"workers.{key}", getattr(w, key), 0.0, strict=True)
    _number("workers.drift_sd", w.drift_sd, 0.0)
    _int("workers.spammer_by_step", w.spammer_by_step, 1)
    a = s.aggregation
    _number("aggregation.prior_strength", a.prior_strength, 0.0)
    _int("aggregation.max_iter", a.max_iter, 1)
    if not (isinstance(a.forgetting, (int, float)) and not isinstance(a.forgetting, bool)
            and 0 < a.forgetting <= 1):
        raise LabaldError(f"aggregation.forgetting={a.forgetting!r} is invalid; it must lie in (0, 1], e.g. 0.9 "
                          "(1: the paper's EM, one confusion per worker)")
    _number("aggregation.tol", a.tol, 0.0, strict=True)
    if a.prior_accuracy is not None:
        _open_unit("aggregation.prior_accuracy", a.prior_accuracy)
    _choice("aggregation.prior_diagonal", a.prior_diagonal, PRIOR_DIAGONALS)
    if not isinstance(a.reinfer, bool):
        raise LabaldError(f"aggregation.reinfer={a.reinfer!r} is invalid; it must be true or false")
    # learner values are range-checked by LearnerSettings itself when it is built
    _choice("acquisition.local", s.acquisition.local, LOCAL_FORMS)
    _int("acquisition.chunk", s.acquisition.chunk, 1)
    if not isinstance(s.acquisition.prune, bool):
        raise LabaldError(f"acquisition.prune={s.acquisition.prune!r} is invalid; it must be true or false")
    _choice("acquisition.jaccard_ties", s.acquisition.jaccard_ties, JACCARD_TIES)
    _number("acquisition.power_beta", s.acquisition.power_beta, 0.0)
    _choice("acquisition.assignment", s.acquisition.assignment, ASSIGNMENTS)
    _choice("acquisition.worker_skill", s.acquisition.worker_skill, WORKER_SKILLS)
    _choice("acquisition.skill_groups", s.acquisition.skill_groups, SKILL_GROUPS)
    if s.method != CUSTOM:
        score, rule = parts(s.method)
        if s.acquisition.assignment != "greedy" and rule != "greedy":
            raise LabaldError(f"acquisition.assignment={s.acquisition.assignment} is for methods that take pairs by "
                              f"score ({', '.join(m for m in methods() if parts(m)[1] == 'greedy')}); "
                              f"method={s.method} assigns {rule.replace('_', ' ')}")
        if s.acquisition.worker_skill != "em" and score is None:
            raise LabaldError(f"acquisition.worker_skill={s.acquisition.worker_skill} changes a pair score's "
                              f"worker confusions; method={s.method} has no score")
    if not isinstance(s.acquisition.per_cost, bool):
        raise LabaldError(f"acquisition.per_cost={s.acquisition.per_cost!r} is invalid; it must be true or false")
    if s.acquisition.per_cost and (s.method == CUSTOM or parts(s.method)[0] is None):
        raise LabaldError(f"acquisition.per_cost=true ranks a pair score per unit of money; method={s.method} has "
                          "no score of the package's (a custom sampler reads candidates.cost_M itself)")
    if s.method in METHOD_SKILLS and (s.acquisition.worker_skill, s.acquisition.skill_groups) != ("em", "none"):
        worker_skill, skill_groups = METHOD_SKILLS[s.method]
        raise LabaldError(f"method={s.method} scores with worker_skill={worker_skill} and skill_groups={skill_groups} "
                          "by definition; leave acquisition.worker_skill and skill_groups unset, or take method="
                          f"{parts(s.method)[0]} with the skill model you want")
    if s.acquisition.skill_groups != "none" and s.acquisition.worker_skill not in ("one_coin", "group"):
        raise LabaldError(f"acquisition.skill_groups={s.acquisition.skill_groups} needs "
                          "acquisition.worker_skill=one_coin or group (the groups set the skills' priors or pools)")
    st = s.stopping
    _choice("stopping", st.rule, RULES)
    _int("stopping.patience", st.patience, 1)
    if st.rule == "budget":
        if st.annotations_per_image is None:
            raise LabaldError("stopping=budget needs stopping.annotations_per_image=<number>, e.g. 2")
        _number("stopping.annotations_per_image", st.annotations_per_image, 0.0, strict=True)
        if st.annotations_per_image > s.max_per_image:
            raise LabaldError(
                f"stopping.annotations_per_image={st.annotations_per_image} exceeds max_per_image="
                f"{s.max_per_image}; lower the budget or raise max_per_image"
            )
    if st.rule == "cost":
        if st.cost_per_image is None:
            raise LabaldError("stopping=cost needs stopping.cost_per_image=<money per pool image>, e.g. 2")
        _number("stopping.cost_per_image", st.cost_per_image, 0.0, strict=True)
    check_destination(s.output_dir, "the run directory (results_dir / run_dir)")
    if d.wnids is not None:
        require_classes(list(d.wnids), f"dataset.wnids={list(d.wnids)}",
                        "list two or more, or leave dataset.wnids unset for the subtask's classes")


def _int(key: str, value: Any, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LabaldError(f"{key}={value!r} is invalid; it must be an integer >= {low}")


def _number(key: str, value: Any, low: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise LabaldError(f"{key}={value!r} is invalid; it must be a number {'>' if strict else '>='} {low}")


def _unit(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok:
        raise LabaldError(f"{key}={value!r} is invalid; it must lie between 0 and 1, e.g. 0.1")


def _open_unit(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise LabaldError(f"{key}={value!r} is invalid; it must lie strictly between 0 and 1, e.g. 0.9")


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LabaldError(f"{key}={value!r} is unknown; choose one of: {', '.join(choices)}")
