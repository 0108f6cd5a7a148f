"""What answers cost: each worker's price per answer, the money spent so far, and what a budget in
money still pays for (`stopping=cost`).

Prices are per worker group: `workers.cost_crowd` for a crowd worker, `workers.cost_expert` for a
hired expert. A replayed log or a real campaign knows no experts, so every worker there is paid the
crowd's price.
"""

from __future__ import annotations

import numpy as np

# Money is a sum of floats: a budget counts as able to pay for an answer whose price exceeds what is
# left by no more than this share of the budget, so rounding never withholds the last affordable one.
SLACK = 1e-9


def worker_costs(is_expert_M: np.ndarray, cost_crowd: float, cost_expert: float) -> np.ndarray:
    """[M] money per answer: c_j = cost_expert for a hired expert, cost_crowd for anyone else."""
    return np.where(np.asarray(is_expert_M, dtype=bool), float(cost_expert), float(cost_crowd))


def spent(cost_M: np.ndarray, workers: np.ndarray) -> float:
    """Money paid for the answers of `workers` (one entry per answer): sum_a c_{j(a)}."""
    return float(np.asarray(cost_M, dtype=np.float64)[np.asarray(workers, dtype=np.int64)].sum())


def affordable_answers(cost_M: np.ndarray, left: float, budget: float) -> np.ndarray:
    """[M] how many answers of each worker the money `left` (of a `budget`) pays for: floor(left / c_j)."""
    slack = SLACK * budget
    return np.floor((max(left, 0.0) + slack) / np.asarray(cost_M, dtype=np.float64)).astype(np.int64)


def affordable_prefix(cost_P: np.ndarray, left: float, budget: float) -> int:
    """How many of a batch's pairs, in selection order, the money `left` pays for: the longest prefix
    whose prices c_1 + ... + c_n <= left (`cost_P`: the price of each pair, in the batch's order)."""
    paid = np.cumsum(np.asarray(cost_P, dtype=np.float64))
    return int(np.searchsorted(paid, left + SLACK * budget, side="right"))
