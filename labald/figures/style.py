"""How figures and tables name a study in words."""

from __future__ import annotations


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
