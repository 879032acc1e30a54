"""Usage: python benchmarks/fashion_row_norm.py CLASSES EMB_TRAIN EMB_TEST (from `cance embed ... --image-size 64`).

One-class Fashion-MNIST on 64-px EfficientNet-Lite0 embeddings: cance fit --pca auto with rows as given
(row_norm none, the rule before session 20) and unit rows (row_norm auto now), seed 0."""
import json
import sys
import time

import torch
from sklearn.metrics import roc_auc_score

from cance_cli import CANCE
from cance_cli.data import load_data

torch.set_num_threads(1)
train, test = load_data(sys.argv[2]), load_data(sys.argv[3])
x, t = train.batch(slice(None)), test.batch(slice(None))
for c in sys.argv[1].split(","):
    y = (test.y.astype(str) != c).astype(int)
    for norm in ("none", "auto"):
        s = time.perf_counter()
        est = CANCE(feature_map="pca", pca="auto", row_norm=norm, threshold_folds=0, seed=0, verbose=False)
        est.fit(x[train.y.astype(str) == c])
        row = {"class": c, "row_norm": norm, "auroc": roc_auc_score(y, est.score_samples(t)),
               "density_columns": len(est.density_.columns_), "seconds": round(time.perf_counter() - s, 1)}
        print(json.dumps(row), flush=True)
        with open("docs/results/fashion-unit-rows.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
