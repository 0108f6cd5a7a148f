"""Label aggregation: Dawid-Skene EM with the learner's prediction as per-image prior (paper, appendix F)."""

from labald.aggregation.em import (
    EMOptions,
    EMResult,
    Forgetting,
    annotation_log_likelihood,
    dawid_skene,
    dirichlet_prior,
    prior_mean,
)

__all__ = ["EMOptions", "EMResult", "Forgetting", "annotation_log_likelihood", "dawid_skene", "dirichlet_prior",
           "prior_mean", "confidence"]


def confidence(posterior_N_K):
    """max_y q_i(y) [N]; an image's risk is 1 minus it, and it is confident when it is >= 0.9 (paper, appendix F)."""
    return posterior_N_K.max(axis=1)
