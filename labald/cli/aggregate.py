"""`labald aggregate`: labels, confidence and risk per task, and estimated accuracy per worker.

Dawid-Skene EM (paper, appendix F) over the answer log, with the learner's calibrated prediction as
per-image prior when features and gold prototypes are given. The log is replayed round by round as
the online loop would have seen it (labald.cli.campaign; one round without a `round` column), then
`--refine` more EM solves, the learner retrained on the confident tasks between them. `--refine 0`
gives exactly the loop's labels after the log's last round.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labald.cli.io import check_outputs, csv_text, read_campaign, write_outputs


def run(args) -> int:
    check_outputs([Path(args.output), Path(args.output).parent / "workers.csv"], force=args.force)
    data = read_campaign(args.annotations, args.features, args.ids, args.prototypes, args.classes)
    from labald.cli import campaign as cp  # torch loads only once the inputs are known to be good

    options = cp.Options(seed=args.seed, confidence=args.confidence, prior_strength=args.prior_strength,
                         prior_accuracy=args.prior_accuracy, learner=not args.no_learner, epochs=args.epochs,
                         standardize=not args.raw_features)
    exp = cp.build(data, options, len(data.worker_ids))
    state = cp.replay(exp, data)
    cp.refine(exp, state, args.refine)
    q = state.posterior_N_K
    n_answers = np.bincount(data.image, minlength=len(data.task_ids))
    best = q.max(axis=1)
    tasks = [(t, data.classes[k], repr(float(c)), repr(float(1.0 - c)), int(a), "false")
             for t, k, c, a in zip(data.task_ids, q.argmax(axis=1), best, n_answers)]
    tasks += [(t, data.classes[k], "1.0", "0.0", int(data.gold_answers.get(t, 0)), "true")  # known, as given
              for t, k in data.gold_tasks.items()]
    # A worker's accuracy: the chance an answer of theirs is right, sum_y p(y) What_j[y, y], with p(y)
    # the estimated class frequencies of the answered tasks.
    answered = n_answers > 0
    class_freq = q[answered].mean(axis=0) if answered.any() else np.full(q.shape[1], 1.0 / q.shape[1])
    accuracy = np.diagonal(state.confusions_M_K_K, axis1=1, axis2=2) @ class_freq
    per_worker = np.bincount(data.worker, minlength=len(data.worker_ids))
    workers = [(w, repr(float(a)), int(n)) for w, a, n in zip(data.worker_ids, accuracy, per_worker)]
    out = Path(args.output)
    write_outputs({
        out: csv_text(["task", "label", "confidence", "risk", "n_answers", "gold"], tasks),
        out.parent / "workers.csv": csv_text(["worker", "accuracy", "n_answers"], workers),
    })
    confident = int((best >= args.confidence).sum())
    model = "with the learner as prior" if exp.learner is not None else "without a model prior"
    gold = f" and {len(data.gold_tasks)} gold tasks" if data.gold_tasks else ""
    print(f"labald: {len(data.task_ids)} tasks{gold} ({confident} with confidence >= {args.confidence}) in {out}, "
          f"{len(workers)} workers in {out.parent / 'workers.csv'}; EM {model}")
    return 0
