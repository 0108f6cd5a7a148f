"""Where the truth-knowing oracle's lead over J-BALD comes from, measured on the same states.

    python scripts/dissect_oracle.py --seeds 0 1 2 --out results/dissect
    python scripts/dissect_oracle.py --summarize results/dissect      # tables from steps.csv

For each subtask and seed it runs J-BALD's loop (200 images per class, the default protocol) and,
at every step, asks the oracle, ELR, ELR-pooled and `labels_known` (below) what they would take
from the same state (the same beliefs, candidates and selection stream), without asking it: the
batches differ only in which pairs are chosen. Each batch is described by what the truth says of it

  - `wrong`: the share of its images whose current label (argmax of EM's posterior q) is wrong;
  - `top_q`: their mean max_y q_i(y); `answers`: answers they already have; `zero`: share with none;
  - `prior_disagrees`: share whose model prior and answers-only label (q with the prior divided out)
    disagree, among images with an answer;
  - `expert`: share of pairs given to hired experts; `right`: the chance C_j[y_i, y_i] that the
    pair's answer is right (true confusions);
  - `overlap`: images shared with J-BALD's batch / B,

and the eligible images (unconfident, under the per-image cap) by how well the beliefs rank their
wrong labels: `eligible`, `eligible_wrong` (count), `expected_wrong` (sum of 1 - max q over them:
q's own count), `auc_top_q` (area under the ROC curve of 1 - max q as a detector of a wrong label)
and `auc_elr` (of the image's best ELR pair score) and `auc_pooled` (of 1 - r_i(argmax q_i), r the
label's posterior under each group's pooled confusion, hired experts and crowd apart: ELR-pooled's
beliefs), the same counts and estimates per
number of answers so far (`eligible_n`, `wrong_n`, `q_expects_n`, `r_expects_n`, n = 0, 1, 2: the
calibration of "this label is wrong"), `wrong_confident` (labels with max q >= the confidence
threshold that are wrong: out of every sampler's reach) and how many of those rest on no answer.

`--trajectories` also runs the oracle, ELR and the decomposition samplers as whole runs:
`labels_known` (the oracle's score with EM's What in place of the true confusions: it knows the
labels, not the skills) and `elr+skills_known` (ELR with the true skills, `worker_skill=oracle`),
and writes each step's label accuracy so the lead can be split into what the labels and what the
skills are worth (`curves.csv`; the plateau reductions against J-BALD in `summary.md`).

Rows are staged by the fraction of the rise J-BALD's labels have covered before the step (a0 the
step-0 accuracy, af the final one): `rise` below 0.9, `plateau` from 0.9 on (where the comparison's
primary measure lies).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labald.comparison import plateau  # noqa: E402
from labald.config import validate  # noqa: E402
from labald.data import DatasetSettings  # noqa: E402
from labald.experiment import build_experiment, build_sampler  # noqa: E402
from labald.learner import LearnerSettings  # noqa: E402
from labald.loop import initial_state, run_steps  # noqa: E402
from labald.samplers.base import Beliefs, Candidates, Selection  # noqa: E402
from labald.samplers.compose import compose  # noqa: E402
from labald.samplers.oracle import TruthGain  # noqa: E402
from labald.samplers.pair_scores import PairScores, ScoreOptions, elr, skill_posterior  # noqa: E402
from labald.samplers.skill import group_confusions  # noqa: E402
from labald.settings import AcquisitionSettings, AggregationSettings, RunSettings  # noqa: E402
from labald.stopping import StoppingSettings  # noqa: E402
from labald.threads import apply_threads  # noqa: E402
from labald.workers import WorkerSettings  # noqa: E402

SUBTASKS = ("commodity", "dog", "insect_fungus", "vertebrate")
STAGE_AT = 0.9  # fraction of the rise from which a step counts as near the plateau


def settings_for(method: str, dataset: str, seed: int, n_per_class: int, **acquisition) -> RunSettings:
    settings = RunSettings(
        seed=seed, method=method, dataset=DatasetSettings(name=dataset, n_per_class=n_per_class),
        workers=WorkerSettings(), aggregation=AggregationSettings(), learner=LearnerSettings(),
        acquisition=AcquisitionSettings(**acquisition), stopping=StoppingSettings(),
        results_dir="/nonexistent-unused", device="cpu")
    validate(settings)
    return settings


@dataclasses.dataclass(frozen=True)
class LabelsKnown:
    """The oracle's score with EM's What as the confusions answers are drawn from: it knows every
    image's label, not the workers' skills."""

    true_labels_N: np.ndarray

    def __call__(self, beliefs: Beliefs, rows: np.ndarray, confusions_M_K_K: np.ndarray,
                 options: ScoreOptions) -> PairScores:
        return TruthGain(self.true_labels_N, confusions_M_K_K)(beliefs, rows, confusions_M_K_K, options)


def describe(name: str, selection: Selection, beliefs: Beliefs, truth_N, true_conf, is_expert, reference) -> dict:
    images, workers = np.asarray(selection.images), np.asarray(selection.workers)
    q = beliefs.posterior_N_K[images]
    label = q.argmax(1)
    counts = np.bincount(beliefs.answers[0], minlength=len(truth_N))[images]
    # the model's prior and the answers' own label: q ∝ prior x likelihood
    log_prior = np.log(np.clip(q, 1e-300, None)) - beliefs.log_likelihood_N_K[images]
    answered = counts > 0
    disagree = (log_prior.argmax(1) != beliefs.log_likelihood_N_K[images].argmax(1)) & answered
    return {
        f"{name}_wrong": float(np.mean(label != truth_N[images])),
        f"{name}_top_q": float(q.max(1).mean()),
        f"{name}_answers": float(counts.mean()),
        f"{name}_zero": float(np.mean(counts == 0)),
        f"{name}_prior_disagrees": float(disagree.sum() / max(answered.sum(), 1)),
        f"{name}_expert": float(is_expert[workers].mean()),
        f"{name}_right": float(true_conf[workers, truth_N[images], truth_N[images]].mean()),
        f"{name}_overlap": float(len(np.intersect1d(images, reference)) / max(len(images), 1)),
    }


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties count half (Mann-Whitney)."""
    pos, neg = score[positive], score[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = pd.Series(np.concatenate([pos, neg])).rank().to_numpy()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


class Recorder:
    """J-BALD's sampler, with the other samplers' batches taken from the same state and described."""

    def __init__(self, exp, others: dict, confidence: float):
        self.inner, self.others, self.exp, self.confidence = exp.sampler, others, exp, confidence
        self.name = self.inner.name
        self.rows: list[dict] = []

    def select(self, candidates: Candidates, beliefs: Beliefs, rng: np.random.Generator) -> Selection:
        truth, conf = self.exp.pool.labels, self.exp.workers.confusions
        is_expert = self.exp.workers.is_expert
        others = {name: s.select(candidates, beliefs, copy.deepcopy(rng)) for name, s in self.others.items()}
        chosen = self.inner.select(candidates, beliefs, rng)
        row = {"step": len(self.rows) + 1}
        for name, selection in {"j_bald": chosen, **others}.items():
            row.update(describe(name, selection, beliefs, truth, conf, is_expert, chosen.images))
        q = beliefs.posterior_N_K
        wrong = q.argmax(1) != truth
        top = q.max(1)
        eligible = candidates.eligible_N
        counts = np.bincount(beliefs.answers[0], minlength=len(truth))
        rows = np.flatnonzero(eligible)
        elr_best = elr(beliefs, rows, beliefs.confusions_M_K_K, ScoreOptions()).ranking.numpy().max(1)
        confident = top >= self.confidence
        # the label's posterior under each group's pooled confusions (experts, crowd): r_i
        groups = is_expert.astype(np.int64)
        pooled = group_confusions(beliefs, groups)
        r = q if pooled is None else skill_posterior(beliefs, np.arange(len(q)), pooled[groups])
        r_wrong = 1 - r[np.arange(len(q)), q.argmax(1)]  # r's chance that EM's label is wrong
        for n in (0, 1, 2):
            at = eligible & (counts == n)
            row.update({f"eligible_{n}": int(at.sum()), f"wrong_{n}": int((at & wrong).sum()),
                        f"q_expects_{n}": float((1 - top[at]).sum()), f"r_expects_{n}": float(r_wrong[at].sum())})
        row.update(auc_pooled=auc(r_wrong[eligible], wrong[eligible]))
        row.update(
            eligible=int(eligible.sum()), eligible_wrong=int((eligible & wrong).sum()),
            expected_wrong=float((1 - top[eligible]).sum()),
            auc_top_q=auc(1 - top[eligible], wrong[eligible]), auc_elr=auc(elr_best, wrong[rows]),
            wrong_confident=int((confident & wrong).sum()),
            wrong_confident_unanswered=int((confident & wrong & (counts == 0)).sum()),
            wrong_confident_one=int((confident & wrong & (counts == 1)).sum()),
            wrong_total=int(wrong.sum()),
        )
        self.rows.append(row)
        return chosen


def run(settings: RunSettings, recorder_others: dict | None = None):
    exp = build_experiment(settings)
    recorder = None
    if recorder_others is not None:
        others = {name: make(exp) for name, make in recorder_others.items()}
        recorder = Recorder(exp, others, settings.confidence)
        exp = dataclasses.replace(exp, sampler=recorder)
    state = run_steps(exp, initial_state(exp), progress=False)
    curve = pd.DataFrame(state.rows)[["step", "annotations_per_image", "label_accuracy"]]
    return curve, (recorder.rows if recorder else None)


def dissect(dataset: str, seed: int, n_per_class: int, trajectories: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = settings_for("j_bald", dataset, seed, n_per_class)
    makers = {
        "oracle": lambda exp: build_sampler(dataclasses.replace(base, method="oracle"), exp.workers,
                                            truth_N=exp.pool.labels),
        "elr": lambda exp: build_sampler(dataclasses.replace(base, method="elr")),
        "labels_known": lambda exp: compose("oracle", score_function=LabelsKnown(exp.pool.labels)),
        "elr_pooled": lambda exp: build_sampler(dataclasses.replace(base, method="elr_pooled"), exp.workers),
    }
    curve, rows = run(base, makers)
    steps = pd.DataFrame(rows)
    acc = curve["label_accuracy"].to_numpy()
    a0, af = acc[0], acc[-1]
    # the rise J-BALD's labels covered before the step chose (row s: the state after step s - 1)
    steps["rise"] = (acc[steps["step"].to_numpy() - 1] - a0) / max(af - a0, 1e-9)
    steps.insert(0, "dataset", dataset)
    steps.insert(1, "seed", seed)
    curves = [curve.assign(method="j_bald")]
    if trajectories:
        runs = {
            "oracle": settings_for("oracle", dataset, seed, n_per_class),
            "elr": settings_for("elr", dataset, seed, n_per_class),
            "elr+skills_known": settings_for("elr", dataset, seed, n_per_class, worker_skill="oracle"),
        }
        for name, settings in runs.items():
            curves.append(run(settings)[0].assign(method=name))
        labels_exp = build_experiment(settings_for("oracle", dataset, seed, n_per_class))
        labels_exp = dataclasses.replace(labels_exp, sampler=compose("oracle",
                                                                     score_function=LabelsKnown(labels_exp.pool.labels)))
        state = run_steps(labels_exp, initial_state(labels_exp), progress=False)
        curves.append(pd.DataFrame(state.rows)[["step", "annotations_per_image", "label_accuracy"]]
                      .assign(method="labels_known"))
    curves = pd.concat(curves).assign(dataset=dataset, seed=seed)
    return steps, curves


def markdown(frame: pd.DataFrame, digits: int) -> str:
    """A frame as a markdown table, its index as the first column."""
    head = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(frame.columns)]
    for index, row in frame.iterrows():
        lines.append(f"| {index} | " + " | ".join(f"{v:.{digits}f}" for v in row) + " |")
    return "\n".join(lines)


def summarize(out: Path) -> str:
    steps = pd.read_csv(out / "steps.csv")
    steps["stage"] = np.where(steps["rise"] >= STAGE_AT, "plateau", "rise")
    names = ("j_bald", "elr", "elr_pooled", "oracle", "labels_known")
    lines = ["# The oracle's lead, dissected", "",
             f"{steps.groupby(['dataset', 'seed']).ngroups} J-BALD runs ({', '.join(sorted(steps.dataset.unique()))}; "
             f"seeds {', '.join(map(str, sorted(steps.seed.unique())))}); every batch taken from J-BALD's state. "
             "Mean over the steps of each stage (subtasks pooled, each step one row).", ""]
    fields = ("wrong", "top_q", "answers", "zero", "prior_disagrees", "expert", "right", "overlap")
    lines += ["| stage | sampler | " + " | ".join(fields) + " |", "| --- | --- |" + " ---: |" * len(fields)]
    for stage in ("rise", "plateau"):
        part = steps[steps.stage == stage]
        for name in names:
            if f"{name}_wrong" not in part:
                continue
            cells = [f"{part[f'{name}_{f}'].mean():.3f}" for f in fields]
            lines.append(f"| {stage} ({len(part)} steps) | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Eligible images (unconfident, under the cap) and the labels out of reach:", "",
              "| stage | eligible | wrong among them | q's expected count | AUC 1 - max q | "
              "AUC ELR | AUC pooled r | wrong confident | of them unanswered | one answer | wrong in all |",
              "| --- |" + " ---: |" * 10]
    for stage in ("rise", "plateau"):
        p = steps[steps.stage == stage]
        lines.append(f"| {stage} | {p.eligible.mean():.0f} | {p.eligible_wrong.mean():.1f} | "
                     f"{p.expected_wrong.mean():.1f} | {p.auc_top_q.mean():.3f} | "
                     f"{p.auc_elr.mean():.3f} | {p.auc_pooled.mean():.3f} | "
                     f"{p.wrong_confident.mean():.1f} | {p.wrong_confident_unanswered.mean():.1f} | "
                     f"{p.wrong_confident_one.mean():.1f} | {p.wrong_total.mean():.1f} |")
    lines += ["", "Calibration of \"this label is wrong\" among eligible images by answers so far: the share wrong, "
              "q's own estimate (1 - max q) and the pooled beliefs' (1 - r(argmax q)), pooled over steps:", "",
              "| stage | answers | eligible (image-steps) | wrong | q says | pooled r says |", "| --- |" + " ---: |" * 5]
    for stage in ("rise", "plateau"):
        p = steps[steps.stage == stage]
        for n in (0, 1, 2):
            count = p[f"eligible_{n}"].sum()
            lines.append(f"| {stage} | {n} | {count} | {p[f'wrong_{n}'].sum() / count:.3f} | "
                         f"{p[f'q_expects_{n}'].sum() / count:.3f} | {p[f'r_expects_{n}'].sum() / count:.3f} |")
    per_dataset = steps[steps.stage == "plateau"].groupby("dataset")[
        ["j_bald_wrong", "oracle_wrong", "elr_wrong", "j_bald_expert", "oracle_expert", "oracle_overlap",
         "eligible_wrong", "wrong_confident", "wrong_total"]].mean()
    lines += ["", "Near the plateau, per subtask:", "", markdown(per_dataset, 3)]
    curves_file = out / "curves.csv"
    if curves_file.exists():
        curves = pd.read_csv(curves_file)
        lines += ["", "Whole runs, reduction in annotations against J-BALD near the plateau (%, per subtask "
                  "mean over seeds; `plateau` of labald.comparison):", ""]
        rows = []
        for (dataset, seed), group in curves.groupby(["dataset", "seed"]):
            base = group[group.method == "j_bald"]
            for method, run_ in group.groupby("method"):
                if method == "j_bald":
                    continue
                value = plateau(run_.annotations_per_image.to_numpy(), run_.label_accuracy.to_numpy(),
                                base.annotations_per_image.to_numpy(), base.label_accuracy.to_numpy())
                rows.append({"dataset": dataset, "seed": seed, "method": method, "plateau": value})
        table = pd.DataFrame(rows)
        log_points = -np.log(1 - table["plateau"] / 100)
        table["log"] = log_points
        mean = table.groupby(["method", "dataset"])["log"].mean().unstack()
        mean["mean"] = mean.mean(axis=1)
        lines.append(markdown(100 * (1 - np.exp(-mean)), 1))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SUBTASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-per-class", type=int, default=200)
    parser.add_argument("--trajectories", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/dissect"))
    parser.add_argument("--summarize", type=Path, default=None, help="only write summary.md from a finished out")
    args = parser.parse_args()
    if args.summarize is not None:
        text = summarize(args.summarize)
        (args.summarize / "summary.md").write_text(text)
        print(text)
        return 0
    apply_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        for seed in args.seeds:
            tag = f"{dataset}_seed{seed}"
            if (args.out / f"steps_{tag}.csv").exists():
                continue
            steps, curves = dissect(dataset, seed, args.n_per_class, args.trajectories)
            curves.to_csv(args.out / f"curves_{tag}.csv", index=False)
            steps.to_csv(args.out / f"steps_{tag}.csv", index=False)  # written last: marks the pair done
            print(f"{tag}: {len(steps)} steps", flush=True)
    pd.concat(pd.read_csv(f) for f in sorted(args.out.glob("steps_*.csv"))).to_csv(args.out / "steps.csv", index=False)
    pd.concat(pd.read_csv(f) for f in sorted(args.out.glob("curves_*.csv"))).to_csv(args.out / "curves.csv",
                                                                                   index=False)
    print(summarize(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
