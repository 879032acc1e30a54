#!/usr/bin/env bash
# One-class CIFAR-10 on frozen EfficientNet-Lite0 embeddings, one class end to end from the archive.
# Data: ../shared/data/cifar10-jpg/cifar10-jpg.tar.gz ("CIFAR-10 (JPEG q75 copy)"; README there).
#
#   bash examples/cifar10_one_class.sh WORK_DIR [CLASS]      (CLASS default: cat)
#
# Needs the `pretrained` extra. Cost on 2 CPU cores: unpacking a few seconds; embedding the 10,000 test
# images about 12 min and the 50,000 training images about 45-60 min at 224 px (done once: a finished
# table is not embedded again); then about a minute per class.
# CANCE: the command to run (default `cance`; e.g. "python -m cance_cli").
set -euo pipefail
CANCE=${CANCE:-cance}
WORK=${1:?give a work folder outside the repository}
CLASS=${2:-cat}
ARCHIVE=${ARCHIVE:-$(dirname "$0")/../../shared/data/cifar10-jpg/cifar10-jpg.tar.gz}
mkdir -p "$WORK"

[ -d "$WORK/cifar10/train" ] || { mkdir -p "$WORK/cifar10" && tar xzf "$ARCHIVE" -C "$WORK/cifar10"; }
for split in test train; do  # resumable: a table already written is kept
  [ -f "$WORK/emb-$split.parquet" ] || $CANCE embed "$WORK/cifar10" --split "$split" \
      --backbone efficientnet-lite0 --out "$WORK/emb-$split.parquet"
done

# The user's path: fit on the class's training embeddings (PCA + composite density), score the test split
# (the other nine classes are the anomalies), evaluate.
$CANCE fit "$WORK/emb-train.parquet" --normal "$CLASS" --pca auto --seed 0 --out "$WORK/model-$CLASS"
$CANCE predict "$WORK/emb-test.parquet" --model "$WORK/model-$CLASS" --out "$WORK/scores-$CLASS.parquet"
echo "AUROC ($CLASS normal): $($CANCE evaluate "$WORK/scores-$CLASS.parquet" --auroc)"
