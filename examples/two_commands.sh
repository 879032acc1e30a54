#!/usr/bin/env bash
# Your own table in two commands: fit on normal rows, score new rows; then why rows were flagged.
# Data: scikit-learn's bundled breast-cancer table (569 rows x 30 columns),
# benign tumours as "normal", malignant ones as the anomalies to find.
#
#   bash examples/two_commands.sh [WORK_DIR]
#
# CANCE: the command to run (default `cance`; e.g. "python -m cance_cli").
# FIT_OPTIONS: extra `cance fit` options (default none; the test suite passes shorter training).
set -euo pipefail
CANCE=${CANCE:-cance}
FIT_OPTIONS=${FIT_OPTIONS:-}
WORK=${1:-cance-example-two-commands}
mkdir -p "$WORK"

# Half of the benign rows to train on; the other half plus every malignant row to score.
python - "$WORK" <<'PY'
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer

work = sys.argv[1]
data = load_breast_cancer()  # target 1 = benign, 0 = malignant
ids = np.arange(len(data.target))
table = np.column_stack([ids, data.data, data.target])
header = ",".join(["id", *(name.replace(" ", "_") for name in data.feature_names), "diagnosis"])
benign = ids[data.target == 1]
train = np.zeros(len(ids), dtype=bool)
train[np.random.default_rng(0).permutation(benign)[: len(benign) // 2]] = True
for name, rows in (("train", train), ("new", ~train)):
    np.savetxt(f"{work}/{name}.csv", table[rows], delimiter=",", header=header, comments="", fmt="%.10g")
PY

# 1. Fit: `--label-col diagnosis` keeps the label out of the features, `--normal 1`
#    trains on benign rows; the sizes are chosen from the table's shape and printed.
$CANCE fit "$WORK/train.csv" --label-col diagnosis --normal 1 --seed 0 --out "$WORK/model" $FIT_OPTIONS
# 2. Score: id, label, is_anomaly, score (higher = more anomalous), is_flagged.
$CANCE predict "$WORK/new.csv" --model "$WORK/model" --out "$WORK/scores.parquet"

# 3. Why: the three columns most responsible for each flagged row's score, with their share of it, the
#    row's value and the typical benign value; and a readable report of the ten highest-scoring rows.
$CANCE predict "$WORK/new.csv" --model "$WORK/model" --out "$WORK/explained.csv" --explain 3 -q
$CANCE explain "$WORK/new.csv" --model "$WORK/model" --top 10 --out "$WORK/report.html"

# How well the scores separate malignant from benign rows (the label was never a feature).
echo "AUROC: $($CANCE evaluate "$WORK/scores.parquet" --auroc)"
