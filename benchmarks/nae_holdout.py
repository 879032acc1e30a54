"""MNIST hold-out (the talk's experiment): train on nine digits, the tenth is the anomaly.

For each held-out digit K: the references' spherical autoencoder is pre-trained on the
training images of the other digits (Error = its reconstruction error). The same
pre-trained network is then trained further by the NAE objective (NAE = its energy)
and/or used as MPDR-R's frozen projection (MPDR-R = its energy). With ``--cance`` the
composite features of the pre-trained autoencoder (CANCE) and of the NAE (CANCE-on-NAE)
each get an NCE density with the image defaults of `cance fit-nce`. Every method scores
the whole MNIST test split, digit K positive. One JSON line per (digit, seed, method)
goes to --out; trained stages are kept under --work (the pre-trained autoencoder is
reused by a rerun; the NAE / MPDR-R checkpoints are kept for `benchmarks/nae_figure.py`).

    python benchmarks/nae_holdout.py ../shared/data/mnist --digits 0,2,3 --models nae --cance \
        --work /tmp/holdout --out docs/results/nae-holdout.jsonl
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _jsonl import emit
from sklearn.metrics import roc_auc_score

from cance_cli.data import load_data
from cance_cli.features import write_feature_table
from cance_cli.pipeline import fit_nce_table, load_scores, score_table
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.mpdr import MPDR
from cance_cli.training.nae import NormalizedAutoencoder

MODELS = {"nae": ("NAE", NormalizedAutoencoder), "mpdr": ("MPDR-R", MPDR)}


def cance_scores(ae: ConstrainedAutoencoder, rows, test, folder: Path, normal: list[str], seed: int) -> np.ndarray:
    """CANCE on ``ae``'s composite features: feature tables, fit-nce (image defaults), score."""
    folder.mkdir(parents=True, exist_ok=True)
    train_feats, test_feats = folder / "feats-train.parquet", folder / "feats-test.parquet"
    nce, scores = folder / "nce.safetensors", folder / "scores.parquet"
    for path in (train_feats, test_feats, nce, scores):
        path.unlink(missing_ok=True)
    write_feature_table(ae, rows, train_feats, normal)
    write_feature_table(ae, test, test_feats, normal)
    fit_nce_table(train_feats, nce, features="composite", augment=True, seed=seed, epochs=100)  # as `cance bench`
    score_table(test_feats, scores, nce)
    return load_scores(scores)[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--digits", default="1")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--schedule", default="reduced")
    ap.add_argument("--models", default="nae", help="comma-separated: nae, mpdr")
    ap.add_argument("--cance", action="store_true", help="add CANCE and CANCE-on-NAE")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="/tmp/nae-holdout")
    ap.add_argument("--max-train", type=int, default=None, help="first N training rows (smoke runs)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_data(args.data, "train"), load_data(args.data, "test")
    models = args.models.split(",") if args.models else []
    for seed in args.seeds:
        for digit in args.digits.split(","):
            normal = [str(d) for d in range(10) if str(d) != digit]
            rows = train.subset(train.normal_mask(normal))
            if args.max_train:
                rows = rows.subset(np.arange(len(rows)) < args.max_train)
            y = (test.y.astype(str) == digit).astype(int)
            folder = Path(args.work) / f"digit{digit}-seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            s = NormalizedAutoencoder(schedule=args.schedule, steps=args.steps).settings()
            base = {"digit": digit, "seed": seed, "schedule": args.schedule, "n_train": len(rows),
                    "threads": args.threads, "machine": platform.machine()}

            def record(method: str, scores: np.ndarray, seconds: float, base=base, y=y, **extra) -> None:
                row = {**base, "method": method, "auroc": roc_auc_score(y, scores), "seconds": round(seconds, 1),
                       **extra}
                emit(row, args.out)

            started = time.perf_counter()
            ae_path = folder / "ae.safetensors"
            if ae_path.exists():
                ae = ConstrainedAutoencoder.load(ae_path)
            else:
                ae = ConstrainedAutoencoder(latent=32, lam=0.0, epochs=s["ae_epochs"], decoder_epochs=0, lr=1e-4,
                                            hidden=(s["nh"],), arch="reference", seed=seed, device="cpu").fit(rows)
                ae.save(ae_path, {"normal_classes": normal, "seed": seed})
            record("Error", np.concatenate([e for _, _, e, _ in ae.iter_composite(test)]),
                   time.perf_counter() - started, settings={"nh": s["nh"], "ae_epochs": s["ae_epochs"]})
            if args.cance:
                t0 = time.perf_counter()
                record("CANCE", cance_scores(ae, rows, test, folder / "cance-ae", normal, seed),
                       time.perf_counter() - t0)
            for key in models:
                name, make = MODELS[key]
                model = make(schedule=args.schedule, steps=args.steps, seed=seed, device="cpu")
                model.fit(rows, autoencoder=copy.deepcopy(ae))
                model.save(folder / f"{key}.safetensors", {"normal_classes": normal, "seed": seed})
                record(name, model.score_samples(test), model.fit_seconds_, settings=model.settings_,
                       final_energies={"positive": model.history_["positive"][-1],
                                       "negative": model.history_["negative"][-1]})
                if args.cance and key == "nae":
                    t0 = time.perf_counter()
                    record("CANCE-on-NAE", cance_scores(model.autoencoder_, rows, test, folder / "cance-nae", normal,
                                                        seed), time.perf_counter() - t0)


if __name__ == "__main__":
    main()
