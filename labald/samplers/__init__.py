"""Task samplers: which image-worker pairs to ask next (SPEC 5). `SAMPLERS` maps `method.name`."""

from labald.samplers.base import Beliefs, Candidates, Sampler, Selection
from labald.samplers.random_image import RandomImageGreedyWorker, StandardSampler
from labald.samplers.selection import greedy_select

SAMPLERS: dict[str, type] = {
    StandardSampler.name: StandardSampler,
    RandomImageGreedyWorker.name: RandomImageGreedyWorker,
}

__all__ = ["SAMPLERS", "Beliefs", "Candidates", "Sampler", "Selection", "greedy_select", "make_sampler"]


def make_sampler(name: str, **options) -> Sampler:
    """The sampler registered under `name` (validated before the run starts)."""
    return SAMPLERS[name](**options)
