"""Frozen embeddings: does the composite feature's reconstruction error need the PCA's whole 90 % subspace?

    python benchmarks/embedding_residual.py TRAIN.parquet TEST.parquet --classes cat,dog [--seed 0] \
        [--out docs/results/cifar10/residual.jsonl]

The diagnosis (docs/benchmarks.md, "CIFAR-10 diagnosis") found the PCA's reconstruction error at 90 % of the
variance (about 300 components on EfficientNet-Lite0 embeddings) far ahead of ``cance fit --pca auto``,
whose latent count is clipped to 64 - and whose error column is then the error *at 64 components*, where
the signal of the minor directions is mixed with the major ones it dropped. Variants, each a one-class fit
on the class's training rows, scored on the whole test split (the other classes anomalous):

- ``composite-r90``: the composite feature [z (min(k90, 64) components), e, d] with e and d measured
  against the reconstruction from all k90 components; the NCE density on it (``feature_map="precomputed"``,
  every other setting cance's default);
- ``composite-r90+knn``: that density's score beside the neighbour view (k = 5) on the standardised
  embedding, each scaled by its training rows' median and IQR and added (cance's own combination);
- ``residual-r90+knn``: the reconstruction error at k90 beside the same neighbour view.

``--unit``: every embedding L2-normalised first (cosine geometry, the frozen-feature kNN baseline's); the
variants are then named ``unit:...``.

One JSON line per variant and class, appended.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors

    from cance_cli import CANCE
    from cance_cli.data import load_data
    from cance_cli.views.fusion import combine, robust_scale

    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--classes", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unit", action="store_true", help="L2-normalise every embedding first")
    ap.add_argument("--out", default="docs/results/cifar10/residual.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(2)
    train, test = load_data(args.train), load_data(args.test)
    xa, t = train.batch(slice(None)).astype(np.float64), test.batch(slice(None)).astype(np.float64)
    if args.unit:
        xa, t = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (xa, t))
    for normal in args.classes.split(","):
        x = xa[train.y.astype(str) == normal]
        y = (test.y.astype(str) != normal).astype(int)
        start = time.perf_counter()
        mean = x.mean(axis=0)
        _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
        share = np.cumsum(sv ** 2) / np.sum(sv ** 2)
        k90 = int(np.searchsorted(share, 0.9) + 1)
        k = min(k90, 64)

        def composite(rows, mean=mean, vt=vt, k90=k90, k=k):
            c = rows - mean
            recon = (c @ vt[:k90].T) @ vt[:k90] + mean
            err = ((rows - recon) ** 2).mean(axis=1)
            cos = 1 - (rows * recon).sum(axis=1) / np.maximum(
                np.linalg.norm(rows, axis=1) * np.linalg.norm(recon, axis=1), 1e-12)
            return np.column_stack([c @ vt[:k].T, err, cos]).astype(np.float32), err

        cx, ex = composite(x)
        ct, et = composite(t)
        est = CANCE(feature_map="precomputed", seed=args.seed, verbose=False, threshold_folds=0).fit(cx)
        dens_x, dens_t = est.decision_scores_, est.score_samples(ct)
        std = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
        zx, zt = (x - mean) / std, (t - mean) / std
        nn = NearestNeighbors(n_neighbors=6).fit(zx)
        knn_x = np.log(nn.kneighbors(zx)[0][:, -1] + 1e-12)  # the row itself is its own first neighbour
        knn_t = np.log(nn.kneighbors(zt, n_neighbors=5)[0][:, -1] + 1e-12)
        seconds = round(time.perf_counter() - start, 1)

        def fused(a_x, a_t, knn_x=knn_x, knn_t=knn_t):
            cal = {"composite": robust_scale(a_x), "knn": robust_scale(knn_x)}
            return combine({"composite": a_t, "knn": knn_t}, cal)

        for name, scores in {"composite-r90": dens_t, "composite-r90+knn": fused(dens_x, dens_t),
                             "residual-r90+knn": fused(np.log(ex), np.log(et))}.items():
            row = {"variant": f"unit:{name}" if args.unit else name, "normal": normal, "seed": args.seed,
                   "k90": k90, "latent": k,
                   "auroc": float(roc_auc_score(y, scores)), "seconds": seconds, "train_rows": len(x),
                   "date": str(date.today()), "machine": platform.node()}
            print(json.dumps(row), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
