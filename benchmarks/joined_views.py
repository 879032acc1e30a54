"""One-class AUROC with one density over two feature maps side by side (`cance join`).

For each class in turn (its training images normal, the whole test split scored,
every other class anomalous):

- ``CANCE-AE``: `CANCE` on the images with its defaults (the constrained
  autoencoder's [z, e, d], NCE density);
- ``CANCE-PCA``: `CANCE(feature_map="pca", pca="auto")` on a pretrained network's
  embeddings of the same images (`cance embed`);
- ``CANCE-joined``: the two fitted feature maps' composite features written as
  feature tables, joined (`cance join`: [ae.z, ae.e, ae.d, pca.z, pca.e, pca.d]),
  one NCE density fitted on the joined training table (`cance fit-nce` defaults)
  and the joined test table scored (`cance score`).

One JSON line per (class, seed, method) is appended to --out.

    python benchmarks/joined_views.py ../shared/data/fashion-mnist emb-train.parquet emb-test.parquet \
        --seeds 0 --work /tmp/joined --out docs/results/fashion-joined.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from cance_cli import CANCE
from cance_cli.data import load_data
from cance_cli.feature_join import join_feature_tables
from cance_cli.features import write_feature_table
from cance_cli.pipeline import fit_nce_table, load_scores, score_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images")
    ap.add_argument("emb_train")
    ap.add_argument("emb_test")
    ap.add_argument("--classes", default=None, help="comma list (default: every class)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--work", default="/tmp/joined-views")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_data(args.images, "train"), load_data(args.images, "test")
    emb_train, emb_test = load_data(args.emb_train), load_data(args.emb_test)
    y_test = test.y.astype(str)
    classes = args.classes.split(",") if args.classes else sorted(set(train.y.astype(str)), key=lambda c: (len(c), c))
    for seed in args.seeds:
        for cls in classes:
            folder = Path(args.work) / f"class{cls}-seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                old.unlink()
            normal = [cls]
            anomalous = (y_test != cls).astype(int)
            rows = []
            started = time.perf_counter()
            est_ae = CANCE(seed=seed, device="cpu").fit(train.subset(train.normal_mask(normal)))
            rows.append(("CANCE-AE", est_ae.score_samples(test), time.perf_counter() - started))
            started = time.perf_counter()
            est_pca = CANCE(feature_map="pca", pca="auto", seed=seed, device="cpu").fit(
                emb_train.subset(emb_train.normal_mask(normal)).batch(slice(None)))
            rows.append(("CANCE-PCA", est_pca.score_samples(emb_test.batch(slice(None))),
                         time.perf_counter() - started))
            started = time.perf_counter()
            for split, images, emb in (("train", train, emb_train), ("test", test, emb_test)):
                write_feature_table(est_ae.autoencoder_, images, folder / f"ae-{split}.parquet", normal)
                write_feature_table(est_pca.pca_, emb, folder / f"pca-{split}.parquet", normal)
                join_feature_tables([folder / f"ae-{split}.parquet", folder / f"pca-{split}.parquet"],
                                    folder / f"joined-{split}.parquet", ["ae", "pca"])
            fit_nce_table(folder / "joined-train.parquet", folder / "nce.safetensors", seed=seed, device="cpu")
            score_table(folder / "joined-test.parquet", folder / "scores.parquet", folder / "nce.safetensors")
            _, flags, scores = load_scores(folder / "scores.parquet")
            assert (flags.astype(int) == anomalous).all()  # the joined rows are the test split's, in order
            rows.append(("CANCE-joined", scores, time.perf_counter() - started))
            for method, s, seconds in rows:
                row = {"normal": cls, "seed": seed, "method": method, "auroc": roc_auc_score(anomalous, s),
                       "seconds": round(seconds, 1), "ae_latent": est_ae.settings_["latent"],
                       "pca_components": int(est_pca.settings_["latent"]), "images": args.images,
                       "embeddings": args.emb_train, "date": time.strftime("%Y-%m-%d")}
                print(json.dumps(row), flush=True)
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
