"""One-class AUROC of `fit-nce --knn` on joined feature tables that `joined_views.py` wrote.

For each work folder of ``benchmarks/joined_views.py`` (``classC-seedS`` with
``joined-train.parquet`` and ``joined-test.parquet``), fit the density with
the neighbour view exactly as ``cance fit-nce --knn K`` does (same seed, so the
density is the one ``joined_views.py`` fitted) and score the test table as
``cance score`` does. One JSON line per folder with the AUROC of the combined
``score``, of the density alone (``score_composite``) and of the neighbour
distance alone (``score_knn``). ``--no-augment`` fits the density without the augmentation
(`fit-nce --no-augment --knn K`: CNCE with the neighbour view).

    python benchmarks/joined_knn.py /tmp/joined/class*-seed0 --knn 5 --threads 1 \\
        --out docs/results/fashion-joined-knn.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from _jsonl import emit, folder_class_seed
from sklearn.metrics import roc_auc_score

from cance_cli.pipeline import fit_nce_table, score_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--knn", type=int, default=5)
    ap.add_argument("--no-augment", action="store_true", help="fit as `fit-nce --no-augment --knn K` (CNCE + kNN)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--label", default="", help="recorded as 'data' in each line (e.g. fashion-mnist)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for folder in args.folders:
        cls, seed = folder_class_seed(folder)
        tag = f"knn{args.knn}" + ("-cnce" if args.no_augment else "")
        nce, scores = folder / f"nce-{tag}.safetensors", folder / f"scores-{tag}.parquet"
        started = time.perf_counter()
        fit_nce_table(folder / "joined-train.parquet", nce, seed=seed, device="cpu", knn=args.knn,
                      augment=not args.no_augment)
        score_table(folder / "joined-test.parquet", scores, nce)
        seconds = time.perf_counter() - started
        t = pq.read_table(scores)
        flags = t.column("is_anomaly").to_numpy()
        emit({"data": args.label, "normal": cls, "seed": seed, "knn": args.knn, "augment": not args.no_augment,
              **{f"auroc_{name}": roc_auc_score(flags, t.column(name).to_numpy())
                 for name in ("score", "score_composite", "score_knn")},
              "seconds": round(seconds, 1)}, args.out)


if __name__ == "__main__":
    main()
