"""Measure candidate default rules of the density's schedule on the ADBench novelty protocol.

Each variant trains the table autoencoder by the table rule (latent clip(F // 8, 2, 8),
10 + 3 epochs) and an NCE density with the variant's epochs; AUROC and fit seconds
per dataset go to a JSON-lines file (one line per dataset, seed and variant).

    python benchmarks/defaults_rule.py ../shared/data/adbench-dev --seeds 0 \
        --variants fixed100 steps2400 --out docs/results/defaults-rule.jsonl
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _jsonl import emit
from sklearn.metrics import roc_auc_score

from cance_cli.bench.novelty import novelty_split, table_files
from cance_cli.defaults import choose_settings
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.nce import NCEDensity


def nce_epochs(variant: str, n: int) -> int:
    if variant == "fixed100":
        return 100
    if variant.startswith("steps"):  # steps{budget}[max{epochs}]
        budget, _, top = variant[5:].partition("max")
        return int(min(max(round(int(budget) / math.ceil(n / 256)), 10), int(top or 100)))
    raise SystemExit(f"unknown variant {variant}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=["fixed100", "steps2400"])
    parser.add_argument("--only", nargs="*", help="dataset names to run (default: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for path in table_files(Path(args.data)):
        for seed in args.seeds:
            split = novelty_split(path, seed)
            if args.only and split.name not in args.only:
                continue
            rule = choose_settings("table", len(split.x_train), split.x_train.shape[1:])
            started = time.perf_counter()
            ae = ConstrainedAutoencoder(latent=rule["latent"], epochs=rule["ae_epochs"],
                                        decoder_epochs=rule["decoder_epochs"], batch_size=rule["ae_batch_size"],
                                        seed=seed, device="cpu").fit(split.x_train)
            c_train, c_test = ae.composite_features(split.x_train), ae.composite_features(split.x_test)
            ae_seconds = time.perf_counter() - started
            cols = ae.feature_columns_
            error_auroc = roc_auc_score(split.y_test, c_test[:, -2])
            for variant in args.variants:
                started = time.perf_counter()
                epochs = nce_epochs(variant, len(c_train))
                nce = NCEDensity(epochs=epochs, seed=seed, device="cpu").fit(c_train.astype(np.float64), columns=cols)
                scores = nce.score_samples(c_test.astype(np.float64))
                row = {"dataset": split.name, "seed": seed, "variant": variant, "n_train": len(c_train),
                       "width": int(split.x_train.shape[1]), "nce_epochs": epochs,
                       "best_epoch": nce.history_["best_epoch"] + 1,
                       "auroc": float(roc_auc_score(split.y_test, scores)), "error_auroc": float(error_auroc),
                       "gauss_auroc": float(roc_auc_score(split.y_test, nce.gaussian_score(c_test))),
                       "ae_seconds": round(ae_seconds, 2), "nce_seconds": round(time.perf_counter() - started, 2),
                       "machine": platform.machine()}
                emit(row, args.out)


if __name__ == "__main__":
    main()
