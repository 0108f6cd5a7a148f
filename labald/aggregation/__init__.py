"""Label aggregation: Dawid-Skene EM with the learner's prediction as per-image prior (SPEC 3)."""

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
    """max_y q_i(y) [N]; the risk of SPEC 3 is 1 minus it, an image is confident when it is >= 0.9."""
    return posterior_N_K.max(axis=1)
