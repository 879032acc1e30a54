#!/usr/bin/env bash
# The paper's pipeline stage by stage, each stage a file you can open and rerun:
# one-class detection on scikit-learn's bundled 8x8 digits (builtin:digits),
# digit 3 normal, every other digit an anomaly.
#
#   bash examples/stage_pipeline.sh [WORK_DIR]
#
# CANCE: the command to run (default `cance`); EPOCHS: autoencoder epochs (default 30);
# NCE_EPOCHS: density epochs (default: fit-nce's rule, about 2,400 optimizer steps).
set -euo pipefail
CANCE=${CANCE:-cance}
WORK=${1:-cance-example-stages}
EPOCHS=${EPOCHS:-30}
mkdir -p "$WORK"
DATA=builtin:digits

# Constrained autoencoder on the normal training images.
$CANCE train-ae $DATA --normal 3 --latent 8 --epochs "$EPOCHS" --seed 0 --out "$WORK/ae.safetensors" -q
# Composite features [z, recon_error, cos_dissim] of the training and the test split.
$CANCE features $DATA --ae "$WORK/ae.safetensors" --normal 3 --out "$WORK/train.parquet"
$CANCE features $DATA --ae "$WORK/ae.safetensors" --normal 3 --split test --out "$WORK/test.parquet"
# NCE density on the normal rows' features, then scores of the test split.
$CANCE fit-nce "$WORK/train.parquet" --ratio 10 --seed 0 ${NCE_EPOCHS:+--epochs "$NCE_EPOCHS"} \
    --out "$WORK/nce.safetensors" -q
$CANCE score "$WORK/test.parquet" --nce "$WORK/nce.safetensors" --out "$WORK/cance.parquet" -q
# The usual baseline from the same autoencoder: reconstruction error alone.
$CANCE score "$WORK/test.parquet" --method error --out "$WORK/error.parquet" -q

# AUROC, AUPRC and F1 of both, side by side (add --plot roc.png with the plot extra).
$CANCE evaluate "$WORK/cance.parquet" "$WORK/error.parquet"
