"""One-class AUROC of separate densities per feature map, fused late.

For each work folder of ``benchmarks/joined_views.py --pixels-pca K`` (its
``ae-``, ``pix-``, ``pca-``, ``joined-`` and ``joined3-`` feature tables and,
for the joined ones, the densities it fitted), fit a density on each single
map's training table as ``cance fit-nce`` does (same seed), score the training
and test tables as ``cance score`` does, and combine every subset of up to
three of the five scores as ``cance fit`` combines its density views: each
standardised by the median and IQR of its normal training rows' scores, then
added. One JSON line per folder with the AUROC of every subset.

    python benchmarks/late_fusion.py /tmp/j3/class6-seed0 --threads 1 --out late-fusion.jsonl
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pyarrow.parquet as pq
import torch
from _jsonl import emit, folder_class_seed, joined_density_files
from sklearn.metrics import roc_auc_score

from cance_cli.pipeline import fit_nce_table, score_table
from cance_cli.views.fusion import robust_scale

MAPS = ("ae", "pix", "pca", "joined", "joined3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for folder in args.folders:
        cls, seed = folder_class_seed(folder)
        scaled, flags = {}, None
        for name in MAPS:
            nce = joined_density_files(folder, name)[0]
            if not nce.exists():  # the joined densities come from joined_views.py
                fit_nce_table(folder / f"{name}-train.parquet", nce, seed=seed, device="cpu")
            scores = {}
            for split in ("train", "test"):
                out = folder / f"late-{name}-{split}.parquet"
                if not out.exists():
                    score_table(folder / f"{name}-{split}.parquet", out, nce)
                scores[split] = pq.read_table(out)
            flags = scores["test"].column("is_anomaly").to_numpy()
            # Calibrate on the normal training rows only, as `cance fit` does: the
            # training table of a one-class split also holds the other classes.
            train = scores["train"]
            normal = train.column("is_anomaly").to_numpy() == 0
            cal = robust_scale(train.column("score").to_numpy()[normal])
            scaled[name] = (scores["test"].column("score").to_numpy() - cal["median"]) / cal["iqr"]
        aurocs = {"+".join(combo): round(roc_auc_score(flags, sum(scaled[n] for n in combo)), 4)
                  for r in (1, 2, 3) for combo in itertools.combinations(MAPS, r)}
        emit({"normal": cls, "seed": seed, **aurocs}, args.out)


if __name__ == "__main__":
    main()
