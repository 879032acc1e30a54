#!/bin/bash
# Leave-one-class-out on an embedding table (CIFAR-10 issue, item 4): each class in turn anomalous, the other
# classes normal; `cance fit --pca auto` defaults (with --threshold-folds 0: the model kept, and so AUROC, do not
# depend on the threshold's cross-fit), `cance predict` on the test table, then AUROC beside cosine kNN.
#   bash benchmarks/leave_one_class_out.sh TRAIN.parquet TEST.parquet WORK CLASS,CLASS,... [MORE FIT OPTIONS]
# (e.g. `--exclude is_anomaly` for a table that carries that column).
# Resumable: a class whose scores exist in WORK is skipped. Results are appended to WORK/results.jsonl.
set -euo pipefail
train=$1 test=$2 work=$3 classes=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
for cls in ${classes//,/ }; do
  [ -f "$work/s-$cls.parquet" ] && continue
  normal=$(echo "$classes" | tr ',' '\n' | grep -vx "$cls" | paste -sd, -)
  cance fit "$train" --normal "$normal" --pca auto --threshold-folds 0 --seed 0 "$@" \
      --out "$work/m-$cls" -q > "$work/$cls.log" 2>&1
  cance predict "$test" --model "$work/m-$cls" --out "$work/s-$cls.parquet" -q >> "$work/$cls.log" 2>&1
  python "$here/leave_one_class_out.py" "$train" "$test" "$work/s-$cls.parquet" "$cls" >> "$work/results.jsonl"
done
