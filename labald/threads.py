"""Threads of a run: torch's intra-op threads and numpy's BLAS threads, one number per process.

Two processes with two torch threads each on two cores stall each other (a training step 10x
slower was measured), so a sweep job gets the cores it can have to itself: available
cores / parallel jobs (`run.py` reads the launcher: joblib's n_jobs, submitit's cpus_per_task).
The thread count does not change what a run computes beyond float rounding order, so it is not
part of a run's fingerprint.
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and Slurm set)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_job(parallel_jobs: int, cores: int | None = None) -> int:
    """An even share of the cores for each of `parallel_jobs` concurrent jobs, at least one."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, parallel_jobs))


def apply_threads(n: int) -> None:
    """Use `n` threads for torch and for the BLAS libraries numpy and scipy call."""
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it numpy keeps its own BLAS threads
        return
    threadpool_limits(n)
