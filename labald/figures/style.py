"""One colour and one display name per method, shared by every figure and table."""

from __future__ import annotations

from labald.samplers.custom import custom_display_name, is_custom_key

METHOD_ORDER = ("ss", "rand_i_greedy_w", "j_bald", "la_bald", "elr", "elr_pooled", "eag", "power_bald", "oracle")
METHOD_NAMES = {"ss": "SS", "rand_i_greedy_w": "Rand-I+Greedy-W", "j_bald": "J-BALD", "la_bald": "LA-BALD",
                "elr": "ELR", "elr_pooled": "ELR-pooled", "eag": "EAG", "power_bald": "PowerBALD",
                "oracle": "Oracle (knows labels)"}
# Okabe & Ito's colour-blind-safe palette (Color Universal Design): the two samplers compared most,
# J-BALD and LA-BALD, in bluish green and vermillion, told apart under every common colour deficiency.
METHOD_COLOURS = {"ss": "#999999", "rand_i_greedy_w": "#0072B2", "j_bald": "#009E73", "la_bald": "#D55E00",
                  "elr": "#56B4E9", "elr_pooled": "#882255", "eag": "#CC79A7", "power_bald": "#E69F00", "oracle": "#000000"}
_SPARE_COLOURS = ("#F0E442", "#44AA99", "#332288")


def method_name(method: str) -> str:
    """The display name: the paper's, or a custom sampler's class name (and options)."""
    if method in METHOD_NAMES:
        return METHOD_NAMES[method]
    base, *tags = method.split("@")  # joined settings: `elr@batch_ramp=1`, `j_bald@rerun=2`
    if tags:
        return ", ".join([method_name(base), *(_tag_name(t) for t in tags)])
    return custom_display_name(method) if is_custom_key(method) else method


def _tag_name(tag: str) -> str:
    key, _, value = tag.partition("=")
    names = {"batch_ramp": f"ramp from {value}", "aggregation.forgetting": f"forgetting {value}",
             "acquisition.per_cost": "per cost" if value == "true" else f"per_cost={value}"}
    return names.get(key, f"({tag})")


def method_colour(method: str) -> str:
    """The method's colour; methods outside the paper get a spare colour fixed by their name."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return _SPARE_COLOURS[sum(map(ord, method)) % len(_SPARE_COLOURS)]


def sorted_methods(methods) -> list[str]:
    """The paper's order first, then any other method alphabetically."""
    methods = set(methods)
    return [m for m in METHOD_ORDER if m in methods] + sorted(methods - set(METHOD_ORDER))


def setting_title(setting: str) -> str:
    """A readable name of a study slug from `load.setting_slug`."""
    if setting == "main":
        return "paper's stopping rule"
    words = {"budget": "budget {} annotations/image (over-annotation dotted)",
             "cost": "budget {} money/image (over-annotation dotted)", "imbalance": "imbalance ratio {}",
             "local": "local influence: {}", "stopping": "stopping: {}"}
    parts = []
    for part in setting.split(","):
        key, _, value = part.partition("=")
        parts.append(words.get(key, key + " {}").format(value))
    return "; ".join(parts)
