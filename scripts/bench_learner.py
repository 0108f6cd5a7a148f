"""Benchmark the learner: MC-dropout inference, naive full network vs cached first layer, and fit.

Usage: python scripts/bench_learner.py [--n 20000] [--d 2048] [--k 16] [--t 100] [--fit-n 5000]
Prints e.g. ``naive 13.9 s | cached 2.1 s | ratio 6.6x`` and the time of one ``fit`` step.
"""

from __future__ import annotations

import argparse
import time

import torch

from labald.learner import (
    LearnerSettings,
    MCDropoutLearner,
    mc_dropout_predict,
    mc_dropout_predict_naive,
)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="images to predict")
    parser.add_argument("--d", type=int, default=2_048, help="feature dimension")
    parser.add_argument("--k", type=int, default=16, help="classes")
    parser.add_argument("--t", type=int, default=100, help="MC samples")
    parser.add_argument("--fit-n", type=int, default=5_000, help="training examples for fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.n, args.d, generator=gen)
    centers = torch.randn(args.k, args.d, generator=gen)
    y_fit = torch.randint(0, args.k, (args.fit_n,), generator=gen)
    x_fit = centers[y_fit] * 0.1 + torch.randn(args.fit_n, args.d, generator=gen)
    y_val = torch.arange(args.k).repeat(5)
    x_val = centers[y_val] * 0.1 + torch.randn(len(y_val), args.d, generator=gen)

    # warm-up: the first Adam in a process imports torch._dynamo (~2-3 s, once)
    MCDropoutLearner(LearnerSettings(max_epochs=1), args.d, args.k, args.seed).fit(
        x_val, y_val, x_val, y_val, step=0)
    learner = MCDropoutLearner(LearnerSettings(mc_samples=args.t), args.d, args.k, args.seed)
    report, fit_s = _timed(lambda: learner.fit(x_fit, y_fit, x_val, y_val, step=0))
    report2, fit2_s = _timed(lambda: learner.fit(x_fit, y_fit, x_val, y_val, step=1))
    model = learner.model

    print(f"MC dropout: N={args.n} D={args.d} K={args.k} T={args.t}, "
          f"{torch.get_num_threads()} threads")
    cached, cached_s = _timed(
        lambda: mc_dropout_predict(model, x, args.t, torch.Generator().manual_seed(1)))
    naive, naive_s = _timed(
        lambda: mc_dropout_predict_naive(model, x, args.t, torch.Generator().manual_seed(1)))
    gap = float((cached - naive).abs().max())
    print(f"naive {naive_s:.1f} s | cached {cached_s:.1f} s | ratio {naive_s / cached_s:.1f}x "
          f"| max |diff| {gap:.1e}")
    print(f"fit on {args.fit_n} examples: step 0 (from init) {fit_s:.1f} s, {report.epochs} "
          f"epochs | step 1 (warm) {fit2_s:.1f} s, {report2.epochs} epochs, "
          f"{fit2_s / report2.epochs:.2f} s/epoch")


if __name__ == "__main__":
    main()
