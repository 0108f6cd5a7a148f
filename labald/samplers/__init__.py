"""Task samplers: which image-worker pairs to ask next (SPEC 5). `SAMPLERS` maps `method.name`."""

from collections.abc import Callable
from functools import partial

from labald.samplers.base import Beliefs, Candidates, Sampler, Selection
from labald.samplers.gain import ExpectedAccuracyGain
from labald.samplers.joint import JointSampler, PowerSampler
from labald.samplers.random_image import RandomImageGreedyWorker, StandardSampler
from labald.samplers.selection import greedy_select

SAMPLERS: dict[str, Callable[..., Sampler]] = {
    StandardSampler.name: StandardSampler,
    RandomImageGreedyWorker.name: RandomImageGreedyWorker,
    "j_bald": partial(JointSampler, "j_bald"),
    "la_bald": partial(JointSampler, "la_bald"),
    ExpectedAccuracyGain.name: ExpectedAccuracyGain,
    PowerSampler.name: PowerSampler,
}

__all__ = ["SAMPLERS", "Beliefs", "Candidates", "PowerSampler", "Sampler", "Selection", "greedy_select", "make_sampler"]


def make_sampler(name: str, **options) -> Sampler:
    """The sampler registered under `name` (validated before the run starts)."""
    return SAMPLERS[name](**options)
