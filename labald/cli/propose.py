"""`labald propose`: the next batch of (task, worker) pairs of a real campaign, or "done".

The campaign's state is the loop's own after replaying the log (labald.cli.campaign); the batch is
what the loop's next step would pick: the same sampler, seeded by (seed, next step), under the same
constraints: eligible tasks (unconfident, under the per-task cap), at most one pair per task, no
pair asked before, each roster worker at most its `capacity` (workers absent from the roster are
never asked). The paper's stopping rule ends the campaign: fewer than floor(B / 10) eligible tasks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labald.cli.io import csv_text, read_campaign, read_roster, write_outputs

HEADER = ["task", "worker", "score", "round"]


def run(args) -> int:
    roster, capacity = read_roster(args.workers)
    data = read_campaign(args.annotations, args.features, args.ids, args.prototypes, args.classes,
                         roster_ids=roster, allow_no_answers=True)
    from labald.cli import campaign as cp  # torch loads only once the inputs are known to be good
    from labald.stopping import decide

    options = cp.Options(seed=args.seed, method=args.method, batch_size=args.batch_size,
                         max_per_image=args.max_per_image, confidence=args.confidence,
                         prior_strength=args.prior_strength, prior_accuracy=args.prior_accuracy,
                         learner=not args.no_learner, epochs=args.epochs)
    exp = cp.build(data, options, len(data.worker_ids))
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


def _select(exp, state, data, capacity: np.ndarray, step: int) -> list[tuple]:
    """The loop's selection (labald.loop.advance) with the roster's capacities; rows of tasks.csv."""
    from labald.aggregation import annotation_log_likelihood, confidence
    from labald.samplers import SAMPLERS, Beliefs, Candidates

    s = exp.settings
    capacity_M = np.zeros(len(data.worker_ids), dtype=np.int64)
    capacity_M[: len(capacity)] = capacity
    ann = state.annotations
    eligible = (ann.per_image() < s.max_per_image) & (confidence(state.posterior_N_K) < s.confidence)
    candidates = Candidates(eligible, ann.asked(), capacity_M, s.batch_size)
    beliefs = Beliefs(
        state.posterior_N_K, state.confusions_M_K_K,
        annotation_log_likelihood(ann.image, ann.worker, ann.label, state.confusions_M_K_K, exp.pool.n_images),
        state.mc_probs_T_N_K,
    )
    options = {"local": s.acquisition.local, "chunk": s.acquisition.chunk} if exp.joint else {}
    sampler = SAMPLERS[s.method](**options)
    selection = sampler.select(candidates, beliefs, np.random.default_rng([s.seed, 404, step]))
    scores = _scores(s.method, beliefs, selection.images, selection.workers)
    return [(data.task_ids[i], data.worker_ids[j], repr(float(v)), step)
            for i, j, v in zip(selection.images, selection.workers, scores)]


def _scores(method: str, beliefs, images: np.ndarray, workers: np.ndarray) -> np.ndarray:
    """Each chosen pair's ranking score: nats for j_bald (G) and la_bald (G + L), the expected accuracy
    sum_y q_i(y) What_j[y, y] for rand_i_greedy_w, 0 for ss (a random pick)."""
    import torch

    from labald.acquisition import annotation_posterior, influence_scores

    if len(images) == 0 or method == "ss":
        return np.zeros(len(images))
    if method == "rand_i_greedy_w":
        diag = np.diagonal(beliefs.confusions_M_K_K, axis1=1, axis2=2)[workers]
        return (beliefs.posterior_N_K[images] * diag).sum(axis=1)
    if beliefs.mc_probs_T_N_K is None:
        probs = torch.from_numpy(beliefs.posterior_N_K[images]).float()[None]
    else:
        probs = annotation_posterior(beliefs.mc_probs_T_N_K[:, torch.from_numpy(images)],
                                     torch.from_numpy(beliefs.log_likelihood_N_K[images]))
    scores = influence_scores(probs, torch.from_numpy(beliefs.confusions_M_K_K).to(probs.dtype))
    ranked = scores.la_bald_N_M if method == "la_bald" else scores.global_N_M
    return ranked.double().numpy()[np.arange(len(images)), workers]
