"""One run end to end: its directory, checkpoint and resume, metrics.csv, answers.csv and summary.json."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml

from labald import compat, metrics
from labald.annotations import Annotations
from labald.errors import LabaldError
from labald.experiment import Experiment, build_experiment
from labald.identity import accepted_fingerprints, fingerprint, input_tags, output_dir, protocol_diff
from labald.loop import LoopState, initial_state, refresh_predictions, run_steps
from labald.rundir import atomic_write_text, remove_interrupted_writes, save_checkpoint, write_json
from labald.settings import RunSettings
from labald.threads import apply_threads

log = logging.getLogger("labald")

CHECKPOINT = "checkpoint.pt"
ANSWERS = "answers.csv"
RUN_FILES = ("config.yaml", "metrics.csv", ANSWERS, CHECKPOINT, "summary.json")  # what a run directory holds


def run_experiment(settings: RunSettings, resume: bool = True, progress: bool = True, log_every: int = 0) -> dict:
    """Run (or resume) one experiment and return its summary; all files go to `output_dir(settings)`.
    `progress`: a progress bar; `log_every`: a log line every that many steps (see `run_steps`)."""
    out = output_dir(settings)
    if settings.threads is not None:
        apply_threads(settings.threads)
        log.info("threads: %d (torch and BLAS)", settings.threads)
    saved = _load_checkpoint(out / CHECKPOINT, settings) if resume else None
    wall = time.perf_counter()
    exp = build_experiment(settings)
    if saved is not None:
        saved = compat.upgrade_checkpoint(saved, exp.cost_M, exp.pool.n_images)
    if out.is_dir():
        for tmp in remove_interrupted_writes(out, RUN_FILES):
            log.info("removed %s, left by an interrupted write", tmp.name)
    if saved is not None:
        state = _restore(exp, saved)
        log.info("resuming %s from step %d", out, state.step)
    else:
        state = initial_state(exp)
        (out / "summary.json").unlink(missing_ok=True)
        _save(exp, state, out)
    run_steps(exp, state, on_step=lambda st: _save(exp, st, out), progress=progress, log_every=log_every)
    _save(exp, state, out)
    summary = _summary(exp, state, time.perf_counter() - wall)
    write_json(out / "summary.json", summary)
    log.info("stopped: %s; label accuracy %.4f at %.3f annotations per image; results in %s",
             state.stop_reason, summary["label_accuracy"], summary["annotations_per_image"], out)
    return summary


def _save(exp: Experiment, state: LoopState, out: Path) -> None:
    """Config, metrics and checkpoint of the last completed step, each written atomically."""
    s = exp.settings
    atomic_write_text(out / "config.yaml", yaml.safe_dump(_plain(dataclasses.asdict(s)), sort_keys=False))
    atomic_write_text(out / "metrics.csv", metrics.to_csv(state.rows, metrics.columns(exp.joint)))
    atomic_write_text(out / ANSWERS, answers_csv(state.annotations, exp.pool.class_names))
    save_checkpoint(out / CHECKPOINT, {
        "fingerprint": fingerprint(s),
        "inputs": input_tags(s),
        "step": state.step,
        "annotations": state.annotations.state_dict(),
        "posterior": state.posterior_N_K,
        "confusions": state.confusions_M_K_K,
        "periods": state.periods,  # forgetting < 1: each step's confusions, for the next selection
        "period_confusions": state.period_confusions,
        "prior": state.prior_N_K,
        "mc_step": state.mc_step,
        "rows": state.rows,
        "stop_reason": state.stop_reason,
        "learner": None if exp.learner is None else exp.learner.state_dict(),
    })


def answers_csv(annotations: Annotations, class_names: tuple[str, ...]) -> str:
    """Every answer so far as CSV, crowd-kit's long format plus the step it was asked in:
    `task,worker,label,step` (task: the image's row in the pool, worker: its index, label: the class's
    name), in the order asked, so `labald aggregate` and crowd-kit read a simulated campaign as is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "worker", "label", "step"])
    names = list(class_names)
    writer.writerows(zip(annotations.image.tolist(), annotations.worker.tolist(),
                         [names[z] for z in annotations.label.tolist()], annotations.step.tolist()))
    return buffer.getvalue()


def _load_checkpoint(path: Path, settings: RunSettings) -> dict | None:
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        saved["fingerprint"], saved["rows"]  # noqa: B018 - presence check
    except (OSError, RuntimeError, EOFError, KeyError, TypeError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise LabaldError(
            f"checkpoint {path} is corrupt ({type(e).__name__}); delete it or rerun with resume=false to start over"
        ) from None
    for key, tag in input_tags(settings).items():
        before = compat.recorded_inputs(saved).get(key, tag)
        if before != tag:
            raise LabaldError(
                f"{key}={getattr(settings.dataset, key.split('.', 1)[1])} changed since {path.parent} was run on it "
                f"(content {before} -> {tag}); restore the file, or rerun with resume=false to start over"
            )
    if saved["fingerprint"] not in accepted_fingerprints(settings):
        raise LabaldError(
            f"{path.parent} holds a run with a different config; rerun with resume=false to start over "
            "or set results_dir=... for a separate run"
        )
    return saved


def _restore(exp: Experiment, saved: dict) -> LoopState:
    annotations = Annotations(exp.pool.n_images, exp.workers.n_workers)
    annotations.load_state_dict(saved["annotations"])
    state = LoopState(
        step=saved["step"], annotations=annotations, posterior_N_K=saved["posterior"],
        confusions_M_K_K=saved["confusions"], prior_N_K=saved["prior"], mc_step=saved["mc_step"],
        rows=saved["rows"], periods=saved["periods"], period_confusions=saved["period_confusions"],
    )  # the stop reason is decided afresh: a larger max_steps lets a finished run go on
    if exp.learner is not None:
        exp.learner.load_state_dict(saved["learner"])
        refresh_predictions(exp, state, state.mc_step)
    return state


def _summary(exp: Experiment, state: LoopState, seconds: float) -> dict:
    last = state.rows[-1]
    return {
        "dataset": exp.settings.dataset.name,
        "method": exp.settings.method_key,
        "seed": exp.settings.seed,
        "protocol_diff": protocol_diff(exp.settings),  # what differs from the paper's protocol
        "stop_reason": state.stop_reason,
        "steps": state.step,
        "n_images": exp.pool.n_images,
        "n_classes": exp.pool.n_classes,
        "n_workers": exp.workers.n_workers,
        "n_annotations": last["n_annotations"],
        "annotations_per_image": last["annotations_per_image"],
        "cost": last["cost"],
        "cost_per_image": last["cost_per_image"],
        "label_accuracy": last["label_accuracy"],
        "model_accuracy": last["model_accuracy"],
        "data_source": exp.pool.source,
        "worker_source": exp.workers.source,
        "prior_accuracy": np.asarray(exp.prior_accuracy).tolist(),
        "wall_seconds": seconds,
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "load_1min": _load(),  # the machine's 1-minute load average as the run finished (timing.md)
        "seconds_total": {c: float(sum(r.get(c) or 0.0 for r in state.rows)) for c in metrics.TIMING_COLUMNS},
        "fingerprint": fingerprint(exp.settings),
        "inputs": input_tags(exp.settings),  # content hash of every input file
    }


def _load() -> float | None:
    """The 1-minute load average, None where the platform has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _plain(obj):
    """Tuples to lists so the YAML stays plain."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
