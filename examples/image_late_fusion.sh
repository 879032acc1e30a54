#!/usr/bin/env bash
# One-class image detection with three feature maps, each with its own density,
# fused late (`cance fuse`): the raw pixels' PCA, an ImageNet-pretrained
# network's PCA, and one density over the autoencoder's and the pretrained
# PCA's composite features side by side (`cance join`, with the neighbour view).
# This is the configuration of docs/benchmarks.md ("Late fusion"); every
# setting is the same for every class.
#
#   bash examples/image_late_fusion.sh WORK_DIR
#
# Environment: DATA (default ../shared/data/mnist), NORMAL (normal class,
# default 6), SEED (default 0), IMAGE_SIZE (embedding input, default 224),
# EMB_TRAIN / EMB_TEST (reuse embedding tables made by an earlier run: embedding
# is the slow part, about 27 min for MNIST's 60,000 training images at 224 px on
# 2 CPU cores, 4 min at 64 px), CANCE (default `cance`). Needs the `pretrained` extra.
set -euo pipefail
CANCE=${CANCE:-cance}
W=${1:?give a work folder}
DATA=${DATA:-../shared/data/mnist}
C=${NORMAL:-6}
SEED=${SEED:-0}
SIZE=${IMAGE_SIZE:-224}
mkdir -p "$W"

# Pretrained embeddings of both splits (once; every class reuses them).
EMB_TRAIN=${EMB_TRAIN:-$W/emb-train.parquet}
EMB_TEST=${EMB_TEST:-$W/emb-test.parquet}
for split in train test; do
  emb=$EMB_TRAIN; [ $split = test ] && emb=$EMB_TEST
  [ -f "$emb" ] || $CANCE embed "$DATA" --split $split --backbone efficientnet-lite0 --image-size "$SIZE" \
      --batch-size 64 --out "$emb"
done

# Feature maps fitted on the normal class: the autoencoder (cance fit's image
# defaults), the pretrained embeddings' PCA (90 % of the variance, --pca auto)
# and a 32-component PCA of the pixels.
$CANCE fit "$DATA" --normal "$C" --seed "$SEED" --out "$W/ae-model" -q
$CANCE fit "$EMB_TRAIN" --pca auto --normal "$C" --seed "$SEED" --out "$W/pca-model" -q
$CANCE features "$DATA" --pca 32 --pca-out "$W/pix.safetensors" --normal "$C" --out "$W/pix-train.parquet"
$CANCE features "$DATA" --pca-model "$W/pix.safetensors" --normal "$C" --split test --out "$W/pix-test.parquet"
for split in train test; do
  emb=$EMB_TRAIN; [ $split = test ] && emb=$EMB_TEST
  $CANCE features "$DATA" --ae "$W/ae-model/ae.safetensors" --normal "$C" --split $split --out "$W/ae-$split.parquet"
  $CANCE features "$emb" --pca-model "$W/pca-model/pca.safetensors" --normal "$C" --out "$W/pca-$split.parquet"
  $CANCE join "$W/ae-$split.parquet" "$W/pca-$split.parquet" --out "$W/joined-$split.parquet"
done

# One density per map (the joined one with its neighbour view), each scoring
# its training table (the fusion's reference) and its test table.
for map in pix pca joined; do
  knn=""; [ $map = joined ] && knn="--knn 5"
  $CANCE fit-nce "$W/$map-train.parquet" $knn --seed "$SEED" --out "$W/nce-$map.safetensors" -q
  for split in train test; do
    $CANCE score "$W/$map-$split.parquet" --nce "$W/nce-$map.safetensors" --out "$W/scores-$map-$split.parquet" -q
  done
done

$CANCE fuse "$W/scores-pix-test.parquet" "$W/scores-pca-test.parquet" "$W/scores-joined-test.parquet" \
    -r "$W/scores-pix-train.parquet" -r "$W/scores-pca-train.parquet" -r "$W/scores-joined-train.parquet" \
    --out "$W/fused.parquet"
$CANCE evaluate "$W/fused.parquet" "$W/scores-joined-test.parquet" "$W/scores-pca-test.parquet" \
    "$W/scores-pix-test.parquet"
