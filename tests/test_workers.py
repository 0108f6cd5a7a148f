"""Simulated workers: AMT-derived crowds, experts, synthetic crowds, seeded answers."""

import numpy as np
import pytest

from labald.data import DatasetSettings, load_pool
from labald.data.amt import EMBEDDED_AMT, load_amt
from labald.data.subtasks import AMT_GROUP, CROWD_ACCURACY, SUBTASKS
from labald.workers import WorkerSettings, build_workers
from labald.workers.crowd import amt_crowd, expert_from, synthetic_crowd


@pytest.fixture(scope="module")
def amt():
    return load_amt(EMBEDDED_AMT)  # what runs use without a data directory


def _diag(w):
    return np.diagonal(w, axis1=-2, axis2=-1)


@pytest.mark.parametrize("subtask", sorted(SUBTASKS))
def test_amt_crowd_accuracy_near_the_papers_figures(amt, subtask):
    pool = load_pool(DatasetSettings(name=subtask, n_per_class=5), amt, seed=0)
    workers = build_workers(WorkerSettings(), pool, amt, seed=0)
    crowd = workers.confusions[~workers.is_expert]
    assert np.allclose(workers.confusions.sum(-1), 1.0)
    assert abs(_diag(crowd).mean() - CROWD_ACCURACY[subtask]) < 0.06
    assert "AMT" in workers.source
    assert amt.group_of(SUBTASKS[subtask]) == AMT_GROUP[subtask]


@pytest.mark.parametrize("subtask", sorted(SUBTASKS))
def test_each_expert_beats_its_crowd_source_on_every_class(amt, subtask):
    counts = amt.group_counts(AMT_GROUP[subtask], SUBTASKS[subtask])
    crowd = amt_crowd(counts, 10, np.random.default_rng(0))
    for w in crowd:
        e = expert_from(w)
        assert np.allclose(e.sum(1), 1.0)
        below_one = _diag(w) < 1.0
        assert (_diag(e)[below_one] > _diag(w)[below_one]).all()
        assert np.allclose(_diag(e), (_diag(w) + 0.5) / 1.5)


def test_amt_crowd_follows_s_plus_ten_a():
    # two AMT workers over 2 classes; with 2 workers all sampling draws both, so C = S + 10 S
    counts = np.array([[[3, 1], [0, 4]], [[2, 0], [1, 1]]], dtype=float)
    crowd = amt_crowd(counts, 1, np.random.default_rng(0))
    s = counts.sum(0)
    expected = (s + 10 * s) / (s + 10 * s).sum(1, keepdims=True)
    assert np.allclose(crowd[0], expected)


def test_synthetic_crowd_matches_mean_accuracy_and_confuses_similar_classes():
    k = 8
    sim = np.full((k, k), 0.01)
    sim[0, 1] = sim[1, 0] = 1.0
    np.fill_diagonal(sim, 0)
    sim /= sim.sum(1, keepdims=True)
    crowd = synthetic_crowd(sim, 200, 0.7, np.random.default_rng(0))
    assert np.allclose(crowd.sum(-1), 1.0) and (crowd >= 0).all()
    assert abs(_diag(crowd).mean() - 0.7) < 0.01
    errors_of_0 = crowd[:, 0, :].mean(0)
    assert errors_of_0[1] > 3 * np.delete(errors_of_0, [0, 1]).max()


def test_ids_are_shuffled_per_seed(amt):
    pool = load_pool(DatasetSettings(name="commodity", n_per_class=5), amt, seed=0)
    layouts = {tuple(np.flatnonzero(build_workers(WorkerSettings(), pool, amt, s).is_expert)) for s in range(5)}
    assert len(layouts) > 1
    assert any(layout != tuple(range(50, 60)) for layout in layouts)


def test_no_amt_counts_give_a_synthetic_crowd_with_the_subtask_accuracy(amt):
    pool = load_pool(DatasetSettings(name="vertebrate", n_per_class=5), amt, seed=0)
    workers = build_workers(WorkerSettings(), pool, None, seed=0)
    assert "synthetic" in workers.source and "no AMT counts" in workers.source
    assert abs(_diag(workers.confusions[~workers.is_expert]).mean() - CROWD_ACCURACY["vertebrate"]) < 0.01


def test_answers_follow_the_confusion_rows():
    pool = load_pool(DatasetSettings(name="digits", kind="digits"), None, seed=0)
    workers = build_workers(WorkerSettings(n_crowd=3, n_expert=0), pool, None, seed=0)
    n = 20000
    images = np.full(n, 0)  # the same image (true class labels[0]) asked again and again: repeats 0..n-1
    y = pool.labels[0]
    for j in range(3):
        z = workers.answer(images, np.full(n, j))
        freq = np.bincount(z, minlength=pool.n_classes) / n
        assert np.abs(freq - workers.confusions[j, y]).max() < 0.015


def test_an_answer_is_fixed_by_seed_image_worker_and_repeat_whatever_the_order():
    """Common random numbers: the same pair gets the same answer in any order, batch or subset."""
    pool = load_pool(DatasetSettings(name="digits", kind="digits"), None, seed=0)
    a = build_workers(WorkerSettings(n_crowd=5, n_expert=2), pool, None, seed=7)
    b = build_workers(WorkerSettings(n_crowd=5, n_expert=2), pool, None, seed=7)
    rng = np.random.default_rng(0)
    imgs, wrk = rng.integers(0, pool.n_images, 2000), rng.integers(0, 7, 2000)
    keep = np.unique(imgs * 7 + wrk, return_index=True)[1]  # each pair once
    imgs, wrk = imgs[keep], wrk[keep]
    first = a.answer(imgs, wrk)
    order = rng.permutation(len(imgs))
    np.testing.assert_array_equal(first[order], b.answer(imgs[order], wrk[order]))
    half = order[: len(order) // 2]  # asked in two batches, the second one first
    np.testing.assert_array_equal(first[half], a.answer(imgs[half], wrk[half]))
    again = a.answer(imgs, wrk)  # asking again without a repeat count: the same answers
    np.testing.assert_array_equal(first, again)
    second = a.answer(imgs, wrk, repeats=np.ones(len(imgs), dtype=np.int64))
    assert (second != first).mean() > 0.1  # a repeat is a new draw
    other = build_workers(WorkerSettings(n_crowd=5, n_expert=2), pool, None, seed=7, answer_seed=8)
    np.testing.assert_array_equal(other.confusions, a.confusions)  # the same crowd ...
    assert (other.answer(imgs, wrk) != first).mean() > 0.1  # ... in another world


def test_pair_uniforms_are_uniform_and_uncorrelated_across_neighbouring_pairs():
    from scipy import stats

    from labald.workers import pair_uniforms

    i, j = np.divmod(np.arange(200_000), 50)  # consecutive images and workers: the worst case for a weak hash
    u = pair_uniforms(12345, i, j, np.zeros_like(i))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01  # neighbouring workers of one image
    assert abs(np.corrcoef(u[:-50], u[50:])[0, 1]) < 0.01  # neighbouring images of one worker
    np.testing.assert_array_equal(u[:10], pair_uniforms(12345, i[:10], j[:10], np.zeros(10, dtype=np.int64)))
    assert not np.array_equal(u[:10], pair_uniforms(12346, i[:10], j[:10], np.zeros(10, dtype=np.int64)))


def test_every_answer_source_declares_what_the_protocol_does(amt):
    """The simulated crowd, a replayed log's workers and a campaign's crowd: every attribute of
    AnswerSource, and `answer` taking the protocol's arguments in its order."""
    import inspect
    import typing

    from labald.cli.campaign import CampaignCrowd
    from labald.workers import AnswerSource, WorkerPool
    from labald.workers.replay import ReplayWorkers

    pool = load_pool(DatasetSettings(name="digits", kind="digits"), None, seed=0)
    answers = np.where(np.arange(12).reshape(4, 3) % 2 == 0, np.arange(12).reshape(4, 3) % 3, -1)
    sources = {"simulated": build_workers(WorkerSettings(), pool, amt, seed=0),
               "replay": ReplayWorkers(answers, np.arange(4) % 3, 3, "test"), "campaign": CampaignCrowd(4)}
    declared = set(typing.get_type_hints(AnswerSource)) | {"n_workers"}
    protocol = list(inspect.signature(AnswerSource.answer).parameters)[1:]  # images, workers, history, step
    for kind, source in sources.items():
        assert source.kind == kind and all(hasattr(source, name) for name in declared), kind
        assert list(inspect.signature(source.answer).parameters)[:len(protocol)] == protocol, kind
    assert isinstance(sources["simulated"], WorkerPool) and sources["campaign"].confusions is None
