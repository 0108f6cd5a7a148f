"""Worker skill learned from the answers (`acquisition.worker_skill=one_coin`): the leave-one-out
agreement against a posterior rebuilt from scratch, the one-coin likelihood against a loop, the
empirical-Bayes posterior on data with known skills, and the confusions the scores then use."""

from __future__ import annotations

import numpy as np
import pytest

from labald.experiment import build_experiment
from labald.identity import output_dir
from labald.loop import advance, initial_state, select_pairs
from labald.samplers import Beliefs
from labald.samplers.skill import (
    SKILL_GRID,
    answer_agreement,
    one_coin_log_likelihood,
    skill_posterior,
    skilled_confusions,
    worker_skills,
)
from tests.helpers import make_settings

DIGITS_J = ["dataset=digits", "method=j_bald", "learner.max_epochs=2", "learner.min_updates=20",
            "learner.mc_samples=10"]


def _answered(seed: int = 0, n: int = 9, m: int = 5, k: int = 4, per_image: int = 3):
    """A prior, confusions and answers (every image answered by `per_image` distinct workers), with EM's
    posterior computed here from scratch: prior x the answers' likelihoods, normalized."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.ones(k), size=n)
    w = rng.dirichlet(np.ones(k), size=(m, k)) + np.eye(k)
    w /= w.sum(-1, keepdims=True)
    image = np.repeat(np.arange(n), per_image)
    worker = np.concatenate([rng.choice(m, per_image, replace=False) for _ in range(n)])
    label = rng.integers(0, k, len(image))
    post = prior.copy()
    for i, j, z in zip(image, worker, label):
        post[i] *= w[j, :, z]
    post /= post.sum(1, keepdims=True)
    beliefs = Beliefs(posterior_N_K=post, confusions_M_K_K=w, log_likelihood_N_K=np.zeros((n, k)),
                      answers=(image, worker, label))
    return prior, w, (image, worker, label), beliefs


def test_agreement_is_the_posterior_without_the_answer():
    prior, w, (image, worker, label), beliefs = _answered()
    got = answer_agreement(beliefs)
    for a, (i, z) in enumerate(zip(image, label)):
        q = prior[i].copy()
        for b in np.flatnonzero(image == i):
            if b != a:
                q *= w[worker[b], :, label[b]]
        assert got[a] == pytest.approx(q[z] / q.sum(), rel=1e-9)


def test_one_coin_likelihood_matches_a_loop():
    rng = np.random.default_rng(3)
    r, worker, m, k = rng.random(40), rng.integers(0, 6, 40), 7, 5
    got = one_coin_log_likelihood(r, worker, m, k)
    for j in range(m):
        for g in (0, 57, 199):
            a = SKILL_GRID[g]
            expected = sum(np.log(r[x] * a + (1 - r[x]) * (1 - a) / (k - 1)) for x in np.flatnonzero(worker == j))
            assert got[j, g] == pytest.approx(expected, abs=1e-9)
    assert np.all(got[6] == 0)  # a worker without answers: flat


def test_answers_on_unknown_images_say_nothing():
    k = 4
    flat = one_coin_log_likelihood(np.full(30, 1 / k), np.arange(30) % 3, 3, k)
    np.testing.assert_allclose(flat, flat[:, :1] * np.ones_like(flat))  # the same at every skill


def test_posterior_recovers_known_skills():
    """Answers on images whose class is known (r = 1 when right, 0 when wrong): with 400 answers each,
    the posterior means land near the true skills, in their order."""
    rng = np.random.default_rng(0)
    true = np.array([0.35, 0.5, 0.6, 0.75, 0.9])
    worker = np.repeat(np.arange(5), 400)
    right = rng.random(len(worker)) < true[worker]
    post = skill_posterior(one_coin_log_likelihood(right.astype(float), worker, 5, 10))
    np.testing.assert_allclose(post.sum(1), 1.0)
    mean = post @ SKILL_GRID
    assert np.all(np.diff(mean) > 0)
    np.testing.assert_allclose(mean, true, atol=0.05)


def test_shared_prior_pulls_few_answers_to_the_crew():
    """One answer, right, against a crew whose 40 others are right half the time: the lone worker's
    skill is shrunk toward the crew's (empirical Bayes), far below what one answer alone would say."""
    rng = np.random.default_rng(1)
    worker = np.concatenate([np.repeat(np.arange(40), 30), [40]])
    right = np.concatenate([rng.random(1200) < 0.5, [True]]).astype(float)
    mean = skill_posterior(one_coin_log_likelihood(right, worker, 41, 10)) @ SKILL_GRID
    assert abs(mean[40] - 0.5) < 0.1


def test_skilled_confusions_keep_rows_and_class_structure():
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(4), size=(3, 4)) + np.eye(4)
    w /= w.sum(-1, keepdims=True)
    skill = np.array([0.3, 0.55, 0.8])
    out = skilled_confusions(w, skill)
    np.testing.assert_allclose(out.sum(-1), 1.0)
    np.testing.assert_allclose(np.diagonal(out, axis1=1, axis2=2).mean(1), skill)
    np.testing.assert_allclose(np.diagonal(out, axis1=1, axis2=2) - np.diagonal(w, axis1=1, axis2=2),
                               np.broadcast_to((skill - np.diagonal(w, axis1=1, axis2=2).mean(1))[:, None], (3, 4)))
    off = ~np.eye(4, dtype=bool)
    for j in range(3):  # each row's wrong answers keep their proportions
        for y in range(4):
            ratio = out[j, y][off[y]] / w[j, y][off[y]]
            np.testing.assert_allclose(ratio, ratio[0])


def test_a_row_without_wrong_answers_spreads_the_new_ones_evenly():
    out = skilled_confusions(np.eye(3)[None], np.array([0.7]))
    np.testing.assert_allclose(out[0], np.full((3, 3), 0.15) + 0.55 * np.eye(3))


def test_no_answers_no_skills():
    _, w, _, beliefs = _answered()
    empty = Beliefs(posterior_N_K=beliefs.posterior_N_K, confusions_M_K_K=w,
                    log_likelihood_N_K=beliefs.log_likelihood_N_K)
    assert worker_skills(empty) is None


def test_one_coin_scores_change_the_batch_only_once_answers_exist(tmp_path):
    """Step 1 (no answers): the same batch as J-BALD's, What being the prior for every worker. At step 2,
    from the same state, the skilled confusions give another batch."""
    exps = {skill: build_experiment(make_settings([*DIGITS_J, f"acquisition.worker_skill={skill}"], tmp_path / skill))
            for skill in ("em", "one_coin")}
    state = initial_state(exps["em"])
    capacity = np.full(exps["em"].workers.n_workers, exps["em"].capacity_per_step)
    first = {s: select_pairs(e, state, "label", capacity, 1) for s, e in exps.items()}
    assert np.array_equal(first["em"].images, first["one_coin"].images)
    assert np.array_equal(first["em"].workers, first["one_coin"].workers)
    assert advance(exps["em"], state, "label")
    second = {s: select_pairs(e, state, "label", capacity, 2) for s, e in exps.items()}
    assert set(zip(second["em"].images, second["em"].workers)) != set(zip(second["one_coin"].images,
                                                                             second["one_coin"].workers))


def test_oracle_scores_with_the_true_skills(tmp_path):
    """worker_skill=oracle puts each worker's true mean accuracy on What's diagonals from step 1."""
    exp = build_experiment(make_settings([*DIGITS_J, "acquisition.worker_skill=oracle"], tmp_path))
    np.testing.assert_allclose(exp.sampler.skill.true_skill_M,
                               np.diagonal(exp.workers.confusions, axis1=1, axis2=2).mean(axis=1))
    state = initial_state(exp)
    em = build_experiment(make_settings(DIGITS_J, tmp_path / "em"))
    capacity = np.full(exp.workers.n_workers, exp.capacity_per_step)
    oracle_batch = select_pairs(exp, state, "label", capacity, 1)
    em_batch = select_pairs(em, state, "label", capacity, 1)
    assert set(zip(oracle_batch.images, oracle_batch.workers)) != set(zip(em_batch.images, em_batch.workers))
    # at step 1 EM's What ties every worker; the true skills send the batch to the better ones
    skill = exp.sampler.skill.true_skill_M
    assert skill[oracle_batch.workers].mean() > skill[em_batch.workers].mean() + 0.02


def test_a_crew_far_from_any_strong_prior_still_gets_a_posterior():
    """Thousands of answers, all right: strong priors centred elsewhere underflow to zero marginal
    likelihood; the search still picks a prior and every posterior is a distribution near a = 1."""
    worker = np.repeat(np.arange(3), 3000)
    with np.errstate(divide="raise", invalid="raise"):  # no log(0) warning escapes, no NaN
        post = skill_posterior(one_coin_log_likelihood(np.ones(len(worker)), worker, 3, 5))
    np.testing.assert_allclose(post.sum(1), 1.0)
    assert np.all(post @ SKILL_GRID > 0.99)


def test_oracle_without_true_skills_is_refused(tmp_path):
    from labald.errors import LabaldError
    from labald.experiment import build_sampler

    settings = make_settings(["method=j_bald", "acquisition.worker_skill=oracle"], tmp_path)
    with pytest.raises(LabaldError, match="needs the simulated crew's true skills"):
        build_sampler(settings)


def test_known_groups_each_get_their_own_prior():
    """skill_groups: each group's skills are the crew posterior computed on that group alone."""
    _, w, (_, worker, _), beliefs = _answered(seed=4, n=30)
    groups = np.array([0, 0, 1, 1, 1])
    likelihood = one_coin_log_likelihood(answer_agreement(beliefs), worker, 5, 4)
    expected = np.concatenate([skill_posterior(likelihood[:2]) @ SKILL_GRID,
                               skill_posterior(likelihood[2:]) @ SKILL_GRID])
    np.testing.assert_allclose(worker_skills(beliefs, groups), expected, rtol=1e-12)
    np.testing.assert_allclose(worker_skills(beliefs, np.zeros(5, int)), worker_skills(beliefs), rtol=1e-12)


def test_known_experts_are_told_apart_from_few_answers():
    """10 experts right 80% of the time among 50 crowd workers right 50%, 6 answers each on images of
    known class: one prior for the crew shrinks the experts toward the crowd; a prior per known group
    puts them near their own rate and ranks them above the crowd."""
    rng = np.random.default_rng(5)
    m, k, per = 60, 10, 6
    true = np.where(np.arange(m) < 10, 0.8, 0.5)
    worker = np.repeat(np.arange(m), per)
    truth = rng.integers(0, k, len(worker))
    right = rng.random(len(worker)) < true[worker]
    label = np.where(right, truth, (truth + rng.integers(1, k, len(worker))) % k)
    posterior = np.full((len(worker), k), 1e-12)
    posterior[np.arange(len(worker)), truth] = 1.0  # every image's class known: r = 1 if right, else ~0
    what = np.broadcast_to(np.full((k, k), 0.5 / (k - 1)) + (0.5 - 0.5 / (k - 1)) * np.eye(k), (m, k, k))
    beliefs = Beliefs(posterior_N_K=posterior, confusions_M_K_K=what.copy(),
                      log_likelihood_N_K=np.zeros((len(worker), k)), answers=(np.arange(len(worker)), worker, label))
    crew, grouped = worker_skills(beliefs), worker_skills(beliefs, (np.arange(m) < 10).astype(int))
    rate = right.reshape(m, per).mean(1)
    assert abs(grouped[:10].mean() - rate[:10].mean()) < 0.05 < abs(crew[:10].mean() - rate[:10].mean())
    assert (np.argsort(-grouped)[:10] < 10).sum() > (np.argsort(-crew)[:10] < 10).sum()


def test_skill_groups_experts_hands_the_sampler_who_is_an_expert(tmp_path):
    exp = build_experiment(make_settings([*DIGITS_J, "acquisition.worker_skill=one_coin",
                                          "acquisition.skill_groups=experts"], tmp_path))
    np.testing.assert_array_equal(exp.sampler.skill.groups_M, exp.workers.is_expert.astype(int))
    assert output_dir(exp.settings).parent.name.startswith(
        "j_bald+acquisition.skill_groups=experts+acquisition.worker_skill=one_coin+")


def test_group_confusions_recover_each_groups_confusion_from_its_answers():
    """Two groups with known confusions answer images whose label the beliefs know (EM's What flat, so
    the leave-one-out posterior is the posterior): each group's pooled matrix is its own within
    sampling error, and a class no one answered takes the crew's pooled row (uniform here)."""
    from labald.samplers.skill import GroupSkill, group_confusions

    rng = np.random.default_rng(7)
    k, n, m = 4, 6000, 6
    truth = rng.integers(0, 3, n)  # class 3 is never an image's label
    true_conf = np.stack([np.full((k, k), 0.1) + 0.6 * np.eye(k), np.full((k, k), 0.02) + 0.92 * np.eye(k)])
    true_conf /= true_conf.sum(-1, keepdims=True)
    groups = np.array([0, 0, 0, 0, 1, 1])
    worker = rng.integers(0, m, n)
    label = np.array([rng.choice(k, p=true_conf[groups[j], y]) for j, y in zip(worker, truth)])
    posterior = np.full((n, k), 1e-9)
    posterior[np.arange(n), truth] = 1.0
    posterior /= posterior.sum(1, keepdims=True)
    beliefs = Beliefs(posterior_N_K=posterior, confusions_M_K_K=np.full((m, k, k), 1.0 / k),
                      log_likelihood_N_K=np.zeros((n, k)), answers=(np.arange(n), worker, label))
    pooled = group_confusions(beliefs, groups)
    np.testing.assert_allclose(pooled[:, :3], true_conf[:, :3], atol=0.03)
    np.testing.assert_allclose(pooled[:, 3], 1.0 / k, atol=1e-4)  # no answer to class 3: the crew's row
    per_worker = GroupSkill(groups).confusions(beliefs)
    np.testing.assert_array_equal(per_worker, pooled[groups])
    no_answers = Beliefs(posterior_N_K=posterior, confusions_M_K_K=np.full((m, k, k), 1.0 / k),
                         log_likelihood_N_K=np.zeros((n, k)))
    assert GroupSkill(groups).confusions(no_answers) is no_answers.confusions_M_K_K  # EM's What before any answer
