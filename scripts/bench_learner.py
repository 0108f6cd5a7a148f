"""Benchmark the learner: MC-dropout inference against its floor, and a fit.

Usage: python scripts/bench_learner.py [--n 20800] [--d 128] [--k 16] [--t 100] [--threads 2] [--naive]

MC inference floor = (2 T N (H^2 + H K) + 2 N D H) FLOP at the rate a 2048^3 float32 matmul reaches
now, on this machine (best of 5): the dense product of the T sampled networks over N images. The
compacted path (`labald.learner.mc`) computes only the units each network's second mask keeps, so
it may approach or pass that floor. Prints the floor, the best of `--repeat` passes per block shape
(images x networks, `--blocks 1024x25 256x100`), their ratios to the floor, and with `--naive` the
naive full-network reference (slow) and the largest difference; then the time and updates of a fit
from scratch and a warm one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labald.learner import (  # noqa: E402
    LearnerSettings,
    MCDropoutLearner,
    mc_dropout_predict,
    mc_dropout_predict_naive,
)
from labald.learner.mc import DEFAULT_CHUNK, DEFAULT_GROUP  # noqa: E402
from scripts.bench_step import best_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_800, help="images to predict (paper-scale commodity)")
    parser.add_argument("--d", type=int, default=128, help="feature dimension (the sandbox features')")
    parser.add_argument("--k", type=int, default=16, help="classes")
    parser.add_argument("--t", type=int, default=100, help="MC samples")
    parser.add_argument("--blocks", nargs="+", default=["256x100", f"{DEFAULT_CHUNK}x{DEFAULT_GROUP}", "512x50"],
                        help="block shapes, images x sampled networks (the default first)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--naive", action="store_true", help="also time the naive reference (slow)")
    parser.add_argument("--fit-n", type=int, default=3_000, help="training examples for fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.n, args.d, generator=gen)
    centers = torch.randn(args.k, args.d, generator=gen)
    y_fit = torch.randint(0, args.k, (args.fit_n,), generator=gen)
    x_fit = centers[y_fit] + torch.randn(args.fit_n, args.d, generator=gen)
    y_val = torch.arange(args.k).repeat(10)
    x_val = centers[y_val] + torch.randn(len(y_val), args.d, generator=gen)
    learner = MCDropoutLearner(LearnerSettings(mc_samples=args.t), args.d, args.k, args.seed)
    start = time.perf_counter()
    cold = learner.fit(x_fit, y_fit, x_val, y_val, step=0)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = learner.fit(x_fit, y_fit, x_val, y_val, step=1)
    warm_s = time.perf_counter() - start
    model, h = learner.model, learner.settings.hidden

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    rate = 2 * 2048**3 / best_of(lambda: a @ b, 5)
    floor = (2 * args.t * args.n * (h * h + h * args.k) + 2 * args.n * args.d * h) / rate
    print(f"MC dropout: N={args.n} D={args.d} H={h} K={args.k} T={args.t}, {torch.get_num_threads()} threads; "
          f"matmul {rate / 1e9:.0f} GFLOP/s, floor {floor:.3f} s")
    for shape in args.blocks:
        chunk, group = (int(v) for v in shape.split("x"))
        seconds = best_of(lambda c=chunk, g=group: mc_dropout_predict(
            model, x, args.t, torch.Generator().manual_seed(1), chunk=c, group=g), args.repeat)
        print(f"  blocks of {chunk:>4} images x {group:>3} networks: {seconds:.3f} s = {seconds / floor:.2f}x floor")
    if args.naive:
        fast = mc_dropout_predict(model, x, args.t, torch.Generator().manual_seed(1))
        start = time.perf_counter()
        slow = mc_dropout_predict_naive(model, x, args.t, torch.Generator().manual_seed(1))
        naive_s = time.perf_counter() - start
        print(f"  naive full network: {naive_s:.3f} s, max |diff| {float((fast - slow).abs().max()):.1e}")
    print(f"fit on {args.fit_n} examples: from scratch {cold_s:.2f} s ({cold.updates} updates), "
          f"warm {warm_s:.2f} s ({warm.updates} updates)")


if __name__ == "__main__":
    main()
