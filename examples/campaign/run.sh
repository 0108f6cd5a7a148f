#!/usr/bin/env bash
# A labeling campaign with the `labald` command, on the files in this folder (docs/campaign.md):
# labels from the first round's answers, then two rounds of `propose` -> your crowd answers
# (answer.py stands in for it) -> the labels again. Everything it writes goes to ./out.
set -euo pipefail
cd "$(dirname "$0")"
LABALD="${LABALD:-labald}"
mkdir -p out
cp answers.csv out/answers.csv            # the log grows by one round at a time
inputs=(--features feats.npy --ids ids.txt --prototypes gold.csv)

"$LABALD" aggregate --annotations out/answers.csv "${inputs[@]}" -o out/labels_round1.csv --force
for round in 2 3; do
  # the next 40 pairs: round = the log's last round + 1; workers up to their roster capacity
  "$LABALD" propose --annotations out/answers.csv "${inputs[@]}" --workers roster.csv -B 40 \
      --method la_bald --worker-skill one_coin -o out/tasks_round$round.csv --force
  "${PYTHON:-python}" answer.py out/tasks_round$round.csv out/answers.csv
done
"$LABALD" aggregate --annotations out/answers.csv "${inputs[@]}" -o out/labels.csv --force
