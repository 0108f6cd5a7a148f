#!/usr/bin/env bash
# The one command to run when a GPU is lent (the `device` tool: PyTorch with CUDA, numpy, pandas,
# scipy and pytest, no Hydra, no network), from the repository root, with nothing to carry:
#
#   run: bash scripts/gpu_check.sh     timeout_s: 300
#
# Everything it measures finishes within 240 s of command time (scripts/gpu_check.py: the phases,
# their limits and the summary table); results under $OUT (default ./gpu_out), each phase's file
# written as it goes, then summary.txt. Without a CUDA device it runs its CPU half and says so.
set -uo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/gpu_check.py "$@"
