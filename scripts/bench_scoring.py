"""Benchmark all-pairs LA-BALD scoring against two reference routes, interleaved in one process.

    python scripts/bench_scoring.py                  # N=20,800, M=60, K=16, T=100 (paper scale)
    python scripts/bench_scoring.py --threads 1      # everything single-threaded (torch and BLAS)
    python scripts/bench_scoring.py --quick          # small sizes, a few seconds

Prints the load average, the time of global_influence, local_influence (paper form) and la_bald
on all N*M pairs in one call each, the peak extra resident memory of la_bald (VmHWM from
/proc/self/status, reset through /proc/self/clear_refs), then the ratios against two references.
All inputs are float32.

References (plain numpy, written the way a careful user would, neither crippled nor tuned):
  (a) baal-style BALD, the global influence only: q is laid out once as baal's [N, K, T]
      (classes, then MC iterations last); per worker j, `W_j^T @ q` (one broadcast matmul) gives
      the predictions p_t(z | i, j) as a contiguous [N, K, T] array, scored with baal's
      `BALD.compute_score` verbatim (scipy `xlogy`; "entropy of the mean minus mean entropy").
      A Python loop over the M workers, as one would call baal once per worker.
  (b) the paper's sampled route (appendix B.2), one pair at a time: exact global term (O(T K^2)
      via q_t @ W_j and xlogy) plus the local term estimated from T annotation draws per MC sample
      (inverse-CDF sampling of z ~ p_t(. | i, j), all T x T draws vectorised in numpy), the
      posterior p_t(y | z) and the Prop. 2 summand, O(T^2 K); log W_j is computed once per worker
      outside the pair loop. Timed on `--pairs` random pairs and scaled to all N*M pairs.
The CPU may be shared, so the ratios are measured interleaved: the images are cut into
`--slices` slices and, slice by slice, global_influence on the slice, (a) on the slice,
la_bald on the slice and (b) on pairs drawn from the slice run back to back. Each ratio is
(sum of the reference's times) / (sum of ours); the spread of the per-slice ratios is printed too.
`--threads` sets torch's threads and (through threadpoolctl) numpy's BLAS threads; scipy's xlogy
and numpy's reductions are single-threaded either way.

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

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: without it --threads leaves numpy's BLAS threads alone
    threadpool_limits = None


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


def baal_bald_scores(predictions: np.ndarray) -> np.ndarray:
    """baal's `BALD.compute_score` (baal/active/heuristics/heuristics.py): [N, K, T] -> [N]."""
    expected_entropy = -np.mean(np.sum(xlogy(predictions, predictions), axis=1), axis=-1)
    expected_p = np.mean(predictions, axis=-1)
    entropy_expected_p = -np.sum(xlogy(expected_p, expected_p), axis=1)
    return entropy_expected_p - expected_entropy


def baal_style_bald(q_T_N_K: np.ndarray, conf_M_K_K: np.ndarray) -> np.ndarray:
    """Global influence the plain way: baal's BALD on p_t(z | i, j), one worker at a time."""
    q_N_K_T = np.ascontiguousarray(q_T_N_K.transpose(1, 2, 0))  # baal layout, built once
    scores_N_M = np.empty((q_T_N_K.shape[1], conf_M_K_K.shape[0]), dtype=q_T_N_K.dtype)
    for j, conf_K_K in enumerate(conf_M_K_K):
        predictions_N_K_T = np.matmul(conf_K_K.T, q_N_K_T)  # p_t(z|i,j) = sum_y q_t(y) W[y, z]
        scores_N_M[:, j] = baal_bald_scores(predictions_N_K_T)
    return scores_N_M


def sampled_pair_score(q_T_K: np.ndarray, conf_K_K: np.ndarray, log_conf_K_K: np.ndarray,
                       rng: np.random.Generator) -> float:
    """LA-BALD of one pair the paper's way: exact global + local from T draws per MC sample.

    log_conf_K_K = log max(W_j, 1e-12), computed once per worker by the caller.
    """
    T, K = q_T_K.shape
    p_T_K = q_T_K @ conf_K_K
    p_mean = p_T_K.mean(0)
    global_ = -xlogy(p_mean, p_mean).sum() + xlogy(p_T_K, p_T_K).sum(-1).mean()
    # T draws z ~ p_t(. | i, j) per MC sample t, by inverse CDF: [T, T] answers.
    z_T_S = (rng.random((T, T, 1)) > p_T_K.cumsum(-1)[:, None, :]).sum(-1).clip(max=K - 1)
    joint_T_S_K = q_T_K[:, None, :] * conf_K_K.T[z_T_S]  # q_t(y) W[y, z]
    post_T_S_K = joint_T_S_K / joint_T_S_K.sum(-1, keepdims=True)
    local = ((post_T_S_K - 1 / K) * log_conf_K_K.T[z_T_S]).sum(-1).mean()
    return float(global_ + local)


def sampled_route_seconds(q: np.ndarray, conf: np.ndarray, pairs: int,
                          rng: np.random.Generator) -> float:
    """Total seconds of the sampled route on `pairs` random pairs of (q's images, conf's workers)."""
    ii = rng.integers(0, q.shape[1], pairs)
    jj = rng.integers(0, conf.shape[0], pairs)
    start = time.perf_counter()
    log_conf = np.log(np.maximum(conf, 1e-12))  # once per worker, as a real loop would hoist it
    for i, j in zip(ii, jj, strict=True):
        sampled_pair_score(q[:, i], conf[j], log_conf[j], rng)
    return time.perf_counter() - start


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unavailable"


def interleaved_ratios(q: torch.Tensor, conf: torch.Tensor, args) -> None:
    """Time ours and both references slice by slice, back to back, and print the ratios."""
    N, M = q.shape[1], conf.shape[0]
    q_np, conf_np = q.numpy(), conf.numpy()
    rng = np.random.default_rng(args.seed)
    edges = np.linspace(0, N, args.slices + 1).round().astype(int)
    totals = dict(glob=0.0, la=0.0, baal=0.0, sampled=0.0)
    pairs_done, per_slice, gap = 0, [], 0.0
    for s0, s1 in zip(edges[:-1], edges[1:], strict=True):
        q_s, q_np_s = q[:, s0:s1], np.ascontiguousarray(q_np[:, s0:s1])
        t_glob, ours = timed(global_influence, q_s, conf)
        t_baal, theirs = timed(baal_style_bald, q_np_s, conf_np)
        t_la, _ = timed(la_bald, q_s, conf)
        n_pairs = max(1, round(args.pairs * (s1 - s0) / N))
        t_sampled = sampled_route_seconds(q_np_s, conf_np, n_pairs, rng)
        gap = max(gap, float(np.abs(theirs - ours.numpy()).max()))
        for key, t in zip(totals, (t_glob, t_la, t_baal, t_sampled), strict=True):
            totals[key] += t
        pairs_done += n_pairs
        per_slice.append((t_baal / t_glob, t_sampled / n_pairs * (s1 - s0) * M / t_la))
        print(f"  slice [{s0:6d}, {s1:6d}): global {t_glob:6.2f} s, baal-style {t_baal:7.2f} s, "
              f"la_bald {t_la:6.2f} s, sampled {n_pairs} pairs {t_sampled:6.2f} s "
              f"(load {load_average()})", flush=True)
    t_sampled_all = totals["sampled"] / pairs_done * N * M
    baal_r = [r[0] for r in per_slice]
    sampled_r = [r[1] for r in per_slice]
    print(f"(a) baal-style BALD loop over workers: {totals['baal']:.2f} s vs global_influence "
          f"{totals['glob']:.2f} s -> {totals['baal'] / totals['glob']:.1f}x faster "
          f"(per slice {min(baal_r):.1f}-{max(baal_r):.1f}x; max |diff| {gap:.1e})")
    print(f"(b) paper's sampled route: {totals['sampled'] / pairs_done * 1e6:.0f} us/pair x "
          f"{N * M:,} pairs = {t_sampled_all:,.0f} s (from {pairs_done} pairs) vs la_bald "
          f"{totals['la']:.2f} s -> {t_sampled_all / totals['la']:,.0f}x faster "
          f"(per slice {min(sampled_r):,.0f}-{max(sampled_r):,.0f}x)")


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
    parser.add_argument("--pairs", type=int, default=400, help="pairs timed on the sampled route")
    parser.add_argument("--slices", type=int, default=8,
                        help="image slices for the interleaved comparison")
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
        args.slices = min(args.slices, 2)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        if threadpool_limits is not None:
            threadpool_limits(args.threads)  # numpy's BLAS, for the references
    T, N, M, K = args.t, args.n, args.m, args.k
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"T={T} N={N} M={M} K={K} ({N * M:,} pairs), float32; load average {load_average()}")
    q, conf = make_inputs(T, N, M, K, args.seed)
    la_bald(q[:, :64], conf)  # warm up kernels and the thread pool

    t_global, _ = timed(global_influence, q, conf, repeat=args.repeat)
    t_local, _ = timed(local_influence, q, conf, repeat=args.repeat)
    t_la, _ = timed(la_bald, q, conf, repeat=args.repeat)
    peak = peak_extra_mib(la_bald, q, conf)
    print(f"global_influence  {t_global:8.3f} s")
    print(f"local_influence   {t_local:8.3f} s  (paper form)")
    print(f"la_bald           {t_la:8.3f} s")
    print(f"la_bald peak extra RSS: {peak:.0f} MiB (inputs q: {q.numel() * 4 / 2**20:.0f} MiB)"
          if peak is not None else "la_bald peak extra RSS: unavailable (no /proc/self/clear_refs)")
    print(f"interleaved comparison on {args.slices} image slices (load {load_average()}):")
    interleaved_ratios(q, conf, args)

    if not args.no_sweep:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["param", "K", "T", "N", "M", "seconds"])
            sweep(args, writer)
        print(f"(c) sweep written to {args.csv}")


if __name__ == "__main__":
    main()
