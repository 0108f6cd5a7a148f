"""Each worker's skill learned from the answers so far: `acquisition.worker_skill=one_coin`.

Why. The pair scores read EM's confusion estimate What_j, and What barely tells workers apart:
every row carries the Dirichlet prior's pseudo-counts (about `prior_strength` x the mean AMT row
total, 27 per row on dog) against the few answers a worker gives to that class, so What's diagonals
stay near the prior's mean and the scores hardly prefer the workers who answer best.

What. One number per worker, a_j, the chance that an answer of j is right ("one coin"): pooled
over all of j's answers, it is learned about K times faster than a row of What. The true class of
an answered image is known only through the leave-one-out posterior, EM's posterior with the
answer's own likelihood divided out, q_{-j}(y) ∝ q_i(y) / What_j[y, z], so an answer never vouches
for itself; with r = q_{-j}(z), the answer's likelihood is

    p(z | a_j) = r a_j + (1 - r) (1 - a_j) / (K - 1),

flat in a_j when r = 1/K (an image nobody knows tells nothing about who answered it). On a grid
of a, each worker's posterior is its likelihood times a Beta(s mu, s (1 - mu)) prior shared by the
crew, with (mu, s) chosen by type-II maximum likelihood (the prior under which the crew's answers
are most probable: empirical Bayes, so the spread of skills is learned, not set). The scores then
use What with each worker's diagonal moved, class by class, by the same amount so that its mean is
the posterior mean of a_j, and each row's off-diagonal rescaled to keep it a distribution
(`skilled_confusions`): the class structure of What, the skill level of the one-coin model.

The skill model of every sampler with a pair score (`labald.samplers.compose`); what it changes in
the comparisons is in docs/research_notes.md, "Who answers".

Under EM that forgets (`aggregation.forgetting` gamma < 1) the skill follows a changing worker as
EM's latest confusions do: the log-likelihood of an answer given at step s counts gamma^(S - s)
times, S the latest step with answers (the kernel EM puts on the latest step's counts), and its
q_{-j} divides out the confusions of its own step.

Known groups (`acquisition.skill_groups=experts`; a campaign roster's `group` column). A campaign
knows whom it hired as domain experts, if not how good each is. Each group then gets its own
type-II-ML prior, so the group's answers pool into its level at once and a worker with few answers
is shrunk toward its own group.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import sparse
from scipy.special import logsumexp
from scipy.stats import beta as beta_distribution

from labald.samplers.base import Beliefs
from labald.workers.crowd import from_log_counts

SKILL_GRID = np.linspace(0.0025, 0.9975, 200)  # values of a worker's one-coin skill a
PRIOR_MEANS = SKILL_GRID[4::8]  # the type-II search over the shared prior's mean ...
PRIOR_STRENGTHS = np.array([2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0])  # ... and strength
DIAGONAL_RANGE = (0.01, 0.99)  # a skilled diagonal entry stays inside it


def answer_agreement(beliefs: Beliefs) -> np.ndarray:
    """[A]: q_{-j}(y_i = z) of each answer (i, j, z), EM's posterior without the answer's likelihood
    (under EM that forgets, the likelihood under the confusions of the answer's own step)."""
    _, _, label = beliefs.answers
    return leave_one_out_posteriors(beliefs)[np.arange(len(label)), label]


def leave_one_out_posteriors(beliefs: Beliefs) -> np.ndarray:
    """[A, K]: q_{-j}(.) of each answer (i, j, z), EM's posterior with the answer's own likelihood
    divided out (`answer_agreement` is its entry at z)."""
    image, _, _ = beliefs.answers
    tiny = np.finfo(np.float64).tiny
    loo = (np.log(np.maximum(beliefs.posterior_N_K[image].astype(np.float64), tiny))
           - np.log(np.maximum(beliefs.answer_likelihoods().astype(np.float64), tiny)))
    loo -= loo.max(axis=1, keepdims=True)
    loo = np.exp(loo)
    return loo / loo.sum(axis=1, keepdims=True)


def group_confusions(beliefs: Beliefs, groups_M: np.ndarray, smoothing: float = 1.0) -> np.ndarray | None:
    """[G, K, K]: one confusion matrix per group of workers, pooled over the group's answers; None
    before any answer. Group g's soft counts are A_g[y, z] = sum of q_{-j}(y) over its answers z
    (`leave_one_out_posteriors`: an answer never vouches for itself), and each row is smoothed as a
    real log's workers are (`labald.workers.crowd.from_log_counts`): `smoothing` pseudo-answers spread
    as all groups' pooled row plus 1/K, so a row the group never answered takes the crew's."""
    image, worker, label = beliefs.answers
    if len(image) == 0:
        return None
    k = beliefs.confusions_M_K_K.shape[1]
    n_groups = int(groups_M.max()) + 1
    weight = beliefs.answer_weights()
    loo = leave_one_out_posteriors(beliefs) * (1.0 if weight is None else weight[:, None])
    counts = np.zeros((n_groups, k, k))
    np.add.at(counts, (groups_M[worker], slice(None), label), loo)
    return from_log_counts(counts, smoothing)


def one_coin_log_likelihood(agreement_A: np.ndarray, worker_A: np.ndarray, n_workers: int,
                            n_classes: int, weight_A: np.ndarray | None = None) -> np.ndarray:
    """[M, G]: log p(worker j's answers | a_j = SKILL_GRID[g]), p(z | a) = r a + (1 - r)(1 - a) / (K - 1),
    each answer's term times its weight (`Beliefs.answer_weights`; None: 1)."""
    a = SKILL_GRID[None, :]
    r = agreement_A[:, None]
    per_answer = np.log(r * a + (1 - r) * (1 - a) / max(n_classes - 1, 1))  # [A, G]
    weight_A = np.ones(len(worker_A)) if weight_A is None else np.asarray(weight_A, dtype=np.float64)
    by_worker = sparse.csr_matrix((weight_A, (worker_A, np.arange(len(worker_A)))),
                                  shape=(n_workers, len(worker_A)))
    return np.asarray(by_worker @ per_answer)  # [M, G]: each worker's answers summed


def skill_posterior(log_likelihood_M_G: np.ndarray) -> np.ndarray:
    """[M, G]: each worker's posterior on the grid under the Beta prior (mean in PRIOR_MEANS, strength
    in PRIOR_STRENGTHS) that maximizes the crew's marginal likelihood; the first such prior on ties."""
    log_prior = _log_priors()
    top = log_likelihood_M_G.max(axis=1, keepdims=True)  # log sum_g p(answers | g) prior(g), as one product
    with np.errstate(divide="ignore"):  # a prior far from a worker's answers underflows: -inf, never chosen
        marginal = (np.log(np.exp(log_likelihood_M_G - top) @ np.exp(log_prior).T) + top).sum(axis=0)  # [P]
    joint = log_likelihood_M_G + log_prior[int(np.argmax(marginal))][None, :]
    return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


@functools.cache
def _log_priors() -> np.ndarray:
    """[P, G]: log of each candidate Beta prior (PRIOR_MEANS x PRIOR_STRENGTHS) as a distribution on the grid."""
    mu, s = np.meshgrid(PRIOR_MEANS, PRIOR_STRENGTHS, indexing="ij")
    log_prior = beta_distribution.logpdf(SKILL_GRID[None, :], (s * mu).reshape(-1, 1), (s * (1 - mu)).reshape(-1, 1))
    return log_prior - logsumexp(log_prior, axis=1, keepdims=True)


def worker_skills(beliefs: Beliefs, groups_M: np.ndarray | None = None) -> np.ndarray | None:
    """[M]: the posterior mean of each worker's one-coin skill; None before any answer.

    `groups_M` (one label per worker, e.g. hired experts vs crowd) gives each group a Beta prior of
    its own, fitted by type-II maximum likelihood to the group's answers; None: one for the crew."""
    image, worker, _ = beliefs.answers
    if len(image) == 0:
        return None
    m, k = beliefs.confusions_M_K_K.shape[:2]
    likelihood = one_coin_log_likelihood(answer_agreement(beliefs), worker, m, k, beliefs.answer_weights())
    if groups_M is None:
        return skill_posterior(likelihood) @ SKILL_GRID
    skill_M = np.empty(m)
    for group in np.unique(groups_M):
        members = groups_M == group
        skill_M[members] = skill_posterior(likelihood[members]) @ SKILL_GRID
    return skill_M


def skilled_confusions(confusions_M_K_K: np.ndarray, skill_M: np.ndarray) -> np.ndarray:
    """What with each worker's diagonal shifted so its mean is the worker's skill (entries kept in
    DIAGONAL_RANGE) and each row's off-diagonal scaled to sum to one minus the new diagonal."""
    w = confusions_M_K_K.astype(np.float64)
    k = w.shape[1]
    diag = np.diagonal(w, axis1=1, axis2=2)  # [M, K]
    new_diag = np.clip(diag + (skill_M - diag.mean(axis=1))[:, None], *DIAGONAL_RANGE)
    off = 1 - diag
    degenerate = off < 1e-12  # a row with no off-diagonal mass spreads the new one evenly
    scale = np.where(degenerate, 0.0, (1 - new_diag) / np.where(degenerate, 1.0, off))
    out = w * scale[:, :, None] + np.where(degenerate, (1 - new_diag) / max(k - 1, 1), 0.0)[:, :, None]
    out[:, np.arange(k), np.arange(k)] = new_diag
    return out


# Worker-skill models: the confusions a pair score uses, [M, K, K] float64 (`acquisition.worker_skill`).
class SkillModel(Protocol):
    name: str

    def confusions(self, beliefs: Beliefs) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class GroupSkill:
    """`group`: every worker of a group scored with the group's pooled confusion (`group_confusions`;
    the groups of `groups_M`, e.g. hired experts vs crowd, else one group, the crew); EM's What
    before any answer.

    Why: a worker answers a few times per class, so EM's What_j stays at its prior, a symmetric
    matrix; a group answers hundreds of times, so its pooled matrix learns within a few steps which
    classes the group gets right and which it confuses with which. A pair score then values an
    expert's answer most where the crowd's is weakest."""

    groups_M: np.ndarray | None = None
    name = "group"

    def confusions(self, beliefs: Beliefs) -> np.ndarray:
        m = beliefs.confusions_M_K_K.shape[0]
        groups_M = np.zeros(m, dtype=np.int64) if self.groups_M is None else np.asarray(self.groups_M, dtype=np.int64)
        pooled = group_confusions(beliefs, groups_M)
        return beliefs.confusions_M_K_K if pooled is None else pooled[groups_M]


class EMSkill:
    """`em`: EM's What as it stands, the estimate the paper's scores read."""

    name = "em"

    def confusions(self, beliefs: Beliefs) -> np.ndarray:
        return beliefs.confusions_M_K_K


@dataclass(frozen=True, eq=False)
class OneCoinSkill:
    """`one_coin`: What with each worker's diagonal at its one-coin skill learned from the answers
    (`worker_skills`; one prior per group of `groups_M` when given); EM's What before any answer."""

    groups_M: np.ndarray | None = None
    name = "one_coin"

    def confusions(self, beliefs: Beliefs) -> np.ndarray:
        skill_M = worker_skills(beliefs, self.groups_M)
        return beliefs.confusions_M_K_K if skill_M is None else skilled_confusions(beliefs.confusions_M_K_K, skill_M)


@dataclass(frozen=True, eq=False)
class OracleSkill:
    """`oracle`: What with each worker's diagonal at its true skill (a simulation's bound; a real
    campaign never knows it)."""

    true_skill_M: np.ndarray
    name = "oracle"

    def confusions(self, beliefs: Beliefs) -> np.ndarray:
        return skilled_confusions(beliefs.confusions_M_K_K, self.true_skill_M)
