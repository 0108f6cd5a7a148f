"""Stopping rules, decided from the metrics so far so that they need no state of their own.

`unconfident` is the paper's rule (appendix F); `budget` and `cost` over-annotate past it (appendix H);
`plateau` is Liao et al.'s: stop once the number of confident images has not risen above its best for
`patience` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from labald import checks
from labald.costs import SLACK
from labald.errors import LabaldError

RULES = ("unconfident", "budget", "plateau", "cost")
SPENDING_RULES = ("budget", "cost")  # rules that spend a budget, over-annotating once the paper's rule fires


@dataclass(frozen=True)
class StoppingSettings:
    """`stopping.*` config keys: the rule, the budget's annotations per image, plateau patience, and
    the budget in money per pool image (`stopping=cost`, prices from `labald.costs`)."""

    rule: str = "unconfident"
    annotations_per_image: float | None = None
    patience: int = 5
    cost_per_image: float | None = None

    def __post_init__(self) -> None:
        checks.choice("stopping", self.rule, RULES)
        checks.integer("stopping.patience", self.patience, 1)
        if self.rule == "budget":
            if self.annotations_per_image is None:
                raise LabaldError("stopping=budget needs stopping.annotations_per_image=<number>, e.g. 2")
            checks.number("stopping.annotations_per_image", self.annotations_per_image, 0.0, strict=True)
        if self.rule == "cost":
            if self.cost_per_image is None:
                raise LabaldError("stopping=cost needs stopping.cost_per_image=<money per pool image>, e.g. 2")
            checks.number("stopping.cost_per_image", self.cost_per_image, 0.0, strict=True)


@dataclass(frozen=True)
class Decision:
    stop: str | None  # why the run stops, or None to go on
    phase: str  # "label", or "over" once the paper's rule has fired under a budget rule (budget, cost)


def paper_rule_fired(row: dict, batch_size: int) -> bool:
    """The paper's rule: fewer than floor(B / 10) eligible (unconfident, under the cap) images."""
    return row["n_eligible"] < batch_size // 10


def decide(rows: list[dict], settings: StoppingSettings, batch_size: int, max_steps: int,
           cheapest_per_image: float = 0.0) -> Decision:
    """Whether to stop after the last row of `rows`, and the phase of the next step.

    `cheapest_per_image`: the cheapest answer's price over the pool size, min_j c_j / N; the money
    budget (`stopping=cost`) is spent once what is left pays for no answer,
    cost_per_image + min_j c_j / N > budget."""
    last = rows[-1]
    fired = any(paper_rule_fired(r, batch_size) for r in rows)
    phase = "over" if settings.rule in SPENDING_RULES and fired else "label"
    if last["step"] >= max_steps:
        return Decision(f"max_steps={max_steps} reached", phase)
    if settings.rule == "unconfident" and fired:
        return Decision(f"fewer than {batch_size // 10} unconfident images left (paper's rule)", phase)
    if settings.rule == "budget" and last["annotations_per_image"] >= settings.annotations_per_image - 1e-9:
        return Decision(f"budget of {settings.annotations_per_image} annotations per image spent", phase)
    if settings.rule == "cost" and (last["cost_per_image"] + cheapest_per_image
                                    > settings.cost_per_image * (1 + SLACK)):
        return Decision(f"budget of {settings.cost_per_image:g} per image spent (the rest pays for no answer)",
                        phase)
    if settings.rule == "plateau":
        confident = [r["n_confident"] for r in rows]
        best_at = max(range(len(confident)), key=lambda s: (confident[s], -s))
        if len(confident) - 1 - best_at >= settings.patience:
            return Decision(f"confident images did not grow for {settings.patience} steps (plateau)", phase)
    return Decision(None, phase)
