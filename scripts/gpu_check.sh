#!/usr/bin/env bash
# The GPU check, in one short script for the `device` tool (a machine with PyTorch+CUDA,
# numpy, pandas, scipy, scikit-learn, tqdm, matplotlib and pytest, but no hydra-core/omegaconf and
# no network). Prepare here, then run there from the repository root:
#
#   .venv/bin/python -m pip install --quiet --target .gpu_deps hydra-core==1.3.8 'omegaconf<2.4' pyyaml \
#       threadpoolctl hydra-joblib-launcher      # pure-Python, carried to the GPU machine
#   run: bash scripts/gpu_check.sh     carry: [".gpu_deps"]     timeout_s: 540
#
# It writes under $OUT (default ./gpu_out): the device, the CUDA tests, bench_step.py on CUDA (one
# paper-scale step per sampler, phases beside the GPU's own matmul and log rates) and a paper-scale
# LA-BALD run (commodity, 1,300 images/class) to the paper's stopping rule, with its per-step times.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/.gpu_deps:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
} | tee "$OUT/device.txt"

echo "== CUDA tests" | tee "$OUT/pytest.txt"
timeout 150 python -m pytest -q -p no:cacheprovider -m cuda tests/test_device.py 2>&1 | tail -15 | tee -a "$OUT/pytest.txt"

echo "== bench_step --device cuda (paper scale)" | tee "$OUT/bench_step.txt"
timeout 180 python scripts/bench_step.py --device cuda --repeat 2 2>&1 | tail -20 | tee -a "$OUT/bench_step.txt"

echo "== paper-scale LA-BALD run on CUDA to the stopping rule" | tee "$OUT/run.txt"
start=$(date +%s)
timeout 240 python run.py method=la_bald dataset=commodity device=cuda results_dir="$OUT/results" 2>&1 \
  | grep -v "^\s*$" | tail -6 | tee -a "$OUT/run.txt"
echo "wall: $(( $(date +%s) - start )) s" | tee -a "$OUT/run.txt"
python - "$OUT" <<'PY' 2>&1 | tee -a "$OUT/run.txt"
import glob, sys
import pandas as pd
for f in glob.glob(f"{sys.argv[1]}/results/runs/**/metrics.csv", recursive=True):
    d = pd.read_csv(f)
    s = d[d.step > 0]
    cols = [c for c in d.columns if c.startswith("seconds_")]
    print(f"{len(s)} steps, final accuracy {d.label_accuracy.iloc[-1]:.4f} at {d.annotations_per_image.iloc[-1]:.3f} ann/img")
    print("mean seconds per step:", {c.removeprefix("seconds_"): round(float(s[c].mean()), 4) for c in cols})
PY
