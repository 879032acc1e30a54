"""One-class benchmark of the constrained autoencoder's reconstruction error.

For each class c: train on the training images of c (normal only), compute
composite features on the full test split, and report the AUROC of
``recon_error`` (anomaly = not c), the training time and the latent condition
number. Results are appended as JSON lines; checkpoints and feature tables can
be kept for the density benchmarks (``--keep DIR``).

    python benchmarks/ae_one_class.py ../shared/data/mnist --classes 0-9 --lam 0 --out results.jsonl
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from _jsonl import emit
from sklearn.metrics import roc_auc_score

from cance_cli.data import load_data
from cance_cli.features import write_feature_table
from cance_cli.training.autoencoder import ConstrainedAutoencoder


def parse_classes(spec: str) -> list[int]:
    if "-" in spec:
        lo, hi = spec.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(c) for c in spec.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--classes", default="0-9")
    ap.add_argument("--lam", type=float, nargs="+", default=[0.0])
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--decoder-epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep", default=None, help="folder for checkpoints and feature tables")
    args = ap.parse_args()

    train, test = load_data(args.data, "train"), load_data(args.data, "test")
    for seed in args.seeds:
        for lam in args.lam:
            for cls in parse_classes(args.classes):
                normal = train.subset(np.flatnonzero(train.y == cls))
                ae = ConstrainedAutoencoder(latent=args.latent, lam=lam, epochs=args.epochs,
                                            decoder_epochs=args.decoder_epochs, seed=seed).fit(normal)
                feats = ae.composite_features(test)
                auroc = roc_auc_score(test.y != cls, feats[:, args.latent])
                row = {"data": Path(args.data).name, "class": cls, "lam": lam, "seed": seed,
                       "latent": args.latent, "epochs": args.epochs, "decoder_epochs": args.decoder_epochs,
                       "auroc_error": round(float(auroc), 4),
                       "condition_number": round(ae.latent_condition_number_, 2),
                       "max_abs_corr": round(ae.latent_max_abs_corr_, 3),
                       "fit_seconds": round(ae.fit_seconds_, 1),
                       "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
                if args.keep:
                    keep = Path(args.keep) / f"{row['data']}-c{cls}-lam{lam}-s{seed}"
                    keep.mkdir(parents=True, exist_ok=True)
                    ae.save(keep / "ae.safetensors", {"source": args.data, "normal_classes": [str(cls)]})
                    for split, ds in (("train", train), ("test", test)):
                        write_feature_table(ae, ds, keep / f"feats-{split}.parquet", normal=[str(cls)])
                emit(row, args.out)


if __name__ == "__main__":
    main()
