"""`labald propose`: the next batch of (task, worker) pairs of a real campaign, or "done".

The campaign's state is the loop's own after replaying the log (labald.cli.campaign); the batch is
what the loop's next step would pick: the same sampler, seeded by (seed, next step), under the same
constraints: eligible tasks (unconfident, under the per-task cap), at most one pair per task, no
pair asked before, each roster worker at most its `capacity` (workers absent from the roster are
never asked). The paper's stopping rule ends the campaign: fewer than floor(B / 10) eligible tasks.
The sampler is any of the simulator's built-in methods but the oracle, or with `--sampler` one a
user brings, the simulator's `method=custom`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labald.cli import DEFAULT_METHOD
from labald.cli.io import check_outputs, csv_text, read_campaign, read_roster, write_outputs
from labald.errors import LabaldError

HEADER = ["task", "worker", "score", "round"]


def run(args) -> int:
    check_outputs([Path(args.output)], force=args.force)
    roster, capacity, groups = read_roster(args.workers)
    method = _chosen_method(args)
    data = read_campaign(args.annotations, args.features, args.ids, args.prototypes, args.classes,
                         roster_ids=roster, allow_no_answers=True)
    from labald.cli import campaign as cp  # torch loads only once the inputs are known to be good
    from labald.stopping import decide

    options = cp.Options(seed=args.seed, method=method, sampler=args.sampler, batch_size=args.batch_size,
                         max_per_image=args.max_per_image, confidence=args.confidence,
                         prior_strength=args.prior_strength, prior_accuracy=args.prior_accuracy,
                         learner=not args.no_learner, epochs=args.epochs, worker_skill=args.worker_skill,
                         standardize=not args.raw_features,
                         skill_groups="experts" if groups is not None and args.worker_skill == "one_coin" else "none")
    exp = cp.build(data, options, len(data.worker_ids), _groups_M(groups, len(data.worker_ids)))
    state = cp.replay(exp, data)
    step = state.step + 1
    done = decide(state.rows, exp.settings.stopping, options.batch_size, max_steps=np.iinfo(np.int64).max).stop
    pairs, why = [], None
    if done is not None:
        why = f"the campaign is done: {done.replace('images', 'tasks')}"
    else:
        pairs = _select(exp, state, data, capacity, step)
        if not pairs:
            why = ("nothing to propose: every eligible task was already asked of every roster worker with "
                   "capacity left; add workers or capacity to the roster")
    write_outputs({Path(args.output): csv_text(HEADER, pairs)})
    if why is not None:
        print(f"labald: {why}; wrote an empty {args.output}")
    else:
        print(f"labald: proposed {len(pairs)} tasks (round {step}) in {args.output}")
    return 0


def _chosen_method(args) -> str:
    """The run's method: --method, or `custom` with a --sampler, which is built once here as run.py
    checks method.sampler (one LabaldError line when it cannot be imported or built). --worker-skill
    changes the confusions of the package's pair scores, so it needs a method with one."""
    changes = f"--worker-skill {args.worker_skill} changes a pair score's worker confusions"
    if args.sampler is None:
        method = args.method or DEFAULT_METHOD
        if args.worker_skill != "em":
            from labald.methods import parts

            if parts(method)[0] is None:
                raise LabaldError(f"{changes}; --method {method} has no score")
        return method
    if args.worker_skill != "em":
        raise LabaldError(f"{changes}; a --sampler of your own reads EM's itself (drop --worker-skill)")
    from labald.methods import CUSTOM
    from labald.samplers.custom import check_custom_sampler

    check_custom_sampler(args.sampler)
    return CUSTOM


def _groups_M(groups: list[str] | None, n_workers: int) -> np.ndarray | None:
    """Each worker's group index from the roster's `group` column (workers only in the log: one more
    group), or None without groups: `one_coin`'s skill priors."""
    if groups is None:
        return None
    names = [*groups, *[""] * (n_workers - len(groups))]  # a roster group is never blank
    return np.unique(names, return_inverse=True)[1]


def _select(exp, state, data, capacity: np.ndarray, step: int) -> list[tuple]:
    """The loop's selection (labald.loop.select_pairs) with the roster's capacities; rows of tasks.csv."""
    from labald.loop import select_pairs

    capacity_M = np.zeros(len(data.worker_ids), dtype=np.int64)
    capacity_M[: len(capacity)] = capacity
    selection = select_pairs(exp, state, "label", capacity_M, step)
    scores = selection.scores if selection.scores is not None else np.zeros(len(selection.images))
    return [(data.task_ids[i], data.worker_ids[j], repr(float(v)), step)
            for i, j, v in zip(selection.images, selection.workers, scores)]
