"""Soft Dawid-Skene EM with a per-image prior and a Dirichlet prior on worker confusions (paper, appendix F).

Model (Dawid & Skene 1979; Liao et al. 2021; LA-BALD appendix F):
    E step:  q_i(y) ∝ pi_i(y) * prod_{(j, z) answered for i} What_j[y, z]
    M step:  What_j[y, z] ∝ alpha[y, z] + sum_i q_i(y) [z_ij = z]
The M step is the exact maximiser of the objective
    log p(Z | What, pi) + sum_{j, y, z} alpha[y, z] log What_j[y, z]
(a Dirichlet(alpha + 1) MAP), so EM never lowers it. Answers are held as a sparse one-hot matrix
R [answered images, (worker, answer)], so the E step's log-likelihood is R @ log What and the
M step's soft counts are R^T @ q: no Python loop over images or answers.

Workers whose skill changes (`Forgetting`, factor gamma < 1): each step s that has answers gets its
own confusions What_j^s, and an answer given in step s is explained by the worker's matrix of that step:
    E step:  q_i(y) ∝ pi_i(y) * prod_{(j, z, s) answered for i} What_j^s[y, z]
    M step:  What_j^s[y, z] ∝ alpha[y, z] + sum_{s'} gamma^|s - s'| n_j^{s'}[y, z],
             n_j^{s'}[y, z] = sum_{i answered by j in step s'} q_i(y) [z_ij = z]
a kernel-weighted (local likelihood) estimate: answers from the steps near s count fully, those
gamma^d further away less. Over a random walk of skill it trades bias (old answers describe an older
worker) against variance (few recent answers); gamma = 1 weighs every step alike, so every What^s is
the same matrix and the solve is exactly the static one above, run by the same code. For gamma < 1
the M step is not the maximiser of one objective, so EM's monotone ascent is not guaranteed; the
iterations stay capped by `EMOptions.max_iter`. The current skill, what samplers score with, is the
latest step's What.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

_TINY = 1e-300


@dataclass(frozen=True)
class EMOptions:
    """How EM starts without a previous estimate and when it stops: from a matrix with `init_accuracy`
    on the diagonal, until the mean absolute change of q over the answered images is below `tol`, or
    `max_iter` M steps were taken."""

    max_iter: int = 10
    tol: float = 1e-3
    init_accuracy: float = 0.7


@dataclass(frozen=True)
class Forgetting:
    """EM for workers whose skill changes (the module docstring): every step with answers gets its own
    confusions, each fitted to the answers weighted gamma^|s - s'| by their distance in steps.

    `factor` is gamma in (0, 1]; 1 weighs every step alike, the static EM. `step` holds the step of
    every answer (parallel to the answers). A warm start from the previous solve gives its steps
    `init_periods` [P0] and their confusions `init_period_confusions` [P0, M, K, K] together, so each
    step starts from those of its own step or the latest before it."""

    factor: float
    step: np.ndarray | None  # [A]; may be None with factor 1
    init_periods: np.ndarray | None = None
    init_period_confusions: np.ndarray | None = None

    def __post_init__(self):
        if not 0.0 < self.factor <= 1.0:
            raise ValueError(f"forgetting must lie in (0, 1], got {self.factor}")
        if (self.init_periods is None) != (self.init_period_confusions is None):
            raise ValueError("init_periods and init_period_confusions come together (the last solve's steps "
                             "and their confusions)")


@dataclass(frozen=True)
class EMResult:
    posterior: np.ndarray  # [N, K] q_i(y)
    confusions: np.ndarray  # [M, K, K] What_j[y, z] (with forgetting: the latest step's)
    iterations: int
    objective: float
    converged: bool
    periods: np.ndarray | None = None  # with a forgetting factor < 1: the steps that have answers [P]
    period_confusions: np.ndarray | None = None  # [P, M, K, K] What_j^s of each of those steps


_STATIC = Forgetting(1.0, None)  # no forgetting: one What per worker for every step


def dirichlet_prior(n_classes: int, mean_accuracy: float | np.ndarray, row_total: float,
                    strength: float) -> np.ndarray:
    """alpha [K, K]: the same for every worker; row mean has `mean_accuracy` on the diagonal and the
    rest spread evenly (the paper's mean: the workers' average per-class accuracy, appendix F), with
    `strength * row_total` pseudo-counts per row."""
    return strength * row_total * prior_mean(n_classes, mean_accuracy)


def prior_mean(n_classes: int, mean_accuracy: float | np.ndarray) -> np.ndarray:
    """[K, K] confusion with `mean_accuracy` on the diagonal (one number, or one per class [K]),
    the rest of each row spread evenly off it."""
    k = n_classes
    diagonal = np.broadcast_to(np.asarray(mean_accuracy, dtype=np.float64), (k,)) if k > 1 else np.ones(k)
    mean = np.repeat(((1.0 - diagonal) / max(k - 1, 1))[:, None], k, axis=1)
    np.fill_diagonal(mean, diagonal)
    return mean


def answer_periods(periods: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Each answer's index into a solve's `periods` (the steps with answers): its own step's, the last
    for an answer from a step after them."""
    return np.minimum(np.searchsorted(periods, np.asarray(step, dtype=np.int64)), len(periods) - 1)


def annotation_log_likelihood(
    image: np.ndarray, worker: np.ndarray, label: np.ndarray, confusions_M_K_K: np.ndarray, n_images: int,
    step: np.ndarray | None = None, periods: np.ndarray | None = None, period_confusions: np.ndarray | None = None,
) -> np.ndarray:
    """[N, K] log p(Z_i | y_i = y, What) = sum over i's answers (j, z) of log What_j[y, z]; with a
    solve's per-step confusions (`periods`, `period_confusions`, forgetting < 1) each answer's own
    step's What_j^s (answers from a step after the last period use the last)."""
    if period_confusions is None:
        m, k, _ = np.shape(confusions_M_K_K)
        answers = _one_hot(np.asarray(image, dtype=np.int64), worker, label, n_images, m, k)
        return answers @ _log_confusions(np.asarray(confusions_M_K_K, dtype=np.float64))
    p, m, k, _ = np.shape(period_confusions)
    period = answer_periods(periods, step)
    answers = _one_hot(np.asarray(image, dtype=np.int64), period * m + np.asarray(worker, dtype=np.int64),
                       label, n_images, p * m, k)
    return answers @ _log_confusions(np.asarray(period_confusions, dtype=np.float64).reshape(p * m, k, k))


def dawid_skene(
    image: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    prior_N_K: np.ndarray,
    alpha_K_K: np.ndarray,
    n_workers: int,
    *,
    init_confusions: np.ndarray | None = None,
    options: EMOptions = EMOptions(),
    forgetting: Forgetting | None = None,
) -> EMResult:
    """Aggregate answers (parallel arrays `image`, `worker`, `label`) into posteriors and confusions.

    Starts from `init_confusions` (the previous step's estimate) or a matrix with
    `options.init_accuracy` on the diagonal, then alternates M and E steps until the mean absolute
    change of q over the answered images is below `options.tol`, or `options.max_iter` M steps were
    taken. Images without answers keep their prior as posterior, so the E step only visits answered
    ones. With a `forgetting` factor < 1, every step has its own confusions (the module docstring),
    each started from `init_confusions`, or, given the previous solve's steps and their confusions
    (`Forgetting.init_periods`, `Forgetting.init_period_confusions`), from those of its own step or the
    latest before it.
    """
    prior_N_K = np.asarray(prior_N_K, dtype=np.float64)
    n, k = prior_N_K.shape
    _check_inputs(image, worker, label, prior_N_K, alpha_K_K, n_workers, init_confusions)
    if forgetting is None:
        forgetting = _STATIC
    init_periods, init_period_confusions = forgetting.init_periods, forgetting.init_period_confusions
    if init_periods is not None and np.shape(init_period_confusions) != (len(init_periods), n_workers, k, k):
        raise ValueError(f"init_period_confusions must be [{len(init_periods)}, {n_workers}, {k}, {k}] "
                         f"(one per init period), got {np.shape(init_period_confusions)}")
    periods, kernel, m = None, None, n_workers
    if forgetting.factor < 1.0 and len(image):  # no answers yet: no step to give confusions
        step = forgetting.step
        if step is None or len(step) != len(image):
            raise ValueError("forgetting < 1 needs the step of every answer")
        periods, period = np.unique(np.asarray(step, dtype=np.int64), return_inverse=True)
        kernel = forgetting.factor ** np.abs(periods[:, None] - periods[None, :]).astype(np.float64)  # [P, P]
        worker = period * m + np.asarray(worker, dtype=np.int64)  # worker j in period p: one of P * M
        n_workers = len(periods) * m
        if init_period_confusions is not None:
            init_confusions = _period_start(np.asarray(init_period_confusions, dtype=np.float64), init_periods,
                                            periods)
        elif init_confusions is not None:
            init_confusions = np.tile(np.asarray(init_confusions, dtype=np.float64), (len(periods), 1, 1))
    answered, local = np.unique(np.asarray(image, dtype=np.int64), return_inverse=True)
    answers = _one_hot(local, worker, label, len(answered), n_workers, k)
    answers_t = answers.T.tocsr()
    log_prior = _LogPrior(np.log(np.clip(prior_N_K[answered], _TINY, None)))
    alpha = np.asarray(alpha_K_K, dtype=np.float64)
    if init_confusions is None:
        confusions = np.broadcast_to(prior_mean(k, options.init_accuracy), (n_workers, k, k)).copy()
    else:
        confusions = np.array(init_confusions, dtype=np.float64)
    q, log_evidence = _e_step(answers, log_prior, confusions)
    iterations, converged = 0, len(answered) == 0
    while not converged and iterations < options.max_iter:
        confusions = _m_step(answers_t, q, alpha, kernel)
        q_new, log_evidence = _e_step(answers, log_prior, confusions)
        q -= q_new
        delta = np.abs(q, out=q).sum() / len(q)
        q, iterations, converged = q_new, iterations + 1, bool(delta < options.tol)
    posterior = prior_N_K / (prior_N_K @ np.ones(k))[:, None]
    posterior[answered] = q
    # log p(Z | What, pi) + sum alpha log What; an image without answers contributes log sum pi_i = 0.
    objective = float(log_evidence.sum() + (alpha * np.log(np.clip(confusions, _TINY, None))).sum())
    prior_totals = np.log(prior_N_K @ np.ones(k))
    objective += float(prior_totals.sum() - prior_totals[answered].sum())
    if periods is None:
        return EMResult(posterior=posterior, confusions=confusions, iterations=iterations, objective=objective,
                        converged=converged)
    per_period = confusions.reshape(len(periods), m, k, k)
    return EMResult(posterior=posterior, confusions=per_period[-1].copy(), iterations=iterations,
                    objective=objective, converged=converged, periods=periods, period_confusions=per_period)


def _period_start(init: np.ndarray, init_periods: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """[P * M, K, K]: each period's starting confusions, workers of a period in a row: from `init`
    [P0, M, K, K] of `init_periods`, that of the period's own step or the latest before it (the
    earliest for a step before them all)."""
    source = np.clip(np.searchsorted(init_periods, periods, side="right") - 1, 0, len(init_periods) - 1)
    return init[source].reshape(-1, *init.shape[2:])


def _check_inputs(image, worker, label, prior_N_K, alpha_K_K, n_workers, init_confusions) -> None:
    n, k = prior_N_K.shape
    if not (len(image) == len(worker) == len(label)):
        raise ValueError(f"image, worker and label must have one entry per answer, got "
                         f"{len(image)}, {len(worker)}, {len(label)}")
    if np.shape(alpha_K_K) != (k, k):
        raise ValueError(f"alpha_K_K must be [{k}, {k}] to match prior_N_K, got {np.shape(alpha_K_K)}")
    if init_confusions is not None and np.shape(init_confusions) != (n_workers, k, k):
        raise ValueError(f"init_confusions must be [{n_workers}, {k}, {k}], got {np.shape(init_confusions)}")
    for name, values, bound in (("image", image, n), ("worker", worker, n_workers), ("label", label, k)):
        if len(values) and (np.min(values) < 0 or np.max(values) >= bound):
            raise ValueError(f"{name} ids must lie in [0, {bound}), got range [{np.min(values)}, {np.max(values)}]")


def _e_step(answers, log_prior: _LogPrior, confusions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior q [n, K] and per-image log evidence log p(Z_i) [n] of the answered images.

    Each row is shifted by an upper bound of its maximum (the prior's largest log plus, per answer,
    the largest log What over y), found with one sparse product instead of a slow row-wise max;
    the rare row where that bound is too loose and every term underflows is redone exactly.
    """
    log_w = _log_confusions(confusions)
    top = answers @ log_w.max(axis=1)
    top += log_prior.row_max
    q = answers @ log_w
    q += log_prior.values
    q -= top[:, None]
    torch.from_numpy(q).exp_()  # in place, on the same memory; torch's exp is the fastest here
    total = q @ np.ones(q.shape[1])
    loose = np.flatnonzero(total < 1e-200)
    if len(loose):
        joint = answers[loose] @ log_w + log_prior.values[loose]
        top[loose] = joint.max(axis=1)
        q[loose] = np.exp(joint - top[loose, None])
        total[loose] = q[loose].sum(axis=1)
    q /= total[:, None]
    return q, top + np.log(total)


class _LogPrior:
    """log pi of the answered images with its row maxima, computed once per solve."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.row_max = values.max(axis=1) if len(values) else np.zeros(0)


def _m_step(answers_t, q: np.ndarray, alpha: np.ndarray, kernel_P_P: np.ndarray | None = None) -> np.ndarray:
    """What_j[y, z] ∝ alpha[y, z] + soft counts; an all-zero row (no prior, no answers) becomes uniform.
    With a kernel over P periods (workers laid out as (period, worker)), each period's counts are
    the kernel-weighted sum of every period's."""
    k = q.shape[1]
    counts = (answers_t @ q).reshape(-1, k, k).transpose(0, 2, 1)  # [(j, z), y] -> [j, y, z]
    if kernel_P_P is not None:
        p = len(kernel_P_P)
        counts = (kernel_P_P @ counts.reshape(p, -1)).reshape(counts.shape)
    counts = counts + alpha
    rows = counts.sum(axis=2, keepdims=True)
    return np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), 1.0 / k)


def _log_confusions(confusions_M_K_K: np.ndarray) -> np.ndarray:
    """log What laid out as [(j, z), y], the right operand of the one-hot answer matrix."""
    m, k, _ = confusions_M_K_K.shape
    return np.log(np.clip(confusions_M_K_K, _TINY, None)).transpose(0, 2, 1).reshape(m * k, k)


def _one_hot(image: np.ndarray, worker, label, n_images: int, n_workers: int, k: int) -> sparse.csr_matrix:
    """R [n_images, n_workers * K]: R[i, j * K + z] = 1 when worker j answered z on image i."""
    column = np.asarray(worker, dtype=np.int64) * k + np.asarray(label, dtype=np.int64)
    ones = np.ones(len(column))
    return sparse.csr_matrix((ones, (image, column)), shape=(n_images, n_workers * k))
