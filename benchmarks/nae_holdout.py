"""MNIST hold-out (the talk's experiment): train on nine digits, the tenth is the anomaly.

For each held-out digit K: the references' spherical autoencoder is pre-trained on the
training images of the other digits (Error = its reconstruction error), then trained
further by the NAE objective (NAE = its energy), or used as MPDR-R's frozen projection
(``--model mpdr``; MPDR-R = its energy); both score the whole MNIST test split, digit K
positive. One JSON line per (digit, seed, method) goes to --out.

    python benchmarks/nae_holdout.py ../shared/data/mnist --digits 1 --schedule reduced \
        --out docs/results/nae-holdout.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from cance_cli.data import load_data
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.mpdr import MPDR
from cance_cli.training.nae import NormalizedAutoencoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--digits", default="1")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--schedule", default="reduced")
    ap.add_argument("--model", choices=["nae", "mpdr"], default="nae")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_data(args.data, "train"), load_data(args.data, "test")
    for seed in args.seeds:
        for digit in args.digits.split(","):
            normal = [str(d) for d in range(10) if str(d) != digit]
            rows = train.subset(train.normal_mask(normal))
            y = (test.y.astype(str) == digit).astype(int)
            make = NormalizedAutoencoder if args.model == "nae" else MPDR
            nae = make(schedule=args.schedule, steps=args.steps, seed=seed, device="cpu")
            s = nae.settings()
            started = time.perf_counter()
            ae = ConstrainedAutoencoder(latent=32, lam=0.0, epochs=s["ae_epochs"], decoder_epochs=0, lr=1e-4,
                                        hidden=(s["nh"],), arch="reference", seed=seed, device="cpu").fit(rows)
            ae_seconds = time.perf_counter() - started
            error = np.concatenate([e for _, _, e, _ in ae.iter_composite(test)])
            nae.fit(rows, autoencoder=copy.deepcopy(ae))
            energy = nae.score_samples(test)
            base = {"digit": digit, "seed": seed, "schedule": args.schedule, "settings": nae.settings_,
                    "n_train": len(rows), "threads": args.threads, "machine": platform.machine(),
                    "date": time.strftime("%Y-%m-%d")}
            name = "NAE" if args.model == "nae" else "MPDR-R"
            for method, scores, seconds in (("Error", error, ae_seconds), (name, energy, nae.fit_seconds_)):
                row = {**base, "method": method, "auroc": roc_auc_score(y, scores), "seconds": round(seconds, 1)}
                if method != "Error":
                    row["final_energies"] = {"positive": nae.history_["positive"][-1],
                                             "negative": nae.history_["negative"][-1]}
                print(json.dumps(row), flush=True)
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
