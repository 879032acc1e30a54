"""Why one-class AUROC on frozen embeddings is what it is: variants of the model on one class (CIFAR-10 issue).

    python benchmarks/pretrained_diagnosis.py TRAIN.parquet TEST.parquet --normal cat [--seed 0] \
        [--out docs/results/cifar10/diagnosis.jsonl]

TRAIN: `cance embed` of the training images (rows of the normal class are used); TEST: of the whole test
split (label column = class). Every variant scores the whole test split, the other classes anomalous:

- ``cance fit --pca auto`` defaults (the user's path: PCA keeping 90 % of the variance, clipped to 64,
  composite [z, e, d], NCE density); the same with ``pca`` 8 / 16 / 32 components; its Gaussian;
- the PCA's reconstruction error alone (the composite's ``e``), and Mahalanobis distance in all components
  (a Gaussian on the whitened embedding, shrunk);
- kNN (k = 1, 5) on standardised embeddings and on L2-normalised ones (cosine), the frozen-feature baseline
  of the literature (DN2, PANDA's baseline);
- the neighbour view beside the density (``views="composite+knn"``, the PCA feature map).

One JSON line per variant, appended.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np


def knn(train: np.ndarray, test: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(train).kneighbors(test)[0][:, -1]


def main() -> None:
    import torch
    from sklearn.covariance import LedoitWolf
    from sklearn.metrics import roc_auc_score

    from cance_cli import CANCE
    from cance_cli.data import load_data

    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--normal", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma list of variant names")
    ap.add_argument("--out", default="docs/results/cifar10/diagnosis.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(2)
    train, test = load_data(args.train), load_data(args.test)
    x, t = train.batch(slice(None)).astype(np.float64), test.batch(slice(None)).astype(np.float64)
    if train.y is not None:  # a table of every class: the normal class's rows train
        x = x[train.y.astype(str) == args.normal]
    y = (test.y.astype(str) != args.normal).astype(int)
    mean, std = x.mean(axis=0), np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731

    def fitted(**params):
        def run():
            est = CANCE(feature_map="pca", seed=args.seed, verbose=False, threshold_folds=0, **params).fit(x)
            run.info = {"components": int(est.settings_["latent"])}
            return est.score_samples(t)
        return run

    def gauss():
        est = CANCE(feature_map="pca", pca="auto", seed=args.seed, verbose=False, threshold_folds=0).fit(x)
        return est.density_.gaussian_score(est._select(*est._composite(t))[0])

    def pca_error():
        from sklearn.decomposition import PCA

        p = PCA(n_components=0.9, random_state=args.seed).fit(x)
        return ((t - p.inverse_transform(p.transform(t))) ** 2).sum(axis=1)

    def mahalanobis():
        lw = LedoitWolf().fit((x - mean) / std)
        return lw.mahalanobis((t - mean) / std)

    variants = {
        "cance-fit-pca-auto": fitted(pca="auto"),
        "cance-fit-pca-8": fitted(pca=8), "cance-fit-pca-16": fitted(pca=16), "cance-fit-pca-32": fitted(pca=32),
        "cance-fit-pca-auto+knn": fitted(pca="auto", views="composite+knn"),
        "gauss-pca-auto": gauss, "pca-error-90": pca_error, "mahalanobis-shrunk": mahalanobis,
        "knn1-standardised": lambda: knn((x - mean) / std, (t - mean) / std, 1),
        "knn5-standardised": lambda: knn((x - mean) / std, (t - mean) / std, 5),
        "knn1-cosine": lambda: knn(unit(x), unit(t), 1), "knn5-cosine": lambda: knn(unit(x), unit(t), 5),
    }
    wanted = set(filter(None, args.only.split(",")))
    for name, run in variants.items():
        if wanted and name not in wanted:
            continue
        start = time.perf_counter()
        scores = run()
        row = {"variant": name, "normal": args.normal, "seed": args.seed, "train_rows": len(x), "width": x.shape[1],
               "auroc": float(roc_auc_score(y, scores)), "seconds": round(time.perf_counter() - start, 1),
               **getattr(run, "info", {}), "train": args.train, "test": args.test, "date": str(date.today()),
               "machine": platform.node()}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
