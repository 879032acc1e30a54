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

Options that add columns (same autoencoder, same seed):

- ``--pixels-pca K``: a third feature map, a PCA with K components of the raw
  pixels (METHOD's PCA path on the images themselves); ``CANCE-joined3`` is one
  density over the three maps' [z, e, d];
- ``--knn K``: the joined densities are fitted as ``cance fit-nce --knn K``
  does; the density alone keeps its name, the combined score gets ``+kNN``;
- ``--skip-pca-path``: no ``CANCE-PCA`` density (the pretrained PCA is still
  fitted for the joined tables, by the same 90%-variance rule).

One JSON line per (class, seed, method) is appended to --out.

    python benchmarks/joined_views.py ../shared/data/fashion-mnist emb-train.parquet emb-test.parquet \
        --seeds 0 --work /tmp/joined --out docs/results/fashion-joined.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from _jsonl import emit, joined_density_files
from sklearn.metrics import roc_auc_score

from cance_cli import CANCE
from cance_cli.data import load_data
from cance_cli.feature_join import join_feature_tables
from cance_cli.features import write_feature_table
from cance_cli.pca import PCAFeatureMap, pca_auto_components
from cance_cli.pipeline import fit_nce_table, score_table


def pretrained_pca(embeddings) -> PCAFeatureMap:
    """The PCA that ``CANCE(feature_map="pca", pca="auto")`` fits, without its density."""
    return PCAFeatureMap.fit_choosing(embeddings, lambda shares: (pca_auto_components(shares, *embeddings.shape), None))


def joined_density(folder: Path, name: str, seed: int, knn: int, anomalous) -> list[tuple[str, object]]:
    """Fit one density on ``folder/name-train.parquet``, score the test table;
    (method suffix, scores) pairs: the density alone, and with --knn the combined score."""
    nce, out = joined_density_files(folder, name)
    fit_nce_table(folder / f"{name}-train.parquet", nce, seed=seed, device="cpu", knn=knn)
    score_table(folder / f"{name}-test.parquet", out, nce)
    t = pq.read_table(out)
    assert (t.column("is_anomaly").to_numpy().astype(int) == anomalous).all()  # the test split, in order
    if not knn:
        return [("", t.column("score").to_numpy())]
    return [("", t.column("score_composite").to_numpy()), ("+kNN", t.column("score").to_numpy())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images")
    ap.add_argument("emb_train")
    ap.add_argument("emb_test")
    ap.add_argument("--classes", default=None, help="comma list (default: every class)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--work", default="/tmp/joined-views")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--pixels-pca", type=int, default=0, help="components of a third map, a PCA of the pixels")
    ap.add_argument("--knn", type=int, default=0, help="fit the joined densities with `fit-nce --knn K`")
    ap.add_argument("--skip-pca-path", action="store_true", help="no CANCE-PCA density")
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
            normal_emb = emb_train.subset(emb_train.normal_mask(normal)).batch(slice(None))
            started = time.perf_counter()
            if args.skip_pca_path:
                pca = pretrained_pca(normal_emb)
            else:
                est_pca = CANCE(feature_map="pca", pca="auto", seed=seed, device="cpu").fit(normal_emb)
                pca = est_pca.pca_
                rows.append(("CANCE-PCA", est_pca.score_samples(emb_test.batch(slice(None))),
                             time.perf_counter() - started))
            pixels = PCAFeatureMap(args.pixels_pca).fit(train.subset(train.normal_mask(normal))) \
                if args.pixels_pca else None
            for split, images, emb in (("train", train, emb_train), ("test", test, emb_test)):
                write_feature_table(est_ae.autoencoder_, images, folder / f"ae-{split}.parquet", normal)
                write_feature_table(pca, emb, folder / f"pca-{split}.parquet", normal)
                pair = [folder / f"ae-{split}.parquet", folder / f"pca-{split}.parquet"]
                join_feature_tables(pair, folder / f"joined-{split}.parquet", ["ae", "pca"])
                if pixels is not None:
                    write_feature_table(pixels, images, folder / f"pix-{split}.parquet", normal)
                    join_feature_tables([*pair, folder / f"pix-{split}.parquet"],
                                        folder / f"joined3-{split}.parquet", ["ae", "pca", "pix"])
            for name in ("joined", "joined3") if pixels is not None else ("joined",):
                for suffix, scores in joined_density(folder, name, seed, args.knn, anomalous):
                    rows.append((f"CANCE-{name}{suffix}", scores, time.perf_counter() - started))
                started = time.perf_counter()
            for method, s, seconds in rows:
                row = {"normal": cls, "seed": seed, "method": method, "auroc": roc_auc_score(anomalous, s),
                       "seconds": round(seconds, 1), "ae_latent": est_ae.settings_["latent"],
                       "pca_components": pca.n_components, "pixels_pca": args.pixels_pca,
                       "knn": args.knn, "images": args.images,
                       "embeddings": args.emb_train}
                emit(row, args.out)


if __name__ == "__main__":
    main()
