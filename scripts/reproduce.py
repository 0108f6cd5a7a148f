"""Reproduce the paper's benchmarks: Hydra multiruns of `run.py`, a progress summary, then the figures.

    python scripts/reproduce.py                 # the paper's sweep (`make reproduce`)
    python scripts/reproduce.py --quick         # digits + a small sandbox, 2 seeds (`make reproduce-quick`)
    python scripts/reproduce.py --real          # the samplers on real images and a real crowd (`make reproduce-real`)
    python scripts/reproduce.py --dry-run       # print the commands and the number of runs only

Studies (paper Sec. 5 and appendices B.3, H):
  main       the paper's four samplers, ELR (ours) and the oracle (knows the labels, a reference point),
             stopping=unconfident (the paper's rule), on every subtask, --seeds seeds;
  ramp       a protocol study: SS, J-BALD, LA-BALD and ELR asking 1, 2, 4, ... pairs in the first steps
             (batch_ramp=--ramp), --ramp-seeds seeds; compared with each other (ramped against ramped)
             and each with itself at B every step, never with the main study's samplers;
  aa         the main study's J-BALD and LA-BALD again with other luck on the same world (rerun=1 ...
             --aa-reruns, --aa-seeds seeds): the A/A check of every paired comparison (labald.comparison);
  over       the paper's four, stopping=budget up to --budget annotations per image (over-annotation);
  imbalance  the paper's four, dataset.imbalance_ratio=--imbalance-ratio (majority/minority class size);
  real       (--real) the paper's four and ELR at equal protocol on real images: dog_real (200 per
             class) and vertebrate_real (every image; labald/data/real.py) and labelme (every image,
             its simulated real crowd);
  surrogate  (--real) the same on the surrogate dog and vertebrate subtasks restricted to the real
             subtasks' classes and pool size, so the two can be read side by side;
  dynamics   (on request) the main study under each crew of --dynamics (skills that learn, tire, drift,
             or spammers; labald/workers/dynamics.py), each sampler with the paper's EM and with EM
             that forgets (--forgetting), experts paid --cost-expert crowd answers.
Jobs run in parallel through Hydra's joblib launcher when it is installed and --jobs > 1
(`pip install -e '.[launchers]'`), else one after the other. Runs land where run.py puts them,
`runs/<dataset>/<method>[+setting=value...]/seed=<s>` (labald.identity.protocol_diff), so studies never
overwrite each other. A rerun resumes unfinished runs and skips studies whose runs are all finished (--force
reruns them, resuming from their checkpoints). Logs go to <results>/reproduce/<study>.log; the wall
time of every study goes to <results>/reproduce/summary.json. Then scripts/bench_scoring.py writes
<results>/bench/scoring_sweep.csv (unless it exists; see --bench) and the figures go to <results>/figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labald.data.real import DATASETS as REAL_IMAGE_DATASETS
from labald.data.real import SUBTASKS as REAL_CLASSES
from labald.identity import protocol_diff, run_name

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("ss", "rand_i_greedy_w", "j_bald", "la_bald")
OURS = ("elr", "elr_pooled")  # the samplers of this package
MAIN_METHODS = (*METHODS, *OURS, "oracle")  # ours, and the truth-knowing oracle as a reference point
RAMP_METHODS = ("ss", "j_bald", "la_bald", *OURS)  # the protocol study: each ramped, against the others ramped
AA_METHODS = ("j_bald", "la_bald")  # each compared with itself on one world: the A/A check
# The seeds the power analysis asks for LA-BALD vs J-BALD within +-5 points on `plateau`, the mean over the
# four subtasks (docs/results.md, "Power"); the protocol and A/A studies need fewer (their effects are
# large, or their point is coverage).
MAIN_SEEDS = 14
SIDE_SEEDS = 6
SUBTASKS = ("dog", "vertebrate", "insect_fungus", "commodity")
SUBTASK_CLASSES = {"dog": 19, "vertebrate": 18, "insect_fungus": 13, "commodity": 16}  # classes per subtask
FULL_N_PER_CLASS = 200  # the paper's scale is 1300 (ImageNet's train size): --paper
PAPER_N_PER_CLASS = 1300
# --paper: the paper's samplers and ours, every one asking B pairs a step (equal protocol)
PAPER_METHODS = (*METHODS, "elr")
REAL_METHODS = (*METHODS, *OURS)  # --real: the paper's samplers and ours
# --real: real images and LabelMe with its real crowd, then the surrogate subtasks restricted to the real
# subtasks' classes at the same pool size. Pool images per class (None: every image): dog at the main
# study's 200; vertebrate's crowd is so accurate that 200 per class end in 11 steps, too few to part
# samplers, so every image (490 per class after the prototypes); LabelMe every image.
REAL_DATASETS = (*REAL_IMAGE_DATASETS, "labelme")
REAL_POOL_PER_CLASS = {"dog_real": FULL_N_PER_CLASS, "vertebrate_real": None, "labelme": None}
SURROGATE_OF_REAL = {sub: (REAL_CLASSES[sub], REAL_POOL_PER_CLASS[name] or 500 - 10)
                     for name, sub in REAL_IMAGE_DATASETS.items()}
# seeds for LA-BALD vs J-BALD within +-5 points on `plateau`, the mean over the three real subtasks, before
# any real run: the main study's +-4.9 at 14 seeds over four subtasks, scaled to three; the power analysis
# of the real runs themselves revises it (docs/results.md, "On real images")
REAL_SEEDS = 18
# run.py's config groups chosen in an override, and the key a run config holds the choice under
GROUP_CHOICE = {"workers": "workers.source", "stopping": "stopping.rule"}
# --studies dynamics: each of --dynamics as run.py overrides (labald/workers/dynamics.py); spammers: a
# fifth of the crowd turns to random answers by step 20 (an illustrative share)
DYNAMIC_OVERRIDES = {"static": [], "learning": ["workers.dynamics=learning"], "fatigue": ["workers.dynamics=fatigue"],
                     "drift": ["workers.dynamics=drift"], "spammers": ["workers.spammer_share=0.2"]}


@dataclass
class Group:
    """One `python run.py -m` command: a study on datasets sharing the same pool size."""

    study: str
    datasets: list[str]
    seeds: list[int]
    overrides: list[str]
    setting: dict  # the study's non-paper settings, as part of a run config (labald.identity.protocol_diff)
    methods: list[str] = field(default_factory=lambda: list(METHODS))

    @property
    def tags(self) -> str:
        """The study's settings as run names show them, e.g. `+budget=1+n_per_class=100`."""
        return run_name("", protocol_diff(self.setting))

    @property
    def name(self) -> str:
        return f"{self.study}:{','.join(self.datasets)}{self.tags}"

    def run_names(self) -> list[str]:
        """Each method's run directory name, in the order of `methods`."""
        return [run_name(m, protocol_diff({**self.setting, "method": m})) for m in self.methods]

    def run_dirs(self, results: Path) -> list[Path]:
        return [results / "runs" / d / name / f"seed={s}"
                for d in self.datasets for name in self.run_names() for s in self.seeds]


def setting(n_per_class: int | None = None, imbalance: float | None = None, budget: float | None = None,
            rerun: int = 0) -> dict:
    """A study's settings as part of a run config: only the values it changes."""
    out: dict = {"dataset": {"n_per_class": n_per_class}}
    if rerun:
        out["rerun"] = rerun
    if imbalance is not None:
        out["dataset"]["imbalance_ratio"] = float(imbalance)
    if budget is not None:
        out["stopping"] = {"rule": "budget", "annotations_per_image": float(budget)}
    return out


def method_variant(spec: str) -> tuple[str, list[str], dict]:
    """`method@key=value,...` (as the comparison names a sampler run with other settings, e.g.
    `elr@batch_ramp=1`): the method, its run.py overrides and those settings as part of a run config."""
    method, _, rest = spec.partition("@")
    overrides = [o for o in rest.split(",") if o]
    part: dict = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise SystemExit(f"reproduce: {spec!r}: expected method@key=value, e.g. elr@batch_ramp=1")
        if key in ("method", "dataset"):
            raise SystemExit(f"reproduce: {override!r}: choose {key}s with --{key}s, not as an override")
        if key == "learner":  # a config group's option, as a run config holds it: learner=none is None
            part["learner"] = None if value == "none" else part.get("learner") or {}
            continue
        key = GROUP_CHOICE.get(key, key)
        *parents, leaf = key.split(".")
        node = part
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value)
    return method, overrides, part


def with_setting(spec: str, override: str) -> str:
    """`spec` with one more setting: `la_bald` -> `la_bald@key=value`, `elr@batch_ramp=1` ->
    `elr@batch_ramp=1,key=value`."""
    return f"{spec},{override}" if "@" in spec else f"{spec}@{override}"


def _merged(base: dict, part: dict) -> dict:
    out = dict(base)
    for key, value in part.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{float(x):g}"


def plan(args) -> list[Group]:
    """The sweep as groups of jobs, from the command-line sizes."""
    seeds = list(range(args.seeds))
    extra = list(args.override)
    overridden = method_variant("@" + ",".join(o.lstrip("+") for o in extra))[2]  # in the runs' names too
    if args.max_steps:
        extra.append(f"max_steps={args.max_steps}")

    def pool(dataset: str) -> tuple[list[str], int | None]:
        n = None if dataset == "digits" else args.n_per_class
        return ([f"dataset.n_per_class={n}"] if n else []), n

    groups = []
    studies = [("main", args.datasets, seeds, [], None, None, 0),
               ("ramp", args.datasets, list(range(args.ramp_seeds)), [], None, None, 0),
               *(("aa", args.datasets, list(range(args.aa_seeds)), [f"rerun={r}"], None, None, r)
                 for r in range(1, args.aa_reruns + 1)),
               ("imbalance", args.imbalance_datasets, list(range(args.imbalance_seeds)),
                [f"dataset.imbalance_ratio={_num(args.imbalance_ratio)}"], args.imbalance_ratio, None, 0),
               ("over", args.over_datasets, list(range(args.over_seeds)),
                ["stopping=budget", f"stopping.annotations_per_image={_num(args.budget)}"], None, args.budget, 0),
               *(("dynamics", args.datasets, seeds,
                  [*DYNAMIC_OVERRIDES[d], f"workers.cost_expert={_num(args.cost_expert)}"], None, None, 0)
                 for d in args.dynamics)]
    methods = list(args.methods or REAL_METHODS)
    if "real" in args.studies:
        for dataset in REAL_DATASETS:
            n = REAL_POOL_PER_CLASS[dataset]
            groups.append(Group("real", [dataset], seeds, [*([f"dataset.n_per_class={n}"] if n else []), *extra],
                                _merged(setting(n), overridden), methods))
    if "surrogate" in args.studies:
        for dataset, (wnids, n) in SURROGATE_OF_REAL.items():
            part = {"dataset": {"n_per_class": n, "wnids": list(wnids)}}
            groups.append(Group("surrogate", [dataset], seeds, [f"dataset.n_per_class={n}",
                                                                 f"dataset.wnids=[{','.join(wnids)}]", *extra],
                                _merged(part, overridden), methods))
    for study, datasets, study_seeds, overrides, ratio, budget, rerun in studies:
        if study not in args.studies or not datasets or not study_seeds:
            continue
        by_size: dict[int | None, list[str]] = {}
        for d in datasets:
            by_size.setdefault(pool(d)[1], []).append(d)
        specs = {"aa": AA_METHODS, "main": args.methods or MAIN_METHODS,
                 "ramp": [f"{m}@batch_ramp={args.ramp}" for m in args.ramp_methods]}.get(study, args.methods or METHODS)
        if study == "dynamics":  # each sampler with the paper's EM and with EM that forgets
            specs = [*specs, *(with_setting(m, f"aggregation.forgetting={_num(g)}") for g in args.forgetting
                               for m in specs)]
        variants: dict[tuple[str, ...], list[str]] = {}  # a group per method setting (`elr@batch_ramp=1`)
        for spec in specs:
            method, method_overrides, _ = method_variant(spec)
            variants.setdefault(tuple(method_overrides), []).append(method)
        study_part = method_variant("@" + ",".join(overrides))[2] if study == "dynamics" else {}
        for n, names in by_size.items():
            for method_overrides, methods in variants.items():
                part = _merged(_merged(overridden, study_part), method_variant("@" + ",".join(method_overrides))[2])
                groups.append(Group(study, names, study_seeds,
                                    pool(names[0])[0] + overrides + list(method_overrides) + extra,
                                    _merged(setting(n, ratio, budget, rerun=rerun), part), methods))
    return groups


def commands(group: Group, results: Path, jobs: int, launcher: bool, every_run: bool = False) -> list[list[str]]:
    """The multiruns that run the group's unfinished runs (all of them with `every_run`, each resuming
    from its checkpoint) and no finished one: a finished run kept without its checkpoint (a committed
    piece of a long sweep keeps config, metrics and summary only) is not redone. Each is a product of
    datasets, methods and seeds, so a sweep resumed in pieces stays in few commands."""
    pending: dict[tuple[str, str], list[int]] = {}
    for d in group.run_dirs(results):
        if every_run or not finished(d):
            dataset, method = d.parent.parent.name, group.methods[group.run_names().index(d.parent.name)]
            pending.setdefault((dataset, method), []).append(int(d.name.removeprefix("seed=")))
    by_seeds: dict[tuple[int, ...], dict[str, list[str]]] = {}
    for (dataset, method), seeds in pending.items():
        by_seeds.setdefault(tuple(seeds), {}).setdefault(dataset, []).append(method)
    products: dict[tuple[tuple[int, ...], tuple[str, ...]], list[str]] = {}
    for seeds, methods_of in by_seeds.items():
        for dataset, methods in methods_of.items():
            products.setdefault((seeds, tuple(methods)), []).append(dataset)
    out = []
    for (seeds, methods), datasets in products.items():
        # Hydra sweeps the first list slowest: every sampler of seed 0 on every dataset, then seed 1, so a
        # sweep stopped midway leaves whole paired seeds.
        cmd = [sys.executable, str(ROOT / "run.py"), "-m", f"seed={','.join(map(str, seeds))}",
               f"dataset={','.join(datasets)}", f"method={','.join(methods)}",
               *group.overrides, f"results_dir={results}"]
        if launcher and jobs > 1:
            cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
        out.append(cmd)
    return out


# Wall seconds per pool image of one run to the paper's rule, one job of one thread beside another on two
# cores (the 200/class main study here: ~40 s for 3,800 images); the estimate's fallback before any
# run of a size has finished.
SECONDS_PER_IMAGE = 0.011


def estimate_seconds(groups: list[Group], results: Path, jobs: int) -> tuple[float, str]:
    """Wall seconds the unfinished runs should take over `jobs` parallel jobs, and how it was estimated:
    each at the mean wall time of its study's finished runs of the same dataset (a resumed sweep), else
    at SECONDS_PER_IMAGE per image of its pool."""
    seconds, measured, scaled = 0.0, 0, 0
    for group in groups:
        for dataset in group.datasets:
            dirs = [d for d in group.run_dirs(results) if d.parent.parent.name == dataset]
            walls = [json.loads((d / "summary.json").read_text())["wall_seconds"] for d in dirs if finished(d)]
            left = len(dirs) - len(walls)
            if walls:
                seconds, measured = seconds + left * sum(walls) / len(walls), measured + left
            else:
                n = group.setting["dataset"].get("n_per_class") or FULL_N_PER_CLASS
                seconds, scaled = seconds + left * SECONDS_PER_IMAGE * n * SUBTASK_CLASSES.get(dataset, 10), \
                    scaled + left
    how = (f"{measured} run(s) at the mean wall time of their study's finished runs on the same dataset, "
           f"{scaled} at {SECONDS_PER_IMAGE} s per pool image (rough: no run of theirs finished yet)")
    return seconds / max(jobs, 1), how


def finished(run_dir: Path) -> bool:
    return (run_dir / "summary.json").is_file()


def steps_done(run_dir: Path) -> int:
    try:
        return max(sum(1 for _ in (run_dir / "metrics.csv").open()) - 1, 0)
    except OSError:
        return 0


def run_group(group: Group, cmds: list[list[str]], results: Path, env: dict, every: float, totals: dict) -> dict:
    """Run a group's multiruns one after the other, printing a progress line when a run finishes (and a
    heartbeat every `every` s)."""
    dirs = group.run_dirs(results)
    log_path = results / "reproduce" / f"{group.study}{group.tags or ''}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start, last_count, last_print, exits = time.time(), -1, 0.0, []
    with log_path.open("a") as log:
        for cmd in cmds:
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            while proc.poll() is None:
                time.sleep(1.0)
                done = sum(finished(d) for d in dirs)
                now = time.time()
                if done != last_count or now - last_print >= every:
                    _progress(group, dirs, done, now - start, totals)
                    last_count, last_print = done, now
            exits.append(proc.returncode)
    done = sum(finished(d) for d in dirs)
    if done != last_count:
        _progress(group, dirs, done, time.time() - start, totals)
    failed = [str(d.relative_to(results)) for d in dirs if not finished(d)]
    code = next((e for e in exits if e), 0)
    if code or failed:
        print(f"[reproduce] {group.name}: {len(failed)} run(s) did not finish (exit {code}); "
              f"see {log_path}", flush=True)
        print("  " + "\n  ".join(_tail(log_path, 5)), flush=True)
    totals["done"] += done
    return {"study": group.study, "datasets": group.datasets, "runs": len(dirs), "finished": done,
            "failed": failed, "seconds": round(time.time() - start, 1), "commands": cmds, "exit": code}


def _progress(group: Group, dirs: list[Path], done: int, elapsed: float, totals: dict) -> None:
    running = [f"{d.parent.parent.name}/{d.parent.name}/{d.name} step {steps_done(d)}"
               for d in dirs if not finished(d) and (d / "metrics.csv").is_file()
               and time.time() - (d / "metrics.csv").stat().st_mtime < 120]
    eta = f", ~{_clock(elapsed / done * (len(dirs) - done))} left" if 0 < done < len(dirs) else ""
    print(f"[reproduce] {_clock(elapsed)} {group.name}: {done}/{len(dirs)} runs{eta}; "
          f"overall {totals['done'] + done}/{totals['runs']}"
          + (f"; running: {', '.join(running[:4])}" if running else ""), flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


def _tail(path: Path, n: int) -> list[str]:
    lines = [ln.rstrip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-n:]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="reduced sweep for CI: digits and commodity at --n-per-class 100, 2 seeds")
    p.add_argument("--seeds", type=int,
                   help=f"seeds of the main and imbalance studies (default: {MAIN_SEEDS}; paper: 4; quick: 2)")
    p.add_argument("--datasets", nargs="+", help="datasets of the main study (default: the four subtasks)")
    p.add_argument("--n-per-class", type=int,
                   help=f"sandbox images per class (default: {FULL_N_PER_CLASS}; quick: 100; paper: 1300)")
    p.add_argument("--paper", action="store_true",
                   help=f"the paper's scale: --n-per-class {PAPER_N_PER_CLASS}, the main and imbalance studies, "
                        f"the paper's samplers and ours ({', '.join(PAPER_METHODS)})")
    p.add_argument("--real", action="store_true",
                   help=f"the real and surrogate studies: {', '.join(REAL_DATASETS)} and their surrogates, the "
                        f"paper's samplers and ours, {REAL_SEEDS} seeds")
    p.add_argument("--methods", nargs="+",
                   help=f"samplers of the main, imbalance and over studies (default: {', '.join(MAIN_METHODS)} in "
                        f"main, {', '.join(METHODS)} in the others)")
    p.add_argument("--studies", nargs="+",
                   choices=["main", "ramp", "aa", "imbalance", "over", "dynamics", "real", "surrogate"],
                   help="default: main, ramp, aa, imbalance, over (paper: main, imbalance; quick: all but ramp); "
                        "dynamics runs on request")
    p.add_argument("--ramp", type=int, default=1, help="the ramp study's batch_ramp: pairs at step 1 (default: 1)")
    p.add_argument("--ramp-methods", nargs="+", default=list(RAMP_METHODS),
                   help=f"samplers of the ramp study (default: {', '.join(RAMP_METHODS)})")
    p.add_argument("--ramp-seeds", type=int, default=SIDE_SEEDS,
                   help=f"seeds of the ramp study (default: {SIDE_SEEDS})")
    p.add_argument("--aa-reruns", type=int, default=1, help="reruns of the A/A study, rerun=1 ... this (default: 1)")
    p.add_argument("--aa-seeds", type=int, help=f"seeds of the A/A study (default: {SIDE_SEEDS}; quick: as --seeds)")
    p.add_argument("--budget", type=float, default=1.0, help="annotations per image of the over study")
    p.add_argument("--over-datasets", nargs="+", help="datasets of the over study (default: as --datasets)")
    p.add_argument("--over-seeds", type=int, help="seeds of the over study (default: 2; quick: 1)")
    p.add_argument("--imbalance-ratio", type=float, default=10.0, help="majority/minority class size")
    p.add_argument("--imbalance-datasets", nargs="+", help="datasets of the imbalance study (default: as --datasets)")
    p.add_argument("--imbalance-seeds", type=int,
                   help=f"seeds of the imbalance study (default: as --seeds, {MAIN_SEEDS}; quick: 1)")
    p.add_argument("--dynamics", nargs="+", choices=list(DYNAMIC_OVERRIDES), default=list(DYNAMIC_OVERRIDES),
                   help="the dynamics study's crews (default: all); each sampler there runs with the paper's EM "
                        "and with each --forgetting")
    p.add_argument("--forgetting", nargs="*", type=float, default=[0.8],
                   help="aggregation.forgetting of the dynamics study's following EM (default: 0.8; none given: "
                        "the paper's EM only)")
    p.add_argument("--cost-expert", type=float, default=5.0,
                   help="the dynamics study's price of an expert's answer, a crowd answer costing 1 (default: 5), "
                        "so its comparisons read by count and by money")
    p.add_argument("--max-steps", type=int, help="cap on steps per run (a smoke test; curves end early)")
    p.add_argument("--override", nargs="*", default=[], help="extra run.py overrides for every run")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs (joblib launcher)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results directory")
    p.add_argument("--progress-every", type=float, default=60.0, help="seconds between heartbeat lines")
    p.add_argument("--force", action="store_true", help="rerun studies whose runs are all finished")
    p.add_argument("--bench", choices=["auto", "quick", "full", "skip"], default="auto",
                   help="scoring benchmark for the scoring-time figure; auto: its quick sweep "
                        "unless <results>/bench/scoring_sweep.csv exists")
    p.add_argument("--no-figures", action="store_true", help="skip `python -m labald.figures` at the end")
    p.add_argument("--dry-run", action="store_true", help="print the commands and run counts, run nothing")
    args = p.parse_args(argv)
    if args.paper:
        args.n_per_class = args.n_per_class or PAPER_N_PER_CLASS
        args.studies = args.studies or ["main", "imbalance"]
        args.methods = args.methods or list(PAPER_METHODS)
    if args.real:
        args.studies = args.studies or ["real", "surrogate"]
        args.seeds = args.seeds or REAL_SEEDS
    if args.quick:
        args.studies = args.studies or ["main", "aa", "imbalance", "over"]
        args.methods = args.methods or list(METHODS)
        args.seeds = args.seeds or 2
        args.datasets = args.datasets or ["digits", "commodity"]
        args.n_per_class = args.n_per_class or 100
        args.over_datasets = args.over_datasets or ["digits"]
        args.over_seeds = args.over_seeds or 1
        args.imbalance_datasets = args.imbalance_datasets or ["commodity"]
        args.imbalance_seeds = args.imbalance_seeds or 1
        args.aa_reruns = min(args.aa_reruns, 1)
    # The full sweep's defaults: the paper's 4 subtasks x 5 samplers on sandbox pools of FULL_N_PER_CLASS
    # images per class, with the seeds a paired comparison needs to resolve 5 points on the mean over
    # subtasks (docs/results.md), the same for imbalance; 2 seeds for the over-annotation curves.
    args.studies = args.studies or ["main", "ramp", "aa", "imbalance", "over"]
    args.seeds = args.seeds or MAIN_SEEDS
    args.aa_seeds = args.aa_seeds or (args.seeds if args.quick else SIDE_SEEDS)
    args.datasets = args.datasets or list(SUBTASKS)
    args.n_per_class = args.n_per_class or FULL_N_PER_CLASS
    args.over_datasets = args.over_datasets or args.datasets
    args.imbalance_datasets = args.imbalance_datasets or args.datasets
    args.over_seeds = args.over_seeds or 2
    args.imbalance_seeds = args.imbalance_seeds or args.seeds
    args.results = args.results.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    launcher = importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None
    jobs = max(args.jobs, 1)
    env = dict(os.environ)  # each job's torch/BLAS threads: run.py gives it cores / n_jobs (labald.threads)
    groups = plan(args)
    totals = {"runs": sum(len(g.run_dirs(args.results)) for g in groups), "done": 0}
    mode = f"{jobs} parallel jobs (joblib launcher)" if launcher and jobs > 1 else (
        "sequential (pip install hydra-joblib-launcher for parallel jobs)" if jobs > 1 else "sequential")
    print(f"[reproduce] {totals['runs']} runs in {len(groups)} multirun(s), {mode}, results in {args.results}",
          flush=True)
    left = sum(not finished(d) for g in groups for d in g.run_dirs(args.results))
    if left:
        seconds, how = estimate_seconds(groups, args.results, jobs if launcher else 1)
        print(f"[reproduce] {left} run(s) to go, estimated {_clock(seconds)} ({how}); the sweep resumes where it "
              "stops, so it can run in pieces", flush=True)
    reports, start = [], time.time()
    for group in groups:
        dirs = group.run_dirs(args.results)
        cmds = commands(group, args.results, jobs, launcher, every_run=args.force)
        if args.dry_run:
            print(f"[reproduce] {group.name}: {len(dirs)} runs, {sum(not finished(d) for d in dirs)} to run"
                  + "".join(f"\n  {' '.join(cmd)}" for cmd in cmds))
            continue
        if not args.force and all(finished(d) for d in dirs):
            print(f"[reproduce] {group.name}: all {len(dirs)} runs already finished (--force reruns)", flush=True)
            totals["done"] += len(dirs)
            reports.append({"study": group.study, "datasets": group.datasets, "runs": len(dirs),
                            "finished": len(dirs), "failed": [], "seconds": 0.0, "skipped": True})
            continue
        reports.append(run_group(group, cmds, args.results, env, args.progress_every, totals))
    if args.dry_run:
        return 0
    total = time.time() - start
    _write_summary(args, reports, total, mode)
    failed = sum(len(r["failed"]) for r in reports)
    print(f"[reproduce] sweep done in {_clock(total)}: {totals['done']}/{totals['runs']} runs finished"
          + (f", {failed} failed" if failed else ""), flush=True)
    for r in reports:
        print(f"  {r['study']:9s} {','.join(r['datasets']):40s} {r['finished']:3d}/{r['runs']:<3d} runs  "
              f"{_clock(r['seconds'])}{'  (already done)' if r.get('skipped') else ''}")
    status = 1 if failed else 0
    bench_csv = args.results / "bench" / "scoring_sweep.csv"
    if args.bench in ("quick", "full") or (args.bench == "auto" and not bench_csv.is_file()):
        quick = args.bench in ("quick", "auto")  # the sweep for figure 4; "full" adds the full-size comparisons
        bench = [sys.executable, str(ROOT / "scripts" / "bench_scoring.py"), "--csv", str(bench_csv)]
        print(f"[reproduce] scoring benchmark{' (quick)' if quick else ''} -> {bench_csv}", flush=True)
        bench_start = time.time()
        with (args.results / "reproduce" / "bench.log").open("w") as log:
            rc = subprocess.call(bench + (["--quick"] if quick else []), cwd=ROOT, env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
        print(f"[reproduce] benchmark {'done' if rc == 0 else f'failed (exit {rc})'} in "
              f"{_clock(time.time() - bench_start)}", flush=True)
    if not args.no_figures:
        from labald.figures.__main__ import main as figures

        status = figures(["--runs", str(args.results / "runs"), "--out", str(args.results / "figures"),
                          "--bench", str(bench_csv)]) or status
    return status


def _write_summary(args, reports: list[dict], total: float, mode: str) -> None:
    path = args.results / "reproduce" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    path.write_text(json.dumps({"seconds": round(total, 1), "cpu_count": os.cpu_count(), "mode": mode,
                                "options": options, "studies": reports}, indent=2, default=str) + "\n")
    print(f"[reproduce] timings in {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
