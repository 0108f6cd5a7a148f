"""Benchmark all-pairs LA-BALD scoring against two reference routes, in one process.

    python scripts/bench_scoring.py                  # N=20,800, M=60, K=16, T=100 (paper scale)
    python scripts/bench_scoring.py --quick          # small sizes, a few seconds

Prints the time of global_influence, local_influence (paper form) and la_bald on all N*M pairs,
the peak extra resident memory of la_bald (VmHWM from /proc/self/status, reset through
/proc/self/clear_refs), and the ratios against
  (a) baal-style BALD: per worker j, p_t(z | i, j) as a [N, K, T] array and "entropy of the mean
      minus mean entropy" with scipy's xlogy, as baal's BALD heuristic does, in a loop over j;
  (b) the paper's sampled route (appendix B.2): per pair, T annotation draws per MC sample, the
      posterior p_t(y | z) and the Prop. 2 summand, O(T^2 K), plus the global term, O(T K^2);
      timed on a subsample of pairs and scaled to all pairs.
Then sweeps K, T and N*M and writes `param, K, T, N, M, seconds` rows to a CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import xlogy

from labald.acquisition import global_influence, la_bald, local_influence


def make_inputs(T: int, N: int, M: int, K: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dirichlet q_t [T, N, K] and diagonal-heavy Dirichlet confusions [M, K, K], float32."""
    rng = np.random.default_rng(seed)
    q = rng.standard_gamma(0.5, size=(T, N, K), dtype=np.float32)  # normalized: Dirichlet(0.5)
    q /= q.sum(-1, keepdims=True)
    conf = rng.standard_gamma(1.0, size=(M, K, K), dtype=np.float32) + 3 * np.eye(K, dtype="f4")
    conf /= conf.sum(-1, keepdims=True)
    return torch.from_numpy(q), torch.from_numpy(conf)


def timed(fn, *args, repeat: int = 1, **kwargs) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_extra_mib(fn, *args) -> float | None:
    """Peak resident memory above the current level while fn runs (None if it can't be reset)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    out = fn(*args)
    extra = (_status_kib("VmHWM") - before) / 1024
    del out
    return extra


def baal_style_bald(q_T_N_K: np.ndarray, conf_M_K_K: np.ndarray) -> np.ndarray:
    """Global influence the plain way: baal's BALD on p_t(z | i, j), one worker at a time."""
    T, N, K = q_T_N_K.shape
    scores_N_M = np.empty((N, conf_M_K_K.shape[0]), dtype=q_T_N_K.dtype)
    for j, conf_K_K in enumerate(conf_M_K_K):
        predictions = np.moveaxis(q_T_N_K @ conf_K_K, 0, -1)  # baal layout [N, K, T]
        expected_entropy = -np.mean(np.sum(xlogy(predictions, predictions), axis=1), axis=-1)
        expected_p = np.mean(predictions, axis=-1)
        entropy_expected_p = -np.sum(xlogy(expected_p, expected_p), axis=1)
        scores_N_M[:, j] = entropy_expected_p - expected_entropy
    return scores_N_M


def sampled_pair_score(q_T_K: np.ndarray, conf_K_K: np.ndarray, rng) -> float:
    """LA-BALD of one pair the paper's way: exact global + local from T draws per MC sample."""
    T, K = q_T_K.shape
    p_T_K = q_T_K @ conf_K_K
    p_mean = p_T_K.mean(0)
    global_ = -xlogy(p_mean, p_mean).sum() + xlogy(p_T_K, p_T_K).sum(-1).mean()
    z_T_S = (rng.random((T, T, 1)) > p_T_K.cumsum(-1)[:, None, :]).sum(-1).clip(max=K - 1)
    joint_T_S_K = q_T_K[:, None, :] * conf_K_K.T[z_T_S]  # q_t(y) W[y, z]
    post_T_S_K = joint_T_S_K / joint_T_S_K.sum(-1, keepdims=True)
    log_w_T_S_K = np.log(np.maximum(conf_K_K.T[z_T_S], 1e-12))
    local = ((post_T_S_K - 1 / K) * log_w_T_S_K).sum(-1).mean()
    return float(global_ + local)


def sampled_route_seconds(q: np.ndarray, conf: np.ndarray, pairs: int, seed: int) -> float:
    """Seconds per pair of the sampled route, on `pairs` random pairs."""
    rng = np.random.default_rng(seed)
    ii = rng.integers(0, q.shape[1], pairs)
    jj = rng.integers(0, conf.shape[0], pairs)
    start = time.perf_counter()
    for i, j in zip(ii, jj, strict=True):
        sampled_pair_score(q[:, i], conf[j], rng)
    return (time.perf_counter() - start) / pairs


def sweep(args, writer) -> None:
    base = dict(K=16, T=100, N=args.sweep_n, M=60)
    grid = {
        "K": [("K", k) for k in ([4, 8, 16, 32] if args.quick else [4, 8, 16, 32, 64])],
        "T": [("T", t) for t in ([10, 50, 100] if args.quick else [10, 25, 50, 100, 200])],
        "NM": [("N", base["N"] * f // 4) for f in ([1, 2, 4] if args.quick else [1, 2, 4, 8])],
    }
    for param, settings in grid.items():
        for key, value in settings:
            size = {**base, key: value}
            q, conf = make_inputs(size["T"], size["N"], size["M"], size["K"], args.seed)
            seconds, _ = timed(la_bald, q, conf, repeat=args.repeat)
            writer.writerow([param, size["K"], size["T"], size["N"], size["M"], f"{seconds:.4f}"])
            print(f"  sweep {param:2s} K={size['K']:3d} T={size['T']:3d} N={size['N']:6d} "
                  f"M={size['M']:3d}: {seconds:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_800, help="images N")
    parser.add_argument("--m", type=int, default=60, help="workers M")
    parser.add_argument("--k", type=int, default=16, help="classes K")
    parser.add_argument("--t", type=int, default=100, help="MC samples T")
    parser.add_argument("--pairs", type=int, default=200, help="pairs timed on the sampled route")
    parser.add_argument("--sweep-n", type=int, default=5_200, help="base N of the sweep")
    parser.add_argument("--repeat", type=int, default=1, help="best-of repeats per timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--csv", type=Path, default=Path("results/bench/scoring_sweep.csv"))
    args = parser.parse_args()
    if args.quick:
        args.n, args.pairs, args.sweep_n = min(args.n, 2_000), min(args.pairs, 50), 1_000

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    T, N, M, K = args.t, args.n, args.m, args.k
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"T={T} N={N} M={M} K={K} ({N * M:,} pairs), float32")
    q, conf = make_inputs(T, N, M, K, args.seed)
    la_bald(q[:, :64], conf)  # warm up kernels and the thread pool

    t_global, scores_global = timed(global_influence, q, conf, repeat=args.repeat)
    t_local, _ = timed(local_influence, q, conf, repeat=args.repeat)
    t_la, _ = timed(la_bald, q, conf, repeat=args.repeat)
    peak = peak_extra_mib(la_bald, q, conf)
    print(f"global_influence  {t_global:8.3f} s")
    print(f"local_influence   {t_local:8.3f} s  (paper form)")
    print(f"la_bald           {t_la:8.3f} s")
    print(f"la_bald peak extra RSS: {peak:.0f} MiB (inputs q: {q.numel() * 4 / 2**20:.0f} MiB)"
          if peak is not None else "la_bald peak extra RSS: unavailable (no /proc/self/clear_refs)")

    q_np, conf_np = q.numpy(), conf.numpy()
    t_baal, scores_baal = timed(baal_style_bald, q_np, conf_np)
    gap = float(np.abs(scores_baal - scores_global.numpy()).max())
    print(f"(a) baal-style BALD loop over workers: {t_baal:.3f} s vs global_influence "
          f"{t_global:.3f} s -> {t_baal / t_global:.1f}x faster (max |diff| {gap:.1e})")

    per_pair = sampled_route_seconds(q_np, conf_np, args.pairs, args.seed)
    t_sampled = per_pair * N * M
    print(f"(b) paper's sampled route: {per_pair * 1e6:.0f} us/pair x {N * M:,} pairs = "
          f"{t_sampled:,.0f} s (from {args.pairs} pairs) vs la_bald {t_la:.3f} s "
          f"-> {t_sampled / t_la:,.0f}x faster")

    if not args.no_sweep:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["param", "K", "T", "N", "M", "seconds"])
            sweep(args, writer)
        print(f"(c) sweep written to {args.csv}")


if __name__ == "__main__":
    main()
