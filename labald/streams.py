"""Named random streams: the one table of what each random draw of a run is keyed by.

Every random number a run uses comes from a generator seeded by (a seed, one of these ids, and
sometimes a step or an index), so each stream is independent of the others and of the order the
code runs in, and a run repeats exactly. Three seeds key the streams: the run's `seed` (the pool,
the crowd, the prototype split: what every sampler on that seed shares), its `answer_seed` (the
world of answers; `replicate` changes it) and its `luck_seed` (the run's own draws; `rerun` changes
it). `labald.settings.RunSettings` derives the last two.

The learner's per-step streams are keyed by (a learner seed, step, purpose) with the purposes below
(`labald.learner.derive_seed`); a cross-fitted learner's fold f has its own learner seed, derived
with purpose LEARNER_FOLD.
"""

# keyed by the run's seed
POOL = 101  # which images of each class enter the pool (sandbox subsets, replay prototypes)
CROWD = 201  # the simulated crowd: which AMT workers each simulated worker is built from
PROTOTYPES = 303  # the split of the gold prototypes into training and validation halves
# keyed by the answer seed
ANSWERS = 202  # the key of the counter-based answer draws (labald.workers.pair_uniforms)
DRIFT = 203  # a drifting crew's logit increments, with the step (labald.workers.dynamics)
SPAMMERS = 204  # which crowd workers turn spammer, and when (labald.workers.dynamics)
# keyed by the luck seed
SELECTION = 404  # a step's selection: tie-breaks and random image orders, with the step
FOLDS = 505  # the fixed cross-fitting fold of each pool image
# derivations of the answer and luck seeds from (seed, index)
REPLICATE = 606  # answer seed of replicate r > 0
RERUN = 707  # luck seed of rerun r > 0
# the learner's purposes, keyed by (learner seed, step)
LEARNER_INIT, LEARNER_SHUFFLE, LEARNER_DROPOUT, LEARNER_MC, LEARNER_FOLD = 0, 1, 2, 3, 4
