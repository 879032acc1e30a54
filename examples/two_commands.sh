#!/usr/bin/env bash
# Your own table in two commands: fit on normal rows, score new rows.
# Data: scikit-learn's bundled breast-cancer table (569 rows x 30 columns),
# benign tumours as "normal", malignant ones as the anomalies to find.
#
#   bash examples/two_commands.sh [WORK_DIR]
#
# CANCE: the command to run (default `cance`; e.g. "python -m cance_cli").
set -euo pipefail
CANCE=${CANCE:-cance}
WORK=${1:-cance-example-two-commands}
mkdir -p "$WORK"

# Half of the benign rows to train on; the other half plus every malignant row to score.
python - "$WORK" <<'PY'
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer

work = sys.argv[1]
data = load_breast_cancer(as_frame=True)
table = data.frame.rename(columns={"target": "diagnosis"})  # 1 = benign, 0 = malignant
table.insert(0, "id", np.arange(len(table)))
benign = table.index[table["diagnosis"] == 1].to_numpy()
train = np.random.default_rng(0).permutation(benign)[: len(benign) // 2]
table.loc[train].to_csv(f"{work}/train.csv", index=False)
table.drop(index=train).to_csv(f"{work}/new.csv", index=False)
PY

# 1. Fit: `--label-col diagnosis` keeps the label out of the features, `--normal 1`
#    trains on benign rows; the sizes are chosen from the table's shape and printed.
$CANCE fit "$WORK/train.csv" --label-col diagnosis --normal 1 --seed 0 --out "$WORK/model"
# 2. Score: id, label, is_anomaly, score (higher = more anomalous), is_flagged.
$CANCE predict "$WORK/new.csv" --model "$WORK/model" --out "$WORK/scores.parquet"

# How well the scores separate malignant from benign rows (the label was never a feature).
echo "AUROC: $($CANCE evaluate "$WORK/scores.parquet" --auroc)"
