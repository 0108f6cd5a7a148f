"""Benchmark one EM solve (SPEC 3) against crowd-kit's DawidSkene on identical answers, one process.

    python scripts/bench_em.py              # N=20,800 images, M=60 workers, 20,000 answers, K=16
    python scripts/bench_em.py --quick      # small sizes, a second or two

Both run exactly `--iters` EM iterations (crowd-kit: tol=-inf; ours: tol=0). The fair comparison
is ours with a uniform image prior and prior_strength 0 (plain Dawid-Skene); ours with the paper's
Dirichlet prior (strength 1, 20 pseudo-counts per row) is timed too. Prints the times, the ratio,
the label agreement on the images that have answers (crowd-kit drops the rest) and the accuracy of
each against the simulated truth. Times are the best of `--repeat` runs; the load average is
printed as shared machines skew them. crowd-kit is the `bench` extra: `pip install -e .[bench]`.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import pandas as pd
import torch

from labald.aggregation import EMOptions, dawid_skene, dirichlet_prior

PAPER_ROW_TOTAL = 20.0  # prior pseudo-counts per row for synthetic workers (SPEC 3)


def simulate(n: int, m: int, k: int, n_answers: int, accuracy: float, seed: int):
    """Seeded crowd: worker accuracies around `accuracy` (sd 0.08), each row's error mass spread by
    a Dirichlet(1); answers go to uniformly random (image, worker) pairs.
    Returns truth [n], image, worker, label [n_answers] and true confusions [m, k, k]."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(k, size=n)
    acc = np.clip(rng.normal(accuracy, 0.08, size=(m, 1)), 0.3, 0.97)
    errors = rng.dirichlet(np.ones(k - 1), size=(m, k))  # [m, k, k-1]
    confusions = np.empty((m, k, k))
    for y in range(k):
        others = np.delete(np.arange(k), y)
        confusions[:, y, y] = acc[:, 0]
        confusions[:, y, others] = (1 - acc) * errors[:, y]
    image = rng.integers(n, size=n_answers)
    worker = rng.integers(m, size=n_answers)
    cdf = np.cumsum(confusions[worker, truth[image]], axis=1)
    label = (rng.random(n_answers)[:, None] * cdf[:, -1:] >= cdf).sum(axis=1)
    return truth, image, worker, np.minimum(label, k - 1), confusions


def timed(fn, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def crowdkit_confusions(errors: pd.DataFrame, m: int, k: int) -> np.ndarray:
    """crowd-kit's errors_ (rows (worker, observed), columns true) as ours [j, true, answered]."""
    out = np.zeros((m, k, k))
    for (j, z), row in errors.iterrows():
        out[int(j), row.index.astype(int), int(z)] = row.to_numpy()
    return out


def main() -> None:
    fmt = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--images", type=int, default=20_800)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--accuracy", type=float, default=0.7)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (each)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2,000 images, 2,000 answers")
    args = parser.parse_args()
    if args.quick:
        args.images, args.answers = 2_000, 2_000

    if args.threads:
        torch.set_num_threads(args.threads)
    n, m, k = args.images, args.workers, args.classes
    truth, image, worker, label, _ = simulate(n, m, k, args.answers, args.accuracy, args.seed)
    answered = np.unique(image)
    uniform = np.full((n, k), 1.0 / k)
    print(
        f"N={n} images ({len(answered)} with answers), M={m} workers, {len(image)} answers, K={k}, "
        f"{args.iters} EM iterations, torch threads={torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    options = EMOptions(max_iter=args.iters, tol=0.0)

    def ours_plain():
        return dawid_skene(image, worker, label, uniform, np.zeros((k, k)), m, options=options)

    alpha = dirichlet_prior(k, args.accuracy, PAPER_ROW_TOTAL, strength=1.0)

    def ours_paper():
        return dawid_skene(image, worker, label, uniform, alpha, m, options=options)

    ours_plain()  # warm-up (torch kernels, allocator)
    t_plain, res_plain = timed(ours_plain, args.repeat)
    t_paper, res_paper = timed(ours_paper, args.repeat)
    ours_labels = res_plain.posterior.argmax(axis=1)
    print(
        f"labald dawid_skene, prior_strength 0 : {t_plain * 1e3:9.1f} ms  "
        f"accuracy {np.mean(ours_labels[answered] == truth[answered]):.4f} (answered images)"
    )
    paper_labels = res_paper.posterior.argmax(axis=1)
    print(
        f"labald dawid_skene, paper prior (s=1): {t_paper * 1e3:9.1f} ms  "
        f"accuracy {np.mean(paper_labels[answered] == truth[answered]):.4f} (answered images)"
    )

    try:
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        print("crowd-kit is not installed: `pip install -e .[bench]` to compare; timed ours only.")
        return

    df = pd.DataFrame({"task": image, "worker": worker, "label": label})

    def reference():
        model = DawidSkene(n_iter=args.iters, tol=-np.inf)  # tol=-inf: never stop early
        return model, model.fit_predict(df)

    t_ck, (model, ck_labels) = timed(reference, args.repeat)
    assert len(model.loss_history_) == args.iters, "crowd-kit stopped early"
    tasks = ck_labels.index.to_numpy().astype(int)
    ck = ck_labels.to_numpy().astype(int)
    agree = np.mean(ours_labels[tasks] == ck)
    agree_paper = np.mean(paper_labels[tasks] == ck)
    w_ck = crowdkit_confusions(model.errors_, m, k)
    print(
        f"crowd-kit DawidSkene (n_iter={args.iters}):  {t_ck * 1e3:9.1f} ms  "
        f"accuracy {np.mean(ck == truth[tasks]):.4f} ({len(tasks)} tasks)"
    )
    print(f"speed-up vs crowd-kit: {t_ck / t_plain:.1f}x (prior 0), {t_ck / t_paper:.1f}x (paper)")
    print(f"label agreement with crowd-kit: {agree:.4f} (prior 0), {agree_paper:.4f} (paper prior)")
    print(
        "mean |What_ours - What_crowdkit^T| (prior 0, crowd-kit also fits class priors): "
        f"{np.abs(res_plain.confusions - w_ck).mean():.2e}"
    )


if __name__ == "__main__":
    main()
