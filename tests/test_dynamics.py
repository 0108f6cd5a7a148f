"""Workers whose skill changes (labald.workers.dynamics) and the EM that follows them (forgetting):
each dynamic's answers against its formula, common random numbers, following EM on a known
trajectory, and runs that stay deterministic and resumable under every dynamic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from labald.aggregation import EMOptions, Forgetting, annotation_log_likelihood, dawid_skene
from labald.aggregation.em import _m_step, _one_hot
from labald.annotations import Annotations
from labald.config import validate
from labald.errors import LabaldError
from labald.identity import fingerprint, output_dir
from labald.metrics import TIMING_COLUMNS
from labald.runner import run_experiment
from labald.workers import WorkerPool
from labald.workers.dynamics import DynamicsSettings
from tests.helpers import make_settings

K = 4
ACCURACY = 0.6


def _base(m: int) -> np.ndarray:
    """m identical workers: ACCURACY on the diagonal, errors 0.2 / 0.1 / 0.1 (an uneven pattern)."""
    w = np.empty((K, K))
    for y in range(K):
        w[y] = np.roll([ACCURACY, 0.2, 0.1, 0.1], y)
    return np.broadcast_to(w, (m, K, K)).copy()


def _crowd(m: int, settings: DynamicsSettings, n_images: int, seed: int = 0, expert_share: float = 0.0) -> WorkerPool:
    labels = np.arange(n_images) % K
    is_expert = np.arange(m) < int(expert_share * m)
    return WorkerPool(_base(m), is_expert, "test", 20.0, seed, labels, settings)


def _history(m: int, n_images: int, per_step: list[np.ndarray]) -> Annotations:
    """per_step[s - 1][j]: answers worker j gave in step s (on image 0: only who and when matter)."""
    history = Annotations(n_images, m)
    for s, counts in enumerate(per_step, start=1):
        workers = np.repeat(np.arange(m), counts)
        history.add(np.zeros(len(workers), dtype=np.int64), workers, np.zeros(len(workers), dtype=np.int64), s)
    return history


def _accuracy_of_one_answer_each(crowd: WorkerPool, history: Annotations, step: int) -> float:
    m = crowd.n_workers
    images = np.arange(m)  # worker j answers image j once: no within-step experience
    return float((crowd.answer(images, np.arange(m), history=history, step=step) == images % K).mean())


def _learning(n: float) -> float:
    return ACCURACY + (1 - ACCURACY) * 0.5 * (1 - np.exp(-n / 20.0))  # gain 0.5, 20 answers


def _fatigue(load: float) -> float:
    return ACCURACY - (ACCURACY - 1 / K) * 0.6 * (1 - np.exp(-load / 40.0))  # loss 0.6, 40 answers


@pytest.mark.parametrize("dynamic, given, expected", [*(("learning", n, _learning(n)) for n in (0, 20, 80)),
                                                      *(("fatigue", f, _fatigue(f)) for f in (0, 40, 200))])
def test_answers_are_as_accurate_as_the_dynamics_formula(dynamic, given, expected):
    """40,000 workers who each gave `given` answers in step 1 answer once in step 2 (their fatigue
    load is then `given` too): the share of right answers is the formula's, within 4 standard errors."""
    m = 40_000
    settings = DynamicsSettings(dynamics=dynamic, learning_gain=0.5, learning_answers=20.0, fatigue_loss=0.6,
                                fatigue_answers=40.0)
    measured = _accuracy_of_one_answer_each(_crowd(m, settings, m), _history(m, m, [np.full(m, given)]), step=2)
    assert abs(measured - expected) < 4 * np.sqrt(expected * (1 - expected) / m)


def test_a_worker_learns_across_its_answers_within_a_step():
    settings = DynamicsSettings(dynamics="learning", learning_gain=0.5, learning_answers=10.0)
    crowd = _crowd(1, settings, 8)
    rows = crowd.dynamics.rows(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), np.array([1, 1]),
                               np.array([0, 0]), step=2)
    share = 0.5 * (1 - np.exp(-np.array([2, 3, 4]) / 10.0))  # 2 earlier answers, then this step's 0, 1, 2
    assert np.allclose(rows[:, 0], ACCURACY + (1 - ACCURACY) * share)
    assert np.allclose(rows[:, 1:] / rows[:, 1:].sum(axis=1, keepdims=True), [0.5, 0.25, 0.25])  # errors keep shape
    assert np.allclose(rows.sum(axis=1), 1.0)


def test_fatigue_load_grows_with_answers_and_partly_recovers_when_idle():
    settings = DynamicsSettings(dynamics="fatigue", fatigue_recovery=0.5)
    crowd = _crowd(3, settings, 8)
    history = _history(3, 8, [np.array([10, 10, 0]), np.array([0, 0, 0]), np.array([0, 5, 2])])
    load = crowd.dynamics.load_before(history.step, history.worker, step=4)
    # worker 0: 10, idle, idle -> 2.5; worker 1: 10, idle, +5 -> 10; worker 2: idle, idle, +2 -> 2
    assert np.allclose(load, [2.5, 10.0, 2.0])
    assert np.allclose(crowd.dynamics.load_before(history.step, history.worker, step=2), [10.0, 10.0, 0.0])


def test_drift_is_a_random_walk_on_the_logits_shared_by_every_sampler():
    m, sd, step = 3_000, 0.2, 10
    settings = DynamicsSettings(dynamics="drift", drift_sd=sd)
    crowd = _crowd(m, settings, 8, seed=3)
    now = crowd.dynamics.confusions_at(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), step)
    assert np.allclose(now.sum(axis=2), 1.0)
    moved = np.log(now) - np.log(_base(m))
    moved -= moved.mean(axis=2, keepdims=True)  # softmax forgets each row's shift
    # each logit walked step - 1 steps of N(0, sd^2); centering a row of K keeps (1 - 1/K) of the variance
    assert abs(moved.var() / ((step - 1) * sd**2 * (1 - 1 / K)) - 1) < 0.03
    busy = _history(m, 8, [np.full(m, 4)] * 3)  # who answered what changes nothing: the walk is the world's
    assert np.array_equal(crowd.dynamics.confusions_at(busy.step, busy.worker, step), now)
    assert np.array_equal(_crowd(m, settings, 8, seed=3).dynamics.confusions_at(busy.step, busy.worker, step), now)
    assert not np.allclose(_crowd(m, settings, 8, seed=4).dynamics.confusions_at(busy.step, busy.worker, step), now)
    assert np.allclose(crowd.dynamics.confusions_at(busy.step, busy.worker, 1), _base(m))  # step 1: no walk yet


def test_a_share_of_the_crowd_turns_spammer_at_its_step_and_no_expert_does():
    m, by = 1_000, 10
    settings = DynamicsSettings(spammer_share=0.2, spammer_by_step=by)
    crowd = _crowd(m, settings, 8, expert_share=0.5)
    turns = crowd.dynamics.turns_at_M
    spammers = turns <= by
    assert spammers.sum() == 100 and not (spammers & crowd.is_expert).any()  # 20% of the 500 crowd workers
    assert set(turns[spammers]) == set(range(1, by + 1))
    none = np.zeros(0, dtype=np.int64)
    for step in (1, 5, by):
        now = crowd.dynamics.confusions_at(none, none, step)
        uniform = np.isclose(now, 1 / K).all(axis=(1, 2))
        assert np.array_equal(uniform, turns <= step)
        assert np.allclose(now[~uniform], _base(m)[~uniform])


def test_static_workers_answer_as_the_paper_whatever_their_history():
    crowd = _crowd(50, DynamicsSettings(), 500)
    assert crowd.dynamics is None
    images, workers = np.arange(500), np.arange(500) % 50
    busy = _history(50, 500, [np.full(50, 9)] * 4)
    assert np.array_equal(crowd.answer(images, workers), crowd.answer(images, workers, history=busy, step=5))


def test_the_static_crews_world_of_answers_is_the_one_runs_drew_before_dynamics_existed():
    """Every pair of 300 digits x 60 simulated workers, answered by the default (static) crew of seed 0:
    the hash of these answers was taken from the code before skills could change."""
    import hashlib

    from labald.data import DatasetSettings, load_pool
    from labald.workers import WorkerSettings, build_workers

    pool = load_pool(DatasetSettings(name="digits", kind="digits"), None, seed=0)
    crowd = build_workers(WorkerSettings(), pool, None, seed=0)
    images, workers = np.repeat(np.arange(300), 60), np.tile(np.arange(60), 300)
    answers = crowd.answer(images, workers, history=_history(60, pool.n_images, [np.full(60, 5)]), step=2)
    assert hashlib.sha256(answers.astype(np.int64).tobytes()).hexdigest()[:16] == "714890913bbecd3e"


def test_learning_only_turns_wrong_answers_right_on_common_random_numbers():
    """Same pairs, same uniforms: a learning crew's answer is right wherever the static crew's is
    (the CDF inversion couples them), and right more often."""
    m = 5_000
    static = _crowd(m, DynamicsSettings(), m)
    learning = _crowd(m, DynamicsSettings(dynamics="learning", learning_gain=0.5), m)
    history = _history(m, m, [np.full(m, 30)])
    images = np.arange(m)
    right_static = static.answer(images, images, history=history, step=2) == images % K
    right_learning = learning.answer(images, images, history=history, step=2) == images % K
    assert (right_learning | ~right_static).all() and right_learning.sum() > right_static.sum()


def test_a_forgetting_m_step_weighs_each_periods_counts_by_the_kernel():
    # one worker, two periods (steps 1 and 3), K = 2: soft counts n^1 and n^3 by hand
    gamma = 0.5
    image, worker, label = np.array([0, 1, 2]), np.array([0, 0, 1]), np.array([0, 1, 1])  # (period, worker) ids
    q = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    answers_t = _one_hot(image, worker, label, 3, 2, 2).T.tocsr()
    kernel = gamma ** np.abs(np.subtract.outer([1, 3], [1, 3])).astype(float)
    alpha = np.ones((2, 2))
    got = _m_step(answers_t, q, alpha, kernel)
    n1 = np.array([[0.9, 0.2], [0.1, 0.8]])  # period 1: image 0 said 0, image 1 said 1; [y, z]
    n3 = np.array([[0.0, 0.3], [0.0, 0.7]])  # period 3: image 2 said 1
    for p, counts in enumerate((n1 + gamma**2 * n3, gamma**2 * n1 + n3)):
        expected = (counts + alpha) / (counts + alpha).sum(axis=1, keepdims=True)
        assert np.allclose(got[p], expected)


def _drifting_campaign(steps: int = 20, per_step: int = 60, seed: int = 0):
    """Worker 0's accuracy falls linearly from 0.95 to 0.40 over the steps; workers 1-3 stay at 0.8.
    Each image is answered by worker 0 and one other in the same step."""
    rng = np.random.default_rng(seed)
    accuracy_0 = np.linspace(0.95, 0.40, steps)
    image, worker, label, step, truth = [], [], [], [], []
    for s in range(steps):
        for _ in range(per_step):
            i = len(truth)
            truth.append(int(rng.integers(K)))
            for j, acc in ((0, accuracy_0[s]), (1 + int(rng.integers(3)), 0.8)):
                right = rng.random() < acc
                z = truth[i] if right else int((truth[i] + rng.integers(1, K)) % K)
                image.append(i), worker.append(j), label.append(z), step.append(s + 1)
    truth = np.array(truth)
    prior = np.full((len(truth), K), 0.3 / (K - 1))
    prior[np.arange(len(truth)), truth] = 0.7  # a model that is usually right, as the learner's prior
    return [np.array(a) for a in (image, worker, label, step)], prior, accuracy_0[-1]


def test_forgetting_em_tracks_a_drifting_workers_current_accuracy_better_than_static_em():
    (image, worker, label, step), prior, now = _drifting_campaign()
    alpha = np.full((K, K), 1.0) + np.eye(K)
    errors = {}
    for gamma in (1.0, 0.7):
        result = dawid_skene(image, worker, label, prior, alpha, 4, options=EMOptions(max_iter=50),
                             forgetting=Forgetting(gamma, step))
        errors[gamma] = abs(np.diag(result.confusions[0]).mean() - now)
    assert errors[0.7] < errors[1.0] / 2 and errors[1.0] > 0.15  # static EM sees the average worker


def test_forgetting_near_one_is_static_em_and_its_log_likelihood_uses_each_answers_step():
    (image, worker, label, step), prior, _ = _drifting_campaign(steps=5, per_step=20)
    alpha = np.full((K, K), 2.0)
    static = dawid_skene(image, worker, label, prior, alpha, 4)
    near = dawid_skene(image, worker, label, prior, alpha, 4, forgetting=Forgetting(1 - 1e-12, step))
    assert static.periods is None and near.period_confusions.shape == (5, 4, K, K)
    assert np.allclose(near.period_confusions, static.confusions[None], atol=1e-8)
    assert np.allclose(near.posterior, static.posterior, atol=1e-8)
    follow = dawid_skene(image, worker, label, prior, alpha, 4, forgetting=Forgetting(0.5, step))
    got = annotation_log_likelihood(image, worker, label, follow.confusions, len(prior), step, follow.periods,
                                    follow.period_confusions)
    expected = np.zeros((len(prior), K))
    for i, j, z, s in zip(image, worker, label, step, strict=True):
        expected[i] += np.log(follow.period_confusions[s - 1, j, :, z])
    assert np.allclose(got, expected)
    assert np.array_equal(follow.confusions, follow.period_confusions[-1])


def test_a_forgetting_solve_starts_each_step_from_the_confusions_the_last_solve_gave_it():
    """Warm start under forgetting: a step the last solve knew starts from its own What^s, a new step
    from the latest; with no M step the posterior is the prior times each answer's own step's What."""
    (image, worker, label, step), prior, _ = _drifting_campaign(steps=4, per_step=20)
    init = np.random.default_rng(1).dirichlet(np.ones(K), size=(3, 4, K)) + np.eye(K)
    init /= init.sum(-1, keepdims=True)
    result = dawid_skene(image, worker, label, prior, np.full((K, K), 2.0), 4, init_confusions=init[-1],
                         options=EMOptions(max_iter=0),
                         forgetting=Forgetting(0.5, step, init_periods=np.array([1, 2, 3]),
                                               init_period_confusions=init))
    assert np.array_equal(result.periods, [1, 2, 3, 4])
    np.testing.assert_allclose(result.period_confusions, init[[0, 1, 2, 2]])
    expected = prior.copy()
    for i, j, z, s in zip(image, worker, label, step, strict=True):
        expected[i] *= init[min(s, 3) - 1, j, :, z]
    np.testing.assert_allclose(result.posterior, expected / expected.sum(1, keepdims=True), rtol=1e-9)


def test_a_warm_start_with_periods_needs_one_confusion_set_per_period():
    """The last solve's steps and their confusions come together, one [M, K, K] per step."""
    (image, worker, label, step), prior, _ = _drifting_campaign(steps=4, per_step=20)
    init = np.broadcast_to(np.eye(K) * 0.5 + 0.5 / K, (3, 4, K, K))
    alpha = np.full((K, K), 2.0)
    with pytest.raises(ValueError, match="come together"):
        dawid_skene(image, worker, label, prior, alpha, 4,
                    forgetting=Forgetting(0.5, step, init_periods=np.array([1, 2, 3])))
    with pytest.raises(ValueError, match=r"must be \[2, 4,"):
        dawid_skene(image, worker, label, prior, alpha, 4,
                    forgetting=Forgetting(0.5, step, init_periods=np.array([1, 2]), init_period_confusions=init))


def test_skill_agreement_leaves_out_each_answer_under_its_own_steps_confusions():
    """Under EM that forgets, q_{-j}(y_i = z) divides the posterior by the answer's likelihood under the
    confusions of the answer's own step, not the latest step's."""
    from labald.samplers import Beliefs
    from labald.samplers.skill import answer_agreement

    (image, worker, label, step), prior, _ = _drifting_campaign(steps=3, per_step=15)
    result = dawid_skene(image, worker, label, prior, np.full((K, K), 2.0), 4, options=EMOptions(max_iter=20),
                         forgetting=Forgetting(0.5, step))
    assert not np.allclose(result.period_confusions[0], result.period_confusions[-1], atol=0.05)
    beliefs = Beliefs(posterior_N_K=result.posterior, confusions_M_K_K=result.confusions,
                      log_likelihood_N_K=np.zeros_like(prior), answers=(image, worker, label), answer_steps=step,
                      periods=result.periods, period_confusions=result.period_confusions)
    got = answer_agreement(beliefs)
    for a, (i, z) in enumerate(zip(image, label, strict=True)):
        q = prior[i].copy()
        for b in np.flatnonzero(image == i):
            if b != a:
                q *= result.period_confusions[step[b] - 1, worker[b], :, label[b]]
        assert got[a] == pytest.approx(q[z] / q.sum(), rel=1e-6)


def test_the_one_coin_skill_weighs_each_answer_as_em_that_forgets_weighs_it_in_the_latest_step():
    """log p(j's answers | a) = sum over j's answers of gamma^(S - s) log p(z | a), S the latest step."""
    from labald.samplers import Beliefs
    from labald.samplers.skill import SKILL_GRID, answer_agreement, one_coin_log_likelihood

    (image, worker, label, step), prior, _ = _drifting_campaign(steps=4, per_step=10)
    result = dawid_skene(image, worker, label, prior, np.full((K, K), 2.0), 4, forgetting=Forgetting(0.6, step))
    beliefs = Beliefs(posterior_N_K=result.posterior, confusions_M_K_K=result.confusions,
                      log_likelihood_N_K=np.zeros_like(prior), answers=(image, worker, label), answer_steps=step,
                      periods=result.periods, period_confusions=result.period_confusions, forgetting=0.6)
    np.testing.assert_allclose(beliefs.answer_weights(), 0.6 ** (4 - step))
    r = answer_agreement(beliefs)
    got = one_coin_log_likelihood(r, worker, 4, K, beliefs.answer_weights())
    expected = np.zeros((4, len(SKILL_GRID)))
    for j, r_a, s in zip(worker, r, step, strict=True):
        expected[j] += 0.6 ** (4 - s) * np.log(r_a * SKILL_GRID + (1 - r_a) * (1 - SKILL_GRID) / (K - 1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    paper = dataclasses.replace(beliefs, forgetting=1.0)
    assert paper.answer_weights() is None


def test_the_one_coin_skill_under_forgetting_tracks_a_drifting_workers_current_accuracy():
    """Worker 0 falls from 0.95 to 0.40: pooled over all steps its one-coin skill sits near the
    average; weighted as EM that forgets weighs the latest step, near where it is now."""
    from labald.samplers import Beliefs
    from labald.samplers.skill import worker_skills

    (image, worker, label, step), prior, now = _drifting_campaign()
    alpha = np.full((K, K), 1.0) + np.eye(K)
    errors = {}
    for gamma in (1.0, 0.7):
        result = dawid_skene(image, worker, label, prior, alpha, 4, options=EMOptions(max_iter=50),
                             forgetting=Forgetting(gamma, step))
        beliefs = Beliefs(posterior_N_K=result.posterior, confusions_M_K_K=result.confusions,
                          log_likelihood_N_K=np.zeros_like(prior), answers=(image, worker, label), answer_steps=step,
                          periods=result.periods, period_confusions=result.period_confusions, forgetting=gamma)
        errors[gamma] = abs(worker_skills(beliefs)[0] - now)
    assert errors[0.7] < errors[1.0] / 2 and errors[1.0] > 0.15


ARGS = ["dataset=digits", "method=ss", "learner=none"]  # the learner's resume: tests/test_resume.py


def _metrics(path):
    m = pd.read_csv(path)
    return m.drop(columns=[c for c in TIMING_COLUMNS if c in m])


@pytest.mark.parametrize("dynamic, method", [("learning", "ss"), ("fatigue", "ss"), ("drift", "ss"),
                                             ("spammers", "ss"), ("drift", "j_bald"),
                                             ("fatigue", "la_bald acquisition.worker_skill=one_coin")])
def test_runs_repeat_and_resume_under_every_dynamic(tmp_path, dynamic, method):
    """Straight vs stopped and resumed, EM that forgets; the joint samplers read its per-step skills."""
    extra = ["workers.spammer_share=0.3", "workers.spammer_by_step=3"] if dynamic == "spammers" else \
        [f"workers.dynamics={dynamic}"]
    extra += ["aggregation.forgetting=0.8", *f"method={method}".split()]
    straight = make_settings([*ARGS, *extra, "max_steps=4"], tmp_path / "straight")
    run_experiment(straight, progress=False)
    resumed = make_settings([*ARGS, *extra, "max_steps=2"], tmp_path / "resumed")
    run_experiment(resumed, progress=False)
    run_experiment(dataclasses.replace(resumed, max_steps=4), progress=False)
    pd.testing.assert_frame_equal(_metrics(output_dir(straight) / "metrics.csv"),
                                  _metrics(output_dir(resumed) / "metrics.csv"))
    assert (output_dir(straight) / "answers.csv").read_text() == (output_dir(resumed) / "answers.csv").read_text()


def test_dynamics_and_forgetting_name_their_runs_and_leave_older_fingerprints_alone(tmp_path):
    paper = make_settings(ARGS, tmp_path)
    learning = make_settings([*ARGS, "workers.dynamics=learning", "aggregation.forgetting=0.9"], tmp_path)
    assert output_dir(learning).parent.name == "ss+learner=none+aggregation.forgetting=0.9+workers.dynamics=learning"
    assert fingerprint(learning) != fingerprint(paper)
    explicit = make_settings([*ARGS, "workers.dynamics=static", "aggregation.forgetting=1.0"], tmp_path)
    assert fingerprint(explicit) == fingerprint(paper) and output_dir(explicit) == output_dir(paper)


@pytest.mark.parametrize("override, key", [("workers.learning_gain=1.5", "learning_gain"),
                                           ("workers.fatigue_answers=0", "fatigue_answers"),
                                           ("workers.drift_sd=-1", "drift_sd"),
                                           ("workers.spammer_by_step=0", "spammer_by_step"),
                                           ("aggregation.forgetting=0", "forgetting"),
                                           ("aggregation.forgetting=1.2", "forgetting")])
def test_bad_dynamics_and_forgetting_are_refused(tmp_path, override, key):
    with pytest.raises(LabaldError, match=key):
        validate(make_settings([*ARGS, override], tmp_path))


@pytest.mark.slow
def test_default_learning_and_fatigue_show_in_the_answer_accuracy_of_a_digits_run(tmp_path):
    """Default parameters, one seed, the same random numbers: over the second half of a digits run
    to 3 answers per image, answers are more often right under learning and less under fatigue."""
    late = {}
    for dynamic in ("static", "learning", "fatigue"):
        settings = make_settings(["dataset=digits", "method=ss", "learner=none", "stopping=budget",
                                  "stopping.annotations_per_image=3", f"workers.dynamics={dynamic}"], tmp_path)
        run_experiment(settings, progress=False)
        accuracy = pd.read_csv(output_dir(settings) / "metrics.csv")["answer_accuracy"].dropna().to_numpy()
        late[dynamic] = accuracy[len(accuracy) // 2:].mean()
    assert late["learning"] - late["static"] > 0.03  # +6.5 points: at most +5 a worker, more for the
    assert late["static"] - late["fatigue"] > 0.01  # workers EM now trusts; fatigue -2.5 points
