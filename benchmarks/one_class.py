"""One-class benchmark of the whole pipeline: Error / Gauss / LatNCE / CNCE / CANCE.

Each (class, seed) run writes its artifacts under --work (autoencoder,
feature tables, density checkpoints, score tables) and appends one JSON line
per method to --out; rerunning skips (class, seed) pairs already in --out,
so an interrupted run resumes.

    python benchmarks/one_class.py ../shared/data/mnist --seeds 0 1 2 --out docs/results/mnist.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from cance_cli.bench.one_class import run_class
from cance_cli.data import load_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--decoder-epochs", type=int, default=10)
    ap.add_argument("--ratio", type=float, default=10.0)
    ap.add_argument("--nce-epochs", type=int, default=100)
    ap.add_argument("--nce-batch-size", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--variants", nargs="+", default=["LatNCE", "CNCE", "CANCE"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--feature-map", choices=["autoencoder", "pixels-pca"], default="autoencoder",
                    help="pixels-pca: PCA with --latent components on flattened pixels (no autoencoder)")
    ap.add_argument("--work", default="bench_out")
    ap.add_argument("--tag", default="", help="suffix of the work folder (keeps sweeps apart; AE is reused)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    done = set()
    if Path(args.out).exists():
        done = {(r["normal"], r["seed"], r.get("tag", "")) for r in map(json.loads, open(args.out))}
    train, test = load_data(args.data, "train"), load_data(args.data, "test")
    ae = {"latent": args.latent, "lam": args.lam, "epochs": args.epochs, "decoder_epochs": args.decoder_epochs,
          "device": "cpu"}
    nce = {"ratio": args.ratio, "epochs": args.nce_epochs, "batch_size": args.nce_batch_size,
           "hidden": args.hidden, "device": "cpu"}
    name = Path(args.data).name
    for seed in args.seeds:
        for cls in args.classes.split(","):
            if (cls, seed, args.tag) in done:
                continue
            setting = (f"{name}-lat{args.latent}-lam{args.lam}-e{args.epochs}" if args.feature_map == "autoencoder"
                       else f"{name}-pixels-pca{args.latent}")
            folder = Path(args.work) / setting / f"c{cls}-s{seed}"
            if args.tag:
                folder = folder / args.tag
                # Reuse the untagged run's autoencoder and features: only the density changes.
                for f in ("ae.safetensors", "feats-train.parquet", "feats-test.parquet"):
                    if (folder.parent / f).exists() and not (folder / f).exists():
                        folder.mkdir(parents=True, exist_ok=True)
                        (folder / f).symlink_to((folder.parent / f).resolve())
            t0 = time.perf_counter()
            rows = run_class(train, test, [cls], folder, ae, nce, seed, args.variants, feature_map=args.feature_map)
            with open(args.out, "a") as fh:
                for r in rows:
                    r.update({"data": name, "tag": args.tag, "ae": ae, "nce": nce, "wall_seconds":
                              time.perf_counter() - t0, "machine": f"{platform.machine()}, {torch.get_num_threads()}"
                              " torch thread(s)", "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__})
                    fh.write(json.dumps(r) + "\n")
            print(cls, seed, " ".join(f"{r['method']}={r['auroc']:.4f}" for r in rows), flush=True)


if __name__ == "__main__":
    main()
