"""Acquisition scores vs a slow float64 oracle, analytic anchors and the paper's sampled route."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labald.acquisition import (
    annotation_posterior,
    global_influence,
    influence_scores,
    jaccard,
    la_bald,
    local_influence,
    top_k_jaccard,
    top_k_sets,
)


def _dirichlet(rng: np.random.Generator, alpha: float, shape: tuple, K: int) -> np.ndarray:
    return rng.dirichlet(np.full(K, alpha), size=shape)


def _case(seed: int, T: int = 5, N: int = 4, M: int = 3, K: int = 4, alpha: float = 0.7):
    """Random q_t [T, N, K] and confusions [M, K, K] (diagonal-heavy, strictly positive)."""
    rng = np.random.default_rng(seed)
    q = _dirichlet(rng, alpha, (T, N), K)
    W = _dirichlet(rng, 1.0, (M, K), K) + 2.0 * np.eye(K)
    return q, W / W.sum(-1, keepdims=True)


def _H(p: np.ndarray) -> float:
    return -sum(float(x) * math.log(x) for x in p if x > 0)


def oracle(q: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global, local paper, local exact), [N, M], by explicit loops over i, j, t, z, y (SPEC 5)."""
    T, N, K = q.shape
    M = W.shape[0]
    G, Lp, Le = (np.zeros((N, M)) for _ in range(3))
    for i in range(N):
        for j in range(M):
            p_t = np.zeros((T, K))
            for t in range(T):
                for z in range(K):
                    p_t[t, z] = sum(q[t, i, y] * W[j, y, z] for y in range(K))
            G[i, j] = _H(p_t.mean(0)) - np.mean([_H(p_t[t]) for t in range(T)])
            paper = exact = 0.0
            for t in range(T):
                for z in range(K):
                    if p_t[t, z] == 0:
                        continue
                    for y in range(K):
                        post = q[t, i, y] * W[j, y, z] / p_t[t, z]
                        # log of a zero entry floored at 1e-12, as documented
                        paper += p_t[t, z] * (post - 1 / K) * math.log(max(W[j, y, z], 1e-12))
                exact += _H(p_t[t]) - sum(q[t, i, y] * _H(W[j, y]) for y in range(K))
            Lp[i, j], Le[i, j] = paper / T, exact / T
    return G, Lp, Le


def _t(x: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_loop_oracle_float64(seed):
    q, W = _case(seed, T=6, N=5, M=3, K=4)
    G, Lp, Le = oracle(q, W)
    for got, want in [
        (global_influence(_t(q), _t(W)), G),
        (local_influence(_t(q), _t(W), form="paper"), Lp),
        (local_influence(_t(q), _t(W), form="exact"), Le),
        (la_bald(_t(q), _t(W)), G + Lp),
    ]:
        assert got.shape == (5, 3) and got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-12)


def test_float32_in_float32_out_close_to_oracle():
    q, W = _case(3, T=8, N=6, M=4, K=5)
    G, Lp, Le = oracle(q, W)
    qf, Wf = _t(q, torch.float32), _t(W, torch.float32)
    for got, want in [
        (global_influence(qf, Wf), G),
        (local_influence(qf, Wf), Lp),
        (local_influence(qf, Wf, form="exact"), Le),
        (la_bald(qf, Wf), G + Lp),
    ]:
        assert got.dtype == torch.float32 and got.shape == (6, 4)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_perfect_worker_global_is_model_bald():
    q, _ = _case(4, T=10, N=7, K=6)
    qt = _t(q)
    mean = qt.mean(0)
    bald = -(mean * mean.log()).sum(-1) + (qt * qt.log()).sum(-1).mean(0)
    G = global_influence(qt, torch.eye(6, dtype=torch.float64)[None])
    np.testing.assert_allclose(G[:, 0].numpy(), bald.numpy(), rtol=1e-10)


def test_uninformative_worker_scores_zero():
    q, W = _case(5, T=7, N=6, M=2, K=5)
    W[1] = np.tile(np.random.default_rng(0).dirichlet(np.ones(5)), (5, 1))  # equal rows
    scores = influence_scores(_t(q), _t(W))
    np.testing.assert_allclose(scores.global_N_M[:, 1].numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(scores.local_exact_N_M[:, 1].numpy(), 0, atol=1e-12)
    assert (scores.global_N_M[:, 0] > 0).all() and (scores.local_exact_N_M[:, 0] > 0).all()


def test_global_plus_exact_local_is_mutual_information_under_mean_posterior():
    q, W = _case(6, T=9, N=8, M=4, K=5)
    scores = influence_scores(_t(q), _t(W))
    qbar = q.mean(0)
    want = np.array([[_H(qbar[i] @ W[j]) - sum(qbar[i, y] * _H(W[j, y]) for y in range(5))
                      for j in range(4)] for i in range(8)])
    total = scores.global_N_M + scores.local_exact_N_M
    np.testing.assert_allclose(total.numpy(), want, rtol=1e-9)


def test_paper_local_is_mean_row_divergence_and_bounds_exact_when_prior_uniform():
    q, W = _case(10, T=6, N=5, M=3, K=4)
    kl = np.array([[[np.sum(W[j, y] * np.log(W[j, y] / W[j, v])) for v in range(4)]
                    for y in range(4)] for j in range(3)])  # [M, K, K]
    want = q.mean(0) @ kl.mean(-1).T
    np.testing.assert_allclose(local_influence(_t(q), _t(W)).numpy(), want, rtol=1e-9)
    # Uniform posterior: Prop. 2's "-log p(z) = -sum_y p(y) log p(z|y)" is Jensen's inequality,
    # so the paper form upper-bounds the exact mutual information rather than equalling it.
    uniform = _t(np.full((1, 5, 4), 0.25))
    paper, exact = local_influence(uniform, _t(W)), local_influence(uniform, _t(W), form="exact")
    assert (paper > exact + 1e-3).all()


def test_zero_confusion_entries_stay_finite():
    q, W = _case(7, T=4, N=5, M=2, K=4)
    W[0] = np.eye(4)  # perfect worker: off-diagonal zeros
    W[1, 0] = [0.0, 0.5, 0.5, 0.0]
    scores = influence_scores(_t(q), _t(W))
    for s in scores + (scores.la_bald_N_M,):
        assert torch.isfinite(s).all()
    G, Lp, Le = oracle(q, W)
    np.testing.assert_allclose(scores.global_N_M.numpy(), G, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(scores.local_paper_N_M.numpy(), Lp, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(scores.local_exact_N_M.numpy(), Le, rtol=1e-6, atol=1e-12)


def test_chunking_does_not_change_results():
    q, W = _case(8, T=5, N=17, M=4, K=6)
    whole = influence_scores(_t(q), _t(W), chunk=10_000)
    for chunk in (1, 3, 16):
        parts = influence_scores(_t(q), _t(W), chunk=chunk)
        for a, b in zip(whole, parts, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    K=st.integers(2, 6),
    M=st.integers(1, 5),
    T=st.integers(1, 6),
    alpha=st.sampled_from([0.05, 0.5, 5.0]),
)
def test_global_bounded_and_permutes_with_workers(seed, K, M, T, alpha):
    rng = np.random.default_rng(seed)
    q = _t(_dirichlet(rng, alpha, (T, 3), K))
    W = _t(_dirichlet(rng, alpha, (M, K), K))
    G = global_influence(q, W)
    assert (G >= 0).all() and (G <= math.log(K) + 1e-12).all()
    perm = torch.as_tensor(rng.permutation(M))
    torch.testing.assert_close(global_influence(q, W[perm]), G[:, perm])
    torch.testing.assert_close(la_bald(q, W[perm]), la_bald(q, W)[:, perm])


def _sampled_paper_local(q_T_K: np.ndarray, W_K_K: np.ndarray, S: int, rng) -> float:
    """The paper's route: draw z ~ p_t(z), score sum_y (p_t(y|z) - 1/K) log W[y, z], average."""
    T, K = q_T_K.shape
    p_T_K = q_T_K @ W_K_K
    cdf = p_T_K.cumsum(-1)
    u = rng.random((T, S, 1))
    z_T_S = np.minimum((u > cdf[:, None, :]).sum(-1), K - 1)
    post_T_S_K = q_T_K[:, None, :] * W_K_K.T[z_T_S]  # q_t(y) W[y, z]
    post_T_S_K /= post_T_S_K.sum(-1, keepdims=True)
    summand = ((post_T_S_K - 1 / K) * np.log(W_K_K.T[z_T_S])).sum(-1)
    return float(summand.mean()), float(summand.std() / math.sqrt(summand.size))


def test_sampled_annotation_estimate_converges_to_closed_form():
    q, W = _case(9, T=20, N=2, M=2, K=5)
    closed = local_influence(_t(q), _t(W)).numpy()
    rng = np.random.default_rng(1)
    for i in range(2):
        for j in range(2):
            estimate, stderr = _sampled_paper_local(q[:, i], W[j], S=20_000, rng=rng)
            assert abs(estimate - closed[i, j]) < 5 * stderr + 1e-9


def test_posterior_rows_sum_to_one_and_match_hand_product():
    mc = torch.tensor([[[0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8]]], dtype=torch.float64)
    ll = torch.log(torch.tensor([[0.9, 0.05, 0.05]], dtype=torch.float64))
    q = annotation_posterior(mc, ll)
    hand0 = np.array([0.45, 0.015, 0.01]) / 0.475
    hand1 = np.array([0.09, 0.005, 0.04]) / 0.135
    np.testing.assert_allclose(q[0, 0].numpy(), hand0, rtol=1e-12)
    np.testing.assert_allclose(q[1, 0].numpy(), hand1, rtol=1e-12)
    rng = np.random.default_rng(0)
    big = annotation_posterior(_t(_dirichlet(rng, 0.5, (4, 9), 6)), _t(rng.normal(0, 3, (9, 6))))
    torch.testing.assert_close(big.sum(-1), torch.ones(4, 9, dtype=torch.float64))


def test_a_scratch_posterior_has_the_checked_posteriors_values():
    rng = np.random.default_rng(1)
    mc = torch.from_numpy(_dirichlet(rng, 0.3, (5, 40), 7)).float()
    mc[0, 0, 0] = 0.0  # floored at the smallest normal either way
    mc[0, 0] /= mc[0, 0].sum()
    ll = _t(rng.normal(0, 3, (40, 7)))
    ll[1] = -torch.inf  # every label ruled out: the model's row
    expected = annotation_posterior(mc, ll)
    buffer = mc.clone()
    assert torch.equal(annotation_posterior(buffer, ll, scratch=True), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_posterior_stable_with_very_negative_log_likelihood(dtype):
    mc = torch.tensor([[[0.2, 0.3, 0.5, 0.0]]], dtype=dtype)
    ll = torch.tensor([[-1e4, -1e4 - 2.0, -2e4, -float("inf")]], dtype=dtype)
    q = annotation_posterior(mc, ll)
    assert q.dtype == dtype and torch.isfinite(q).all()
    w = np.array([0.2, 0.3 * math.exp(-2.0)])
    np.testing.assert_allclose(q[0, 0, :2].numpy(), w / w.sum(), rtol=1e-5)
    assert q[0, 0, 2:].sum() < 1e-30
    all_impossible = annotation_posterior(mc, torch.full((1, 4), -float("inf"), dtype=dtype))
    torch.testing.assert_close(all_impossible[0, 0, :3], mc[0, 0, :3])


def test_float32_posterior_matches_float64_and_far_labels_stay_below_the_smallest_normal():
    """Logits far below the row's best are raised to exp's normal range (speed): q_t there stays
    under 2e-38, and everything else matches the float64 posterior."""
    rng = np.random.default_rng(3)
    mc = _dirichlet(rng, 0.3, (5, 40), 6)
    ll = -rng.exponential(60.0, (40, 6))  # many labels hundreds of nats below the best
    q64 = annotation_posterior(torch.from_numpy(mc), torch.from_numpy(ll))
    q32 = annotation_posterior(torch.from_numpy(mc).float(), torch.from_numpy(ll).float())
    torch.testing.assert_close(q32.double(), q64, rtol=1e-5, atol=2e-38)
    far = q64 < 1e-38
    assert bool(far.any()) and float(q32[far].max()) < 2e-38
    torch.testing.assert_close(q32.sum(-1), torch.ones(5, 40))
    # any memory layout of the same [T, N, K] values gives the same posterior
    image_major = torch.from_numpy(mc).float().transpose(0, 1).contiguous().transpose(0, 1)
    assert torch.equal(annotation_posterior(image_major, torch.from_numpy(ll).float()), q32)


def test_top_k_jaccard_identical_disjoint_and_partial():
    s = torch.arange(20.0).reshape(4, 5)
    assert top_k_jaccard(s, s.clone(), k=5) == 1.0
    assert top_k_jaccard(s, -s, k=5) == 0.0
    b = s.clone()
    b[3, 4] = b[3, 3] = -1.0  # top-4 of s: 19, 18, 17, 16; of b: 17, 16, 15, 14 -> 2 / 6
    assert top_k_jaccard(s, b, k=4) == pytest.approx(2 / 6)
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[3, 3:] = False  # masking the two changed pairs makes the tops agree
    assert top_k_jaccard(s, b, k=4, valid=valid) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_by_kth_value_equals_the_stable_sort_it_stands_for(seed):
    """Scores with many ties (a few distinct values), a validity mask, random and index ties."""
    from labald.acquisition.overlap import _top_k_pairs, _top_k_pairs_by_sort

    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (40, 7), generator=g).float()
    valid = torch.rand(40, 7, generator=g) > 0.2
    for k in (1, 5, 50, 279, 400):
        for mask in (None, valid):
            fast = _top_k_pairs(scores, mask, k, torch.Generator().manual_seed(seed + 10))
            slow = _top_k_pairs_by_sort(scores, mask, k, torch.Generator().manual_seed(seed + 10))
            assert fast == slow
            assert _top_k_pairs(scores, mask, k, None) == _top_k_pairs_by_sort(scores, mask, k, None)


def test_one_top_k_set_per_ranking_gives_every_pairwise_jaccard():
    """top_k_sets draws each ranking's tie order from the generator in turn; jaccard of its sets
    equals the stable-sort reference drawn the same way, and NaN only when both sets are empty."""
    from labald.acquisition.overlap import _top_k_pairs_by_sort

    g = torch.Generator().manual_seed(5)
    rankings = [torch.randint(0, 3, (30, 6), generator=g).float() for _ in range(3)]
    sets = top_k_sets(rankings, 20, ties=torch.Generator().manual_seed(9))
    ties = torch.Generator().manual_seed(9)
    assert sets == [_top_k_pairs_by_sort(r, None, 20, ties) for r in rankings]
    assert all(len(s) == 20 for s in sets)
    assert jaccard(sets[0], sets[1]) == len(sets[0] & sets[1]) / len(sets[0] | sets[1])
    assert math.isnan(jaccard(set(), set())) and jaccard({1}, set()) == 0.0
    with pytest.raises(ValueError, match=r"\[N, M\]"):
        top_k_sets([rankings[0], rankings[1][:5]], 20)


def test_bad_inputs_raise_clear_errors():
    q, W = _case(0)
    with pytest.raises(ValueError, match=r"\[T, N, K\]"):
        global_influence(_t(q[0]), _t(W))
    with pytest.raises(ValueError, match=r"\[M, K, K\]"):
        la_bald(_t(q), _t(W[:, :3]))
    with pytest.raises(ValueError, match="sum to 1"):
        local_influence(_t(q) * 2, _t(W))
    nan_q = _t(q).clone()
    nan_q[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite and non-negative"):
        la_bald(nan_q, _t(W))
    with pytest.raises(ValueError, match="float32 or float64"):
        global_influence(_t(q).half(), _t(W))
    with pytest.raises(ValueError, match="form"):
        local_influence(_t(q), _t(W), form="approx")
    with pytest.raises(ValueError, match="chunk"):
        la_bald(_t(q), _t(W), chunk=0)
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        annotation_posterior(_t(q), _t(q[0, :2]))


def test_split_over_t_and_threads_do_not_change_results(monkeypatch):
    """Tiny work buffers force the split over MC samples; 1 vs 2 threads use the worker pool."""
    import labald.acquisition.scores as scores

    q, W = _case(11, T=7, N=9, M=3, K=4)
    G, Lp, Le = oracle(q, W)
    whole = influence_scores(_t(q), _t(W))
    old_threads = torch.get_num_threads()
    monkeypatch.setattr(scores, "_BLOCK_ELEMENTS", 3 * 3 * 4)  # 3 (t, image) rows per buffer
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for chunk in (1, 4, 2048):
                parts = influence_scores(_t(q), _t(W), chunk=chunk)
                for a, b in zip(whole, parts, strict=True):
                    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
            assert torch.get_num_threads() == threads  # the worker pool leaves it as it was
    finally:
        torch.set_num_threads(old_threads)
    np.testing.assert_allclose(whole.global_N_M.numpy(), G, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(whole.local_exact_N_M.numpy(), Le, rtol=1e-6, atol=1e-12)
