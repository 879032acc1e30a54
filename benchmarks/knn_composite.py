"""Experiment: does a k-nearest-neighbour distance as an extra composite coordinate help?

For each development table (ADBench novelty protocol, `cance_cli/bench/novelty.py`),
the table autoencoder and density of `cance fit`'s defaults are trained on
[z, recon_error, cos_dissim] (CANCE) and on [z, recon_error, cos_dissim, log knn]
(CANCE+kNN), where knn is the mean distance to the k = 5 nearest training rows in
the standardised input space (training rows: leave-one-out). KNN alone (largest
distance, k = 5) runs on the same split. One JSON line per dataset and seed.

    python benchmarks/knn_composite.py ../shared/data/adbench-dev --seeds 0 --out docs/results/knn-composite.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _jsonl import emit
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from cance_cli.bench.novelty import novelty_split, table_files
from cance_cli.defaults import choose_settings
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.nce import NCEDensity

K = 5


def knn_distances(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and largest distance to the k nearest training rows (training rows leave themselves out)."""
    nn = NearestNeighbors(n_neighbors=K + 1).fit(train)
    d_train, _ = nn.kneighbors(train)
    d_train = d_train[:, 1:]
    d_test, _ = nn.kneighbors(test, n_neighbors=K)
    return d_train.mean(axis=1), d_test.mean(axis=1), d_test[:, -1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for path in table_files(Path(args.data)):
        for seed in args.seeds:
            s = novelty_split(path, seed)
            rule = choose_settings("table", len(s.x_train), s.x_train.shape[1:])
            t0 = time.perf_counter()
            ae = ConstrainedAutoencoder(latent=rule["latent"], epochs=rule["ae_epochs"],
                                        decoder_epochs=rule["decoder_epochs"], batch_size=rule["ae_batch_size"],
                                        seed=seed, device="cpu").fit(s.x_train)
            c_train, c_test = (ae.composite_features(x).astype(np.float64) for x in (s.x_train, s.x_test))
            cols = ae.feature_columns_
            k_train, k_test, k_largest = knn_distances(s.x_train, s.x_test)
            row = {"dataset": s.name, "seed": seed, "n_train": len(s.x_train), "width": int(s.x_train.shape[1]),
                   "KNN": roc_auc_score(s.y_test, k_largest), "Error": roc_auc_score(s.y_test, c_test[:, -2])}
            for name, (tr, te, cc) in {
                "CANCE": (c_train, c_test, cols),
                "CANCE+kNN": (np.column_stack([c_train, np.log(k_train + 1e-12)]),
                              np.column_stack([c_test, np.log(k_test + 1e-12)]), cols + ["log_knn"]),
            }.items():
                t1 = time.perf_counter()
                nce = NCEDensity(epochs=rule["nce_epochs"], seed=seed, device="cpu").fit(tr, columns=cc)
                row[name] = roc_auc_score(s.y_test, nce.score_samples(te))
                row[name + "_gauss"] = roc_auc_score(s.y_test, nce.gaussian_score(te))
                row[name + "_seconds"] = round(time.perf_counter() - t1, 2)
            row["ae_seconds"] = round(time.perf_counter() - t0, 2)
            emit(row, args.out)


if __name__ == "__main__":
    main()
