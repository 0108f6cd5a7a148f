"""Dawid-Skene EM with a per-image prior (SPEC 3): a toy crowd with known truth, a loop-by-loop
reference, the prior's effect, EM monotonicity and the small pieces' analytic values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labald.aggregation import (
    EMOptions,
    annotation_log_likelihood,
    dawid_skene,
    dirichlet_prior,
    prior_mean,
)


def _uniform(n: int, k: int) -> np.ndarray:
    return np.full((n, k), 1.0 / k)


def _simulate(seed: int, n: int, m: int, k: int, n_answers: int, accuracy: float):
    """Seeded crowd: truth [n]; each answer is right with prob `accuracy`, else uniformly wrong."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(k, size=n)
    image = rng.integers(n, size=n_answers)
    worker = rng.integers(m, size=n_answers)
    wrong = (truth[image] + rng.integers(1, k, size=n_answers)) % k
    label = np.where(rng.random(n_answers) < accuracy, truth[image], wrong)
    return truth, image, worker, label


# ---------------------------------------------------------------------------------------------
# Slow, obvious reference: textbook Dawid-Skene, explicit loops, no prior on the confusions.
# ---------------------------------------------------------------------------------------------


def reference_dawid_skene(image, worker, label, prior, confusions0, n_iter):
    """q = E(What0); then n_iter times: What = M(q), q = E(What). Returns (q [N, K], What)."""
    n, k = prior.shape
    m = len(confusions0)
    answers = [[] for _ in range(n)]
    for i, j, z in zip(image, worker, label, strict=True):
        answers[i].append((j, z))

    def e_step(w):
        q = np.zeros((n, k))
        for i in range(n):
            log_q = [math.log(prior[i, y]) for y in range(k)]
            for j, z in answers[i]:
                for y in range(k):
                    log_q[y] += math.log(w[j, y, z]) if w[j, y, z] > 0 else -math.inf
            top = max(log_q)
            q[i] = [math.exp(v - top) for v in log_q]
            q[i] /= q[i].sum()
        return q

    def m_step(q):
        w = np.zeros((m, k, k))
        for i in range(n):
            for j, z in answers[i]:
                for y in range(k):
                    w[j, y, z] += q[i, y]
        for j in range(m):
            for y in range(k):
                total = w[j, y].sum()
                w[j, y] = w[j, y] / total if total > 0 else 1.0 / k
        return w

    w = np.array(confusions0, dtype=float)
    q = e_step(w)
    for _ in range(n_iter):
        w = m_step(q)
        q = e_step(w)
    return q, w


# ---------------------------------------------------------------------------------------------
# A tiny hand-written crowd with known truth (in the manner of crowd-kit's tests/conftest.py).
# ---------------------------------------------------------------------------------------------

TOY_TRUTH = np.array([0, 1, 2, 0, 1, 2, 0, 1])
# (image, worker, label): workers 0-3 are good (one slip each at most), worker 4 is always wrong.
TOY_ANSWERS = [
    (0, 0, 0), (0, 1, 0), (0, 2, 0), (0, 3, 1), (0, 4, 1),
    (1, 0, 1), (1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 2),
    (2, 0, 2), (2, 1, 2), (2, 2, 0), (2, 3, 2), (2, 4, 0),
    (3, 0, 0), (3, 1, 0), (3, 2, 0), (3, 3, 0), (3, 4, 1),
    (4, 0, 1), (4, 1, 2), (4, 2, 1), (4, 3, 1), (4, 4, 2),
    (5, 0, 2), (5, 1, 2), (5, 2, 2), (5, 3, 2), (5, 4, 0),
    (6, 0, 0), (6, 1, 0), (6, 2, 0), (6, 4, 1),
    (7, 1, 1), (7, 2, 1), (7, 3, 1), (7, 4, 2),
]  # fmt: skip


def _toy():
    image, worker, label = (np.array(c) for c in zip(*TOY_ANSWERS, strict=True))
    return image, worker, label


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_toy_crowd_truth_recovered_and_bad_worker_ranked_last(strength):
    image, worker, label = _toy()
    alpha = dirichlet_prior(3, 0.7, row_total=3.0, strength=strength)
    res = dawid_skene(image, worker, label, _uniform(8, 3), alpha, n_workers=5, options=EMOptions(max_iter=50))
    np.testing.assert_array_equal(res.posterior.argmax(1), TOY_TRUTH)
    accuracy = np.einsum("jyy->jy", res.confusions).mean(axis=1)
    assert accuracy.argmin() == 4
    assert accuracy[4] < (0.1 if strength == 0 else 0.5) and accuracy[:4].min() > 0.6
    # the bad worker's confusion learns its shift y -> y + 1
    assert np.all(res.confusions[4].argmax(axis=1) == (np.arange(3) + 1) % 3)


# ---------------------------------------------------------------------------------------------
# Against the loop reference.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_iter", [1, 4, 10])
def test_matches_textbook_dawid_skene_without_prior(n_iter):
    n, m, k = 300, 8, 4
    truth, image, worker, label = _simulate(seed=3, n=n, m=m, k=k, n_answers=1200, accuracy=0.6)
    w0 = np.broadcast_to(prior_mean(k, 0.7), (m, k, k))
    q_ref, w_ref = reference_dawid_skene(image, worker, label, _uniform(n, k), w0, n_iter)
    no_alpha = np.zeros((k, k))
    res = dawid_skene(image, worker, label, _uniform(n, k), no_alpha, m, options=EMOptions(max_iter=n_iter, tol=0.0))
    assert res.iterations == n_iter
    np.testing.assert_array_equal(res.posterior.argmax(1), q_ref.argmax(1))
    np.testing.assert_allclose(res.posterior, q_ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(res.confusions, w_ref, rtol=1e-6, atol=1e-12)
    assert (res.posterior.argmax(1) == truth).mean() > 0.65  # answers are right 60% of the time


def test_init_confusions_are_used_as_the_starting_point():
    n, m, k = 60, 4, 3
    _, image, worker, label = _simulate(seed=5, n=n, m=m, k=k, n_answers=200, accuracy=0.7)
    w0 = np.random.default_rng(0).dirichlet(np.ones(k), size=(m, k)) + np.eye(k)
    w0 /= w0.sum(-1, keepdims=True)
    q_ref, _ = reference_dawid_skene(image, worker, label, _uniform(n, k), w0, n_iter=2)
    no_alpha = np.zeros((k, k))
    res = dawid_skene(
        image, worker, label, _uniform(n, k), no_alpha, m, init_confusions=w0, options=EMOptions(max_iter=2, tol=0)
    )
    np.testing.assert_allclose(res.posterior, q_ref, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The per-image prior.
# ---------------------------------------------------------------------------------------------


def test_strong_correct_prior_beats_uniform_prior_on_a_noisy_crowd():
    n, m, k = 400, 5, 4
    truth, image, worker, label = _simulate(seed=11, n=n, m=m, k=k, n_answers=n, accuracy=0.45)
    prior = np.full((n, k), 0.5 / (k - 1))
    prior[np.arange(n), truth] = 0.5
    alpha = dirichlet_prior(k, 0.45, row_total=20.0, strength=1.0)
    with_prior = dawid_skene(image, worker, label, prior, alpha, m).posterior.argmax(1)
    uniform = dawid_skene(image, worker, label, _uniform(n, k), alpha, m).posterior.argmax(1)
    acc_prior, acc_uniform = (with_prior == truth).mean(), (uniform == truth).mean()
    assert acc_uniform < 0.7
    assert acc_prior > acc_uniform + 0.2


def test_images_without_answers_keep_their_prior():
    n, m, k = 50, 4, 3
    rng = np.random.default_rng(2)
    prior = rng.dirichlet(np.ones(k), size=n)
    _, image, worker, label = _simulate(seed=2, n=n, m=m, k=k, n_answers=40, accuracy=0.7)
    res = dawid_skene(image, worker, label, prior, dirichlet_prior(k, 0.7, 20.0, 1.0), m)
    unanswered = np.setdiff1d(np.arange(n), image)
    assert len(unanswered) > 5
    np.testing.assert_allclose(res.posterior[unanswered], prior[unanswered], rtol=1e-12)


def test_no_answers_at_all_returns_the_prior_and_the_start():
    k, m = 3, 2
    prior = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    empty = np.array([], dtype=np.int64)
    res = dawid_skene(empty, empty, empty, prior, dirichlet_prior(k, 0.7, 20.0, 1.0), m)
    np.testing.assert_allclose(res.posterior, prior, rtol=1e-12)
    np.testing.assert_allclose(res.confusions, np.broadcast_to(prior_mean(k, 0.7), (m, k, k)))
    assert res.iterations == 0 and res.converged


# ---------------------------------------------------------------------------------------------
# Properties.
# ---------------------------------------------------------------------------------------------


@st.composite
def small_crowds(draw):
    k = draw(st.integers(2, 4))
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 4))
    n_answers = draw(st.integers(1, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(n, size=n_answers)
    worker = rng.integers(m, size=n_answers)
    label = rng.integers(k, size=n_answers)
    prior = rng.dirichlet(np.ones(k), size=n) if draw(st.booleans()) else _uniform(n, k)
    accuracy = draw(st.floats(0.2, 0.95))
    strength = draw(st.sampled_from([0.0, 0.05, 0.5, 1.0, 3.0]))
    alpha = dirichlet_prior(k, accuracy, row_total=draw(st.floats(1.0, 25.0)), strength=strength)
    return image, worker, label, prior, alpha, m


@settings(max_examples=40, deadline=None)
@given(small_crowds())
def test_em_never_lowers_its_objective(crowd):
    image, worker, label, prior, alpha, m = crowd
    objectives = [
        dawid_skene(image, worker, label, prior, alpha, m, options=EMOptions(max_iter=t, tol=0.0)).objective
        for t in range(7)
    ]
    for before, after in zip(objectives, objectives[1:], strict=False):
        assert after >= before - 1e-9 * max(1.0, abs(before))


@settings(max_examples=30, deadline=None)
@given(small_crowds())
def test_rows_sum_to_one_and_inputs_untouched(crowd):
    image, worker, label, prior, alpha, m = crowd
    k = prior.shape[1]
    w0 = np.random.default_rng(1).dirichlet(np.ones(k), size=(m, k))
    inputs = (image, worker, label, prior, alpha, w0)
    copies = [a.copy() for a in inputs]
    res = dawid_skene(image, worker, label, prior, alpha, m, init_confusions=w0, options=EMOptions(max_iter=5))
    np.testing.assert_allclose(res.posterior.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(res.confusions.sum(axis=2), 1.0, rtol=1e-12)
    assert np.all(res.posterior >= 0) and np.all(res.confusions >= 0)
    assert res.posterior.shape == prior.shape and res.confusions.shape == (m, k, k)
    for original, copy in zip(inputs, copies, strict=True):
        np.testing.assert_array_equal(original, copy)


# ---------------------------------------------------------------------------------------------
# The M step, the likelihood and the Dirichlet prior: analytic values.
# ---------------------------------------------------------------------------------------------


def test_worker_without_answers_gets_the_prior_mean():
    n, k = 40, 3
    _, image, worker, label = _simulate(seed=7, n=n, m=3, k=k, n_answers=120, accuracy=0.7)
    alpha = dirichlet_prior(k, 0.8, row_total=20.0, strength=1.0)
    alpha[0, 2] += 3.0  # an asymmetric alpha, so the row normalisation is really checked
    res = dawid_skene(image, worker, label, _uniform(n, k), alpha, n_workers=5, options=EMOptions(max_iter=3))
    expected = alpha / alpha.sum(axis=1, keepdims=True)
    for j in (3, 4):  # workers 3 and 4 never answered
        np.testing.assert_allclose(res.confusions[j], expected, rtol=1e-14)
    # without a prior there is nothing to go on: a uniform row
    no_alpha = np.zeros((k, k))
    res0 = dawid_skene(image, worker, label, _uniform(n, k), no_alpha, n_workers=5, options=EMOptions(max_iter=3))
    np.testing.assert_allclose(res0.confusions[4], np.full((k, k), 1.0 / k), rtol=1e-14)


def test_m_step_adds_pseudo_counts_to_soft_counts():
    """One worker, one-hot priors (q is fixed): What = (alpha + counts) / row total, exactly."""
    prior = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # q stays one-hot whatever What is
    image, worker, label = np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([0, 1, 1])
    alpha = np.array([[2.0, 1.0], [0.5, 1.5]])
    res = dawid_skene(image, worker, label, prior, alpha, n_workers=1, options=EMOptions(max_iter=1, tol=0))
    counts = np.array([[1.0, 1.0], [0.0, 1.0]])  # true 0 answered 0 and 1; true 1 answered 1
    expected = (alpha + counts) / (alpha + counts).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.confusions[0], expected, rtol=1e-12)


def test_annotation_log_likelihood_by_hand():
    w = np.array([[[0.8, 0.2], [0.3, 0.7]], [[0.6, 0.4], [0.1, 0.9]]])  # [j, true, answered]
    image, worker, label = np.array([0, 0, 2]), np.array([0, 1, 1]), np.array([0, 1, 0])
    ll = annotation_log_likelihood(image, worker, label, w, n_images=3)
    expected = np.array(
        [
            [math.log(0.8) + math.log(0.4), math.log(0.3) + math.log(0.9)],
            [0.0, 0.0],  # no answers: no evidence
            [math.log(0.6), math.log(0.1)],
        ]
    )
    np.testing.assert_allclose(ll, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "k, accuracy, row_total, strength", [(2, 0.9, 20.0, 1.0), (16, 0.7, 22.5, 10.0)]
)
def test_dirichlet_prior_values(k, accuracy, row_total, strength):
    alpha = dirichlet_prior(k, accuracy, row_total=row_total, strength=strength)
    assert alpha.shape == (k, k)
    np.testing.assert_allclose(np.diag(alpha), strength * row_total * accuracy)
    off = alpha[~np.eye(k, dtype=bool)]
    np.testing.assert_allclose(off, strength * row_total * (1 - accuracy) / (k - 1))
    np.testing.assert_allclose(alpha.sum(axis=1), strength * row_total)
    np.testing.assert_allclose(dirichlet_prior(k, accuracy, row_total, 0.0), 0.0)
