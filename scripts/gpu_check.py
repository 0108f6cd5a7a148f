"""The one check to run when a GPU is lent: everything it measures within BUDGET seconds.

    bash scripts/gpu_check.sh            # = python3 scripts/gpu_check.py, from the repository root
    OUT=/some/dir bash scripts/gpu_check.sh

Needs PyTorch (CUDA build on the GPU machine), numpy, pandas, scipy and pytest; no Hydra, no network
(runs are built from labald's settings directly, as scripts/bench_step.py builds them). Phases run
one after the other, each as its own process with its own time limit (PHASES; they add up to at
most BUDGET), each writing its output to $OUT/<phase>.txt as it goes, so a phase cut by its limit, or
the whole command cut by the machine's, leaves what it had measured. Then one summary table,
$OUT/summary.txt:

  - device: the card, driver, torch and CUDA versions;
  - cuda_tests: tests/test_device.py's CUDA tests (device placement, TF32 off, CPU vs CUDA runs);
  - agreement: LA-BALD on commodity at 100 images per class for a few steps, on the CPU and on CUDA,
    from one seed: label accuracy step by step on each, and the largest difference;
  - bench_cpu, bench_cuda: one paper-scale step (commodity, 1,300 per class) of SS and LA-BALD per
    phase (scripts/bench_step.py), with the device's own GEMM and log rates measured beside it: each
    phase's seconds on both devices, the CUDA / CPU ratio, and MC inference against its GEMM floor.

Without a CUDA device it says so in one line and runs the CPU half (device, agreement on the CPU,
bench_cpu), which is how it is checked on machines without one.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 240  # seconds of command time for everything
# phase -> seconds it may take; the sum stays within BUDGET
PHASES = {"device": 15, "cuda_tests": 45, "agreement": 50, "bench_cpu": 65, "bench_cuda": 60}
AGREEMENT_STEPS = 4

AGREEMENT = """
import sys
sys.path.insert(0, {root!r})
from labald.data import DatasetSettings
from labald.experiment import build_experiment
from labald.learner import LearnerSettings
from labald.loop import initial_state, run_steps
from labald.config import validate
from labald.settings import AcquisitionSettings, AggregationSettings, RunSettings
from labald.stopping import StoppingSettings
from labald.workers import WorkerSettings
settings = RunSettings(seed=0, method="la_bald", dataset=DatasetSettings(name="commodity", n_per_class=100),
                       workers=WorkerSettings(), aggregation=AggregationSettings(), learner=LearnerSettings(),
                       acquisition=AcquisitionSettings(), stopping=StoppingSettings(), results_dir="/unused",
                       device={device!r}, max_steps={steps})
validate(settings)
exp = build_experiment(settings)
state = run_steps(exp, initial_state(exp), progress=False)
for row in state.rows:
    print("step", row["step"], "label_accuracy", f"{{row['label_accuracy']:.6f}}", flush=True)
"""


def run_phase(name: str, argv: list[str], out: Path, env: dict) -> tuple[int | None, float]:
    """Run one phase with its time limit, its output streamed to out/<name>.txt; (exit code or None
    when cut by the limit, seconds)."""
    started = time.monotonic()
    with (out / f"{name}.txt").open("w") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        try:
            code = subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=PHASES[name]).returncode
        except subprocess.TimeoutExpired:
            log.write(f"\n[gpu_check] {name}: cut at its limit of {PHASES[name]} s\n")
            code = None
    seconds = time.monotonic() - started
    print(f"[gpu_check] {name}: {'cut at its limit' if code is None else f'exit {code}'} after {seconds:.0f} s",
          flush=True)
    return code, seconds


def accuracies(path: Path) -> list[float]:
    """Label accuracy per step from an agreement phase's output."""
    if not path.exists():
        return []
    return [float(line.split()[3]) for line in path.read_text().splitlines() if line.startswith("step ")]


def bench(path: Path) -> dict[tuple[str, str], float]:
    if not path.exists():
        return {}
    with path.open() as f:
        return {(r["method"], r["phase"]): float(r["seconds"]) for r in csv.DictReader(f)}


def summary(out: Path, cuda: bool, timings: dict) -> str:
    lines = [f"gpu_check summary ({'CUDA and CPU' if cuda else 'CPU half only: no CUDA device'})", ""]
    lines += ["phase        result        seconds (limit)"]
    lines += [f"{name:<12} {('cut' if code is None else f'exit {code}'):<13} {secs:5.0f} ({PHASES[name]})"
              for name, (code, secs) in timings.items()]
    cpu_acc, cuda_acc = accuracies(out / "agreement_cpu.txt"), accuracies(out / "agreement_cuda.txt")
    lines += ["", "label accuracy by step (LA-BALD, commodity 100/class, seed 0)", "step   cpu      cuda"]
    for s in range(max(len(cpu_acc), len(cuda_acc))):
        c = f"{cpu_acc[s]:.4f}" if s < len(cpu_acc) else "-"
        g = f"{cuda_acc[s]:.4f}" if s < len(cuda_acc) else "-"
        lines.append(f"{s:<6} {c:<8} {g}")
    if cpu_acc and cuda_acc:
        n = min(len(cpu_acc), len(cuda_acc))
        lines.append(f"largest difference over {n} steps: {max(abs(a - b) for a, b in zip(cpu_acc, cuda_acc)):.4f}")
    cpu, gpu = bench(out / "bench_cpu.csv"), bench(out / "bench_cuda.csv")
    if cpu or gpu:
        lines += ["", "paper-scale step, seconds per phase (commodity 1,300/class; fastest of the repeats)",
                  f"{'method':<9} {'phase':<10} {'cpu':>8} {'cuda':>8} {'cuda/cpu':>9}"]
        for method, phase in sorted({k for k in (*cpu, *gpu) if k[0] != "floor"}):
            c, g = cpu.get((method, phase)), gpu.get((method, phase))
            ratio = f"{g / c:.2f}" if c and g else "-"
            lines.append(f"{method:<9} {phase:<10} {c if c is not None else float('nan'):>8.3f} "
                         f"{g if g is not None else float('nan'):>8.3f} {ratio:>9}")
        for name, table in (("cpu", cpu), ("cuda", gpu)):
            floor = table.get(("floor", "inference"))
            for method in ("ss", "la_bald"):
                seconds = table.get((method, "inference"))
                if floor and seconds:
                    lines.append(f"MC inference on {name}, {method}: {seconds:.3f} s, {seconds / floor:.1f}x its "
                                 f"GEMM floor ({floor:.3f} s)")
    return "\n".join(lines) + "\n"


def main() -> int:
    assert sum(PHASES.values()) <= BUDGET, "the phases' limits must fit the budget"
    out = Path(os.environ.get("OUT") or ROOT / "gpu_out")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    python = sys.executable
    timings = {}
    timings["device"] = run_phase("device", [python, "-c", (
        "import subprocess, torch\n"
        "print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())\n"
        "if torch.cuda.is_available():\n"
        "    print(torch.cuda.get_device_name())\n"
        "    print(subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version', '--format=csv'],"
        " capture_output=True, text=True).stdout)")], out, env)
    import torch  # after the device phase has written what it found

    cuda = torch.cuda.is_available()
    if not cuda:
        print("[gpu_check] no CUDA device: running the CPU half only (device, agreement on the CPU, bench_cpu)",
              flush=True)
    else:
        timings["cuda_tests"] = run_phase("cuda_tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                         "-m", "cuda", "tests/test_device.py"], out, env)
    script = {d: AGREEMENT.format(root=str(ROOT), device=d, steps=AGREEMENT_STEPS) for d in ("cpu", "cuda")}
    agreement = [python, "-c", f"exec({script['cpu']!r})\n" if not cuda else
                 f"exec({script['cpu']!r})\nprint('== cuda', flush=True)\nexec({script['cuda']!r})\n"]
    timings["agreement"] = run_phase("agreement", agreement, out, env)
    _split_agreement(out)
    bench_args = ["scripts/bench_step.py", "--methods", "ss", "la_bald", "--repeat", "1"]
    timings["bench_cpu"] = run_phase("bench_cpu", [python, *bench_args, "--device", "cpu",
                                                   "--csv", str(out / "bench_cpu.csv")], out, env)
    if cuda:
        timings["bench_cuda"] = run_phase("bench_cuda", [python, *bench_args, "--device", "cuda",
                                                         "--csv", str(out / "bench_cuda.csv")], out, env)
    text = summary(out, cuda, timings)
    (out / "summary.txt").write_text(text)
    print(text, end="")
    return 0


def _split_agreement(out: Path) -> None:
    """agreement.txt as agreement_cpu.txt and agreement_cuda.txt (the CUDA part after its marker)."""
    text = (out / "agreement.txt").read_text() if (out / "agreement.txt").exists() else ""
    cpu, _, gpu = text.partition("== cuda")
    (out / "agreement_cpu.txt").write_text(cpu)
    (out / "agreement_cuda.txt").write_text(gpu)


if __name__ == "__main__":
    raise SystemExit(main())
