"""One-class AUROC on a pretrained network's embeddings (the pretrained path of METHOD step 1b).

Reads two embedding tables written by `cance embed` (training and test split, all
classes). For each class in turn: the training rows of that class are normal; the
whole test table is scored, the other classes being the anomalies. Methods:

- ``CANCE-PCA``: ``CANCE(feature_map="pca", pca="auto")`` (PCA of the embeddings,
  composite [z, e, d], NCE density), the estimator's defaults otherwise;
- ``Gauss-PCA``: that model's fitted Gaussian;
- ``KNN``: distance to the 5th nearest training embedding (standardised columns),
  the strongest simple baseline on embeddings;
- ``LatNCE-PCA`` / ``CNCE-PCA`` (with ``--ablations``): the density of z alone,
  and of [z, e, d] without the augmentation of the reconstruction columns.

One JSON line per (class, seed, method) is appended to --out.

    cance embed ../shared/data/fashion-mnist --split train --backbone efficientnet-lite0 --image-size 64 \
        --out emb-train.parquet
    cance embed ../shared/data/fashion-mnist --split test --backbone efficientnet-lite0 --image-size 64 \
        --out emb-test.parquet
    python benchmarks/pretrained_one_class.py emb-train.parquet emb-test.parquet --seeds 0 --out docs/results/x.jsonl
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _jsonl import emit
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from cance_cli import CANCE
from cance_cli.data import load_data


def knn_scores(train: np.ndarray, test: np.ndarray, k: int = 5) -> np.ndarray:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    nn = NearestNeighbors(n_neighbors=k).fit((train - mean) / std)
    return nn.kneighbors((test - mean) / std)[0][:, -1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--classes", default=None, help="comma list (default: every class)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--ablations", action="store_true", help="only LatNCE-PCA and CNCE-PCA")
    ap.add_argument("--views", nargs="*", default=[], help="also CANCE-PCA with these views, e.g. composite+knn")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    train, test = load_data(args.train), load_data(args.test)
    x_train, x_test = train.batch(slice(None)), test.batch(slice(None))
    y_train, y_test = train.y.astype(str), test.y.astype(str)
    classes = args.classes.split(",") if args.classes else sorted(set(y_train), key=lambda c: (len(c), c))
    meta = {"train": args.train, "test": args.test, "width": int(x_train.shape[1]), "y_test": y_test}
    for seed in args.seeds:
        for cls in classes:
            normal = x_train[y_train == cls]
            rows = []
            if args.ablations:
                for method, options in (("LatNCE-PCA", {"features": "latent"}), ("CNCE-PCA", {"augment": False})):
                    started = time.perf_counter()
                    est = CANCE(feature_map="pca", pca="auto", seed=seed, device="cpu", **options).fit(normal)
                    rows.append((method, est.score_samples(x_test), time.perf_counter() - started))
                _write(rows, cls, seed, est, meta, args.out)
                continue
            started = time.perf_counter()
            # threshold_folds=0: AUROC does not depend on the threshold (the cross-fit would cost 5 more fits)
            est = CANCE(feature_map="pca", pca="auto", seed=seed, device="cpu", threshold_folds=0).fit(normal)
            fitted = time.perf_counter() - started
            rows.append(("CANCE-PCA", est.score_samples(x_test), fitted))
            composite = est._select(*est._composite(x_test))[0]
            rows.append(("Gauss-PCA", est.density_.gaussian_score(composite), fitted))
            started = time.perf_counter()
            rows.append(("KNN", knn_scores(normal, x_test), time.perf_counter() - started))
            for views in args.views:
                started = time.perf_counter()
                other = CANCE(feature_map="pca", pca="auto", seed=seed, device="cpu", threshold_folds=0,
                              views=views).fit(normal)
                rows.append((f"CANCE-PCA[{views}]", other.score_samples(x_test), time.perf_counter() - started))
            _write(rows, cls, seed, est, meta, args.out)


def _write(rows, cls, seed: int, est, meta: dict, out: str) -> None:
    """One JSON line per method: its AUROC with class ``cls`` normal (anomalies: every other class)."""
    anomalous = (meta["y_test"] != cls).astype(int)
    for method, scores, seconds in rows:
        row = {"normal": cls, "seed": seed, "method": method, "auroc": roc_auc_score(anomalous, scores),
               "seconds": round(seconds, 2), "pca_components": int(est.settings_["latent"]),
               **{k: v for k, v in meta.items() if k != "y_test"}}
        emit(row, out)


if __name__ == "__main__":
    main()
