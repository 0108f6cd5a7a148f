"""Pair scores of LA-BALD: global influence I(z_ij; theta) and local influence I(z_ij; y_i | theta).

Notation: q_t(i, y) is the t-th MC posterior of image i's label, W_j the confusion matrix of worker j
in the layout ``confusion_M_K_K[j, true, answered]``, and

    p_t(z | i, j) = sum_y q_t(i, y) W_j[y, z]          (the predicted answer of worker j on i).

Every expectation over the answer z is exact, by enumerating its K values. The only quantity that
needs all T samples is mean_t H[p_t(. | i, j)], an O(T N M K^2) matmul plus O(T N M K) logs; it is
computed in image blocks whose work buffers hold at most ``_BLOCK_ELEMENTS`` numbers, so memory
stays bounded whatever N and T are. Both local forms are linear in q_t (see `local_influence`), so
they need only the mean posterior qbar(i, .) = mean_t q_t(i, .).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch
from torch import Tensor

from labald.acquisition._checks import check_chunk, check_probs_and_confusions
from labald.acquisition._cpu import flushing_denormals, single_threaded_flushing

# Cap on the numbers in one block's [rows, M * K] work buffer (8 MiB in float32; one per worker
# thread): with one buffer (log in place, no p log p products) fewer, larger blocks win; at paper
# scale (T = 100, 4,043 images, M = 60, K = 16) 2^19 took 0.35 s, 2^20 0.29, 2^21 0.25, 2^22 0.24 on
# 2 threads. It keeps peak memory flat in N, T and `chunk`.
_BLOCK_ELEMENTS = 2**21
# On a GPU the cost is kernel launches, not cache: blocks of up to 2^26 numbers (256 MiB buffers).
_BLOCK_ELEMENTS_CUDA = 2**26
# The paper form takes log W_j[y, z] of entries that may be 0 (its Prop. 2 needs W > 0, which EM
# with a Dirichlet prior guarantees); zeros are floored here so the score stays finite.
_LOG_FLOOR = 1e-12


def influence_ranking(global_, local, with_local: bool = True):
    """What a pair is ranked by: LA-BALD's global + local influence (paper, appendix B.1), or, with
    `with_local` false, J-BALD's global influence alone. The one place the sum is written; tensors or
    arrays, any shape."""
    return global_ + local if with_local else global_


class InfluenceScores(NamedTuple):
    """All pair scores from one pass over the MC samples, each [N, M] in nats."""

    global_N_M: Tensor
    local_paper_N_M: Tensor
    local_exact_N_M: Tensor

    @property
    def la_bald_N_M(self) -> Tensor:
        """LA-BALD's ranking score, global + local (paper form)."""
        return influence_ranking(self.global_N_M, self.local_paper_N_M)


def _answer_probs(probs_R_K1: Tensor, confusion_K1_MK: Tensor, out: Tensor | None = None) -> Tensor:
    """p(z | i, j) + tiny for every worker at once, [R, M * K]: one [R, K + 1] @ [K + 1, M * K] matmul.

    Each q row carries a trailing 1 and W a last row of the smallest normal number
    (`_with_tiny_row`), so tiny is the product's own last term: log p is finite where p = 0, every p
    above 1e-30 is unchanged in float32, and 0 log 0 = 0. (An addmm with a broadcast tiny first
    copies it over the whole output: 0.157 s of one thread per paper-scale pass instead of 0.074.)
    """
    return torch.mm(probs_R_K1, confusion_K1_MK, out=out)


def _with_tiny_row(confusion_K_MK: Tensor) -> Tensor:
    """[K + 1, M * K]: W with a last row of the dtype's smallest normal number (`_answer_probs`)."""
    return torch.cat([confusion_K_MK, confusion_K_MK.new_full((1, confusion_K_MK.shape[1]),
                                                              torch.finfo(confusion_K_MK.dtype).tiny)])


def _image_blocks(N: int, chunk: int, block: int) -> list[tuple[int, int]]:
    """[i0, i1) image ranges of at most `block` images that never straddle a `chunk` boundary."""
    return [(i0, min(i0 + block, c0 + chunk, N))
            for c0 in range(0, N, chunk) for i0 in range(c0, min(N, c0 + chunk), block)]


def _run_blocks(run_block, n_blocks: int, on_cpu: bool = True) -> None:
    """Call run_block(k) for every k, on torch.get_num_threads() Python threads when > 1.

    Each worker thread runs torch single-threaded and takes the next block when it is done. This
    beats torch's own intra-op parallelism here: every op of a block is ~1 ms, and OpenMP's
    barrier after each op stalls whenever the machine is shared (2 threads on a loaded 2-core box
    measured 5-10x slower than 1 thread; the work queue degrades to 1-thread speed instead).
    Blocks write disjoint rows of the outputs, so the result does not depend on the schedule.
    """
    n_threads = min(torch.get_num_threads(), n_blocks) if on_cpu else 1
    if n_threads <= 1:  # and on a GPU, whose kernels are queued in order anyway
        with flushing_denormals(on_cpu):
            for k in range(n_blocks):
                run_block(k)
        return
    try:
        # set_num_threads in a worker sets that thread's OpenMP/MKL team size to 1; it also sets
        # the default for threads started later, which the `finally` restores.
        with ThreadPoolExecutor(n_threads, initializer=single_threaded_flushing) as pool:
            for _ in pool.map(run_block, range(n_blocks)):
                pass
    finally:
        torch.set_num_threads(torch.get_num_threads())


def _predictive_entropies(
    probs_T_N_K: Tensor, confusion_M_K_K: Tensor, chunk: int
) -> tuple[Tensor, Tensor]:
    """Return (H[pbar(. | i, j)], mean_t H[p_t(. | i, j)]), both [N, M], with pbar = mean_t p_t.

    The T N M K terms of the mean entropy dominate. Per block of images, one matmul writes
    p_t(z | i, j) + tiny for all (image, t) rows and all workers into a [rows, M * K] buffer and
    log overwrites it in place; the p log p products are then never formed, since p_t = q_t W_j:

        sum_t sum_z p_t(z) log p_t(z) = sum_{y,z} W_j[y, z] G_i[y, (j, z)],  G_i = Q_i^T log P_i,

    with Q_i the [T, K] posteriors of image i and log P_i its [T, M * K] log-answers: one batched
    [K, T] @ [T, M * K] product per block (matmul speed) replaces a multiply and a sum over all
    T M K terms (memory speed), and what is left is [K, M * K] per image, T times fewer terms.
    The products are exact zeros where p_t(z) = 0 (0 log 0 = 0). If one image's T rows overflow the
    buffer, t is split and G accumulated. The q_t rows carry the trailing 1 of `_answer_probs`.
    """
    T, N, K = probs_T_N_K.shape
    M = confusion_M_K_K.shape[0]
    entropy_of_mean_N_M = probs_T_N_K.new_zeros(N, M)
    mean_entropy_N_M = probs_T_N_K.new_zeros(N, M)
    if N == 0 or M == 0:
        return entropy_of_mean_N_M, mean_entropy_N_M
    MK = M * K
    confusion_K_MK = confusion_M_K_K.permute(1, 0, 2).reshape(K, MK)
    limit = _BLOCK_ELEMENTS if probs_T_N_K.device.type == "cpu" else _BLOCK_ELEMENTS_CUDA
    block = max(1, min(chunk, limit // (T * MK)))
    t_step = T if block * T * MK <= limit else max(1, limit // MK)
    blocks = _image_blocks(N, chunk, block)
    confusion_K1_MK = _with_tiny_row(confusion_K_MK)
    # a block's (image, t) rows contiguous, each q_t(i, .) followed by a 1
    probs_N_T_K1 = probs_T_N_K.new_ones(N, T, K + 1)
    probs_N_T_K1[..., :K] = probs_T_N_K.transpose(0, 1)
    buffers = threading.local()

    def run_block(k: int) -> None:
        i0, i1 = blocks[k]
        b = i1 - i0
        if not hasattr(buffers, "answers"):
            buffers.answers = probs_T_N_K.new_empty(min(T, t_step) * block * MK)
        g_b_K_MK = None
        for t0 in range(0, T, t_step):
            tb = min(t_step, T - t0)
            q_b_t_K1 = probs_N_T_K1[i0:i1, t0 : t0 + tb]
            q_b_t_K = q_b_t_K1[..., :K]
            q_R_K1 = q_b_t_K1.reshape(b * tb, K + 1)  # a view unless t is split
            log_answers = _answer_probs(q_R_K1, confusion_K1_MK,
                                        out=buffers.answers[: b * tb * MK].view(b * tb, MK)).log_()
            part = torch.bmm(q_b_t_K.transpose(1, 2), log_answers.view(b, tb, MK))  # [b, K, M * K]
            g_b_K_MK = part if g_b_K_MK is None else g_b_K_MK.add_(part)
        plogp_b_M = g_b_K_MK.view(b, K, M, K).mul_(confusion_K_MK.view(1, K, M, K)).sum(dim=(1, 3))
        mean_entropy_N_M[i0:i1] = plogp_b_M.div_(-T)

    def run_mean_chunk(c0: int) -> None:
        c1 = min(N, c0 + chunk)
        # p_t is linear in q_t, so the mean answer distribution is the mean's image.
        mean_c_K = probs_T_N_K[:, c0:c1].mean(0)
        mean_answers_c_MK = _answer_probs(torch.cat([mean_c_K, mean_c_K.new_ones(c1 - c0, 1)], 1), confusion_K1_MK)
        plogp_c_M_K = (mean_answers_c_MK.log() * mean_answers_c_MK).view(c1 - c0, M, K)
        entropy_of_mean_N_M[c0:c1] = plogp_c_M_K.sum(-1).neg_()

    # the entropy-of-mean chunks are tasks of the same workers (first: they are the longest)
    tasks = [(run_mean_chunk, c0) for c0 in range(0, N, chunk)] + [(run_block, k) for k in range(len(blocks))]
    _run_blocks(lambda i: tasks[i][0](tasks[i][1]), len(tasks), probs_T_N_K.device.type == "cpu")
    return entropy_of_mean_N_M, mean_entropy_N_M


def _row_entropies(confusion_M_K_K: Tensor) -> Tensor:
    """H[W_j[y, .]], [M, K]: the noise of worker j's answer when the true label is y."""
    return -torch.special.xlogy(confusion_M_K_K, confusion_M_K_K).sum(-1)


def _paper_local_weights(confusion_M_K_K: Tensor) -> Tensor:
    """c_j[y] = sum_z W_j[y,z] (log W_j[y,z] - (1/K) sum_y' log W_j[y',z]), returned as [K, M].

    This is (1/K) sum_y' KL(W_j[y, .] || W_j[y', .]), the mean divergence of row y from the rest.
    """
    K = confusion_M_K_K.shape[-1]
    log_col_sums_M_K = confusion_M_K_K.clamp_min(_LOG_FLOOR).log().sum(1)  # [M, answered]
    cross_M_K = torch.einsum("myz,mz->my", confusion_M_K_K, log_col_sums_M_K)
    return (-_row_entropies(confusion_M_K_K) - cross_M_K / K).T


def influence_scores(probs: Tensor, confusions: Tensor, chunk: int = 2048) -> InfluenceScores:
    """Global, local (paper) and local (exact) influence of every pair in one pass; see below.

    probs: q_t, [T, N, K]; confusions: W, [M, K, K] as [worker, true, answered]. Returns [N, M]
    tensors in nats, in probs' dtype. `chunk` caps the images processed per block.
    """
    confusion_M_K_K = check_probs_and_confusions(probs, confusions)
    check_chunk(chunk)
    entropy_of_mean_N_M, mean_entropy_N_M = _predictive_entropies(probs, confusion_M_K_K, chunk)
    mean_probs_N_K = probs.mean(0)
    # Both are mutual informations, >= 0; clamping removes rounding noise of order 1e-7 (float32).
    global_N_M = (entropy_of_mean_N_M - mean_entropy_N_M).clamp_min_(0)
    local_exact_N_M = (mean_entropy_N_M - mean_probs_N_K @ _row_entropies(confusion_M_K_K).T)
    local_exact_N_M.clamp_min_(0)
    local_paper_N_M = mean_probs_N_K @ _paper_local_weights(confusion_M_K_K)
    return InfluenceScores(global_N_M, local_paper_N_M, local_exact_N_M)


def global_influence(probs: Tensor, confusions: Tensor, chunk: int = 2048) -> Tensor:
    """Global influence G_ij = I(z_ij; theta), [N, M] in nats (J-BALD's score).

        G_ij = H[mean_t p_t(. | i, j)] - mean_t H[p_t(. | i, j)]

    probs: q_t(i, y), [T, N, K]; confusions: W_j[y, z], [M, K, K]. 0 <= G_ij <= log K; a perfect
    worker (W = I) gives the model's plain BALD, an uninformative one (equal rows) gives 0.
    """
    confusion_M_K_K = check_probs_and_confusions(probs, confusions)
    check_chunk(chunk)
    entropy_of_mean_N_M, mean_entropy_N_M = _predictive_entropies(probs, confusion_M_K_K, chunk)
    return (entropy_of_mean_N_M - mean_entropy_N_M).clamp_min_(0)


def local_influence(
    probs: Tensor, confusions: Tensor, form: str = "paper", chunk: int = 2048
) -> Tensor:
    """Local influence I(z_ij; y_i | theta), [N, M] in nats.

    form="paper" (LA-BALD, Prop. 2, uniform label prior), p_t(y | z) = q_t(y) W[y, z] / p_t(z):

        L_ij = mean_t sum_z p_t(z | i, j) sum_y (p_t(y | z, i, j) - 1/K) log W_j[y, z]
             = sum_{y,z} (qbar(i, y) W_j[y, z] - pbar(z | i, j) / K) log W_j[y, z]
             = sum_y qbar(i, y) c_j[y],  c_j[y] = sum_z W_j[y,z] (log W_j[y,z] - S_j[z] / K),

    since p_t(z) p_t(y | z) = q_t(y) W[y, z]; S_j[z] = sum_y log W_j[y, z]. Linear in q_t, so
    O(N M K) after O(M K^2). Equivalently c_j[y] = (1/K) sum_y' KL(W_j[y, .] || W_j[y', .]): the
    paper form is >= 0 and infinite for a zero in W where another row is positive, so zero entries
    are floored at 1e-12 inside the log. It is not the exact MI even for a uniform posterior: the
    proof's step -log p(z) = -sum_y p(y) log p(z | y) is Jensen's inequality, so for uniform q_t
    the paper form upper-bounds the exact one (KL is convex in its second argument).

    form="exact" (the true conditional mutual information, averaged over MC samples):

        L_ij = mean_t H[p_t(. | i, j)] - sum_y qbar(i, y) H[W_j[y, .]]

    Global + exact local = I(z_ij; y_i) under qbar = H[pbar] - sum_y qbar(y) H[W_j[y, .]].
    """
    if form == "paper":
        confusion_M_K_K = check_probs_and_confusions(probs, confusions)
        check_chunk(chunk)
        return probs.mean(0) @ _paper_local_weights(confusion_M_K_K)
    if form == "exact":
        return influence_scores(probs, confusions, chunk).local_exact_N_M
    raise ValueError(f"form must be 'paper' or 'exact', got {form!r}")


def la_bald(probs: Tensor, confusions: Tensor, chunk: int = 2048) -> Tensor:
    """LA-BALD score S_ij = G_ij + L_ij (local in the paper form), [N, M] in nats."""
    return influence_scores(probs, confusions, chunk).la_bald_N_M
