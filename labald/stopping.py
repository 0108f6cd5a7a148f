"""Stopping rules (SPEC 6), decided from the metrics so far so that they need no state of their own."""

from __future__ import annotations

from dataclasses import dataclass

RULES = ("unconfident", "budget", "plateau")


@dataclass(frozen=True)
class StoppingSettings:
    """`stopping.*` config keys: the rule, the budget's annotations per image, plateau patience."""

    rule: str = "unconfident"
    annotations_per_image: float | None = None
    patience: int = 5


@dataclass(frozen=True)
class Decision:
    stop: str | None  # why the run stops, or None to go on
    phase: str  # "label", or "over" once the paper's rule has fired under the budget rule


def paper_rule_fired(row: dict, batch_size: int) -> bool:
    """The paper's rule: fewer than floor(B / 10) eligible (unconfident, under the cap) images."""
    return row["n_eligible"] < batch_size // 10


def decide(rows: list[dict], settings: StoppingSettings, batch_size: int, max_steps: int) -> Decision:
    """Whether to stop after the last row of `rows`, and the phase of the next step."""
    last = rows[-1]
    fired = any(paper_rule_fired(r, batch_size) for r in rows)
    phase = "over" if settings.rule == "budget" and fired else "label"
    if last["step"] >= max_steps:
        return Decision(f"max_steps={max_steps} reached", phase)
    if settings.rule == "unconfident" and fired:
        return Decision(f"fewer than {batch_size // 10} unconfident images left (paper's rule)", phase)
    if settings.rule == "budget" and last["annotations_per_image"] >= settings.annotations_per_image - 1e-9:
        return Decision(f"budget of {settings.annotations_per_image} annotations per image spent", phase)
    if settings.rule == "plateau":
        confident = [r["n_confident"] for r in rows]
        best_at = max(range(len(confident)), key=lambda s: (confident[s], -s))
        if len(confident) - 1 - best_at >= settings.patience:
            return Decision(f"confident images did not grow for {settings.patience} steps (plateau)", phase)
    return Decision(None, phase)
