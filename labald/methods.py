"""The built-in methods, in one table: what each is made of (pair score, assignment rule, skill
model), and how figures, tables and the command line show it (order, display name, colour).

Torch-free, so that naming a run, drawing a figure or listing `propose --method`'s choices loads
no model code. The samplers themselves are built from these parts by `labald.samplers.compose`;
a pair score registered there under a new name is a method too (it takes its pairs by score) and
is shown by its own name after the table's methods.

A sampler a user brings (`method=custom`) is named by its class path: `custom_method_key` is the
name figures and tables give it, `is_custom_key` tells such a name apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CUSTOM = "custom"  # the method name of a sampler a user brings
ORACLE = "oracle"  # knows the true labels and skills: a bound that only a simulation can compute


@dataclass(frozen=True)
class Method:
    """One built-in method.

    `score`: the registered pair score it ranks pairs by (None: SS, which scores nothing);
    `assignment`: how scores become a batch: `greedy` (pairs by score, or `acquisition.assignment`),
    `random_images` (random images, each with its best worker), `power` (PowerBALD's stochastic
    image order); `skill`: (worker_skill, skill_groups) when the method is defined with a skill
    model of its own, else None (it scores with `acquisition.worker_skill`); `paper`: its part in
    the paper's comparison (Sec. 5): an `ss_type` or `j_bald_type` baseline, or the `proposed`
    sampler; None for a method outside it."""

    name: str
    display: str
    colour: str
    score: str | None
    assignment: str = "greedy"
    skill: tuple[str, str] | None = None
    paper: str | None = None


# In the order figures and tables list them. Colours: Okabe & Ito's colour-blind-safe palette
# (Color Universal Design); the two samplers compared most, J-BALD and LA-BALD, in bluish green and
# vermillion, told apart under every common colour deficiency.
METHODS: tuple[Method, ...] = (
    Method("ss", "SS", "#999999", None, "random_images", paper="ss_type"),
    Method("rand_i_greedy_w", "Rand-I+Greedy-W", "#0072B2", "rand_i_greedy_w", "random_images", paper="ss_type"),
    Method("j_bald", "J-BALD", "#009E73", "j_bald", paper="j_bald_type"),
    Method("la_bald", "LA-BALD", "#D55E00", "la_bald", paper="proposed"),
    Method("elr", "ELR", "#56B4E9", "elr"),
    # ELR on the beliefs of each group's pooled confusion, hired experts and crowd apart
    Method("elr_pooled", "ELR-pooled", "#882255", "elr", skill=("group", "experts")),
    Method("eag", "EAG", "#CC79A7", "eag"),
    Method("power_bald", "PowerBALD", "#E69F00", "j_bald", "power"),
    Method(ORACLE, "Oracle (knows labels)", "#000000", ORACLE),
)
BY_NAME = {m.name: m for m in METHODS}
NAMES = tuple(BY_NAME)
# Pair scores whose parts are the global and local influence (the Jaccard columns of metrics.csv);
# `acquisition.local` changes their results.
INFLUENCE_SCORES = ("j_bald", "la_bald")
_SPARE_COLOURS = ("#F0E442", "#44AA99", "#332288")


def in_paper(part: str) -> tuple[str, ...]:
    """The methods that play `part` in the paper's comparison (`Method.paper`), in the table's order."""
    return tuple(m.name for m in METHODS if m.paper == part)


def parts(method: str) -> tuple[str | None, str]:
    """(pair score, assignment rule) of a method; a name outside the table is a registered pair score
    that takes its pairs by score."""
    m = BY_NAME.get(method)
    return (m.score, m.assignment) if m else (method, "greedy")


def skill_of(method: str, worker_skill: str, skill_groups: str) -> tuple[str, str]:
    """(worker_skill, skill_groups) a run scores with: the method's own, else the acquisition
    settings'."""
    m = BY_NAME.get(method)
    return m.skill if m and m.skill else (worker_skill, skill_groups)


def own_skill(method: str) -> tuple[str, str] | None:
    """The skill model a method is defined with, None for a method that takes the settings'."""
    m = BY_NAME.get(method)
    return m.skill if m else None


def uses_influence(method: str) -> bool:
    """Whether the method's score has the global and local influence as parts (the Jaccard columns;
    `acquisition.local` changes its results). False for a custom sampler."""
    return method != CUSTOM and parts(method)[0] in INFLUENCE_SCORES


def display_name(method: str) -> str:
    """The display name: the table's, a custom sampler's class name (and options), or, for a method
    joined with settings (`elr@batch_ramp=1`, `j_bald@rerun=2`), the method's name and the settings
    in words."""
    if method in BY_NAME:
        return BY_NAME[method].display
    base, *tags = method.split("@")
    if tags:
        return ", ".join([display_name(base), *(_tag_name(t) for t in tags)])
    return custom_display_name(method) if is_custom_key(method) else method


def _tag_name(tag: str) -> str:
    key, _, value = tag.partition("=")
    names = {"batch_ramp": f"ramp from {value}", "aggregation.forgetting": f"forgetting {value}",
             "acquisition.per_cost": "per cost" if value == "true" else f"per_cost={value}"}
    return names.get(key, f"({tag})")


def display_colour(method: str) -> str:
    """The method's colour; a method outside the table gets a spare colour fixed by its name."""
    if method in BY_NAME:
        return BY_NAME[method].colour
    return _SPARE_COLOURS[sum(map(ord, method)) % len(_SPARE_COLOURS)]


def in_order(methods: Iterable[str]) -> list[str]:
    """The table's order first, then any other method alphabetically."""
    methods = set(methods)
    return [m for m in NAMES if m in methods] + sorted(methods - set(NAMES))


def custom_method_key(path: str, options: Iterable[tuple[str, Any]] = ()) -> str:
    """The method name figures and tables use for a custom sampler: `module.Class`, with `[k=v,...]`
    when it has options, so two option sets are two methods."""
    key = str(path).replace(":", ".")
    options = list(options)
    return key + (f"[{','.join(f'{k}={_text(v)}' for k, v in options)}]" if options else "")


def custom_display_name(key: str) -> str:
    """`Class` (and its options) of a `custom_method_key`."""
    base, bracket, rest = key.partition("[")
    return base.rsplit(".", 1)[-1] + bracket + rest


def is_custom_key(method: str) -> bool:
    """Whether a method name is a custom sampler's `custom_method_key` (a dotted class path)."""
    return "." in method.partition("[")[0]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
