"""Narrow tables: the input density alone (today's rule) against the input density + the neighbour view
(quality-on-unseen-tables issue, item 2), on both halves of the development suite.

    python benchmarks/narrow_views.py [--seeds 0,1,2] [--out docs/results/narrow-views.jsonl]

Every ``adbench-dev`` table of at most 16 columns (the views rule's narrow tables), the novelty split of
`cance bench novelty`; ``CANCE`` defaults with ``views="input"`` and ``views="input+knn"``, and PyOD's
KNN (k = 5, largest distance) on the same split. One JSON line per (table, seed, method), appended;
lines already in ``--out`` are not rerun. Halves by family (docs/benchmarks.md, session 17):
A = annthyroid, mammography, vowels (medical, speech); B = PageBlocks, shuttle, Wilt, yeast (documents,
sensors, remote sensing, biology).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HALF = {"annthyroid": "A", "mammography": "A", "vowels": "A", "PageBlocks": "B", "shuttle": "B", "Wilt": "B",
        "yeast": "B"}


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    from cance_cli.bench.baselines import make_detector
    from cance_cli.bench.novelty import novelty_split, table_files
    from cance_cli.estimator import CANCE

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=Path("docs/results/narrow-views.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    done = set()
    if args.out.exists():
        done = {(r["table"], r["seed"], r["method"]) for r in map(json.loads, args.out.read_text().splitlines())}
    for path in table_files(DATA / "adbench-dev"):
        for seed in map(int, args.seeds.split(",")):
            split = novelty_split(path, seed)
            if split.x_train.shape[1] > 16:
                break
            for method in ("input", "input+knn", "KNN"):
                if (split.name, seed, method) in done:
                    continue
                start = time.perf_counter()
                if method == "KNN":
                    scores = make_detector("KNN", split.x_train.shape[1], seed).fit(split.x_train).score_samples(
                        split.x_test)
                else:
                    scores = CANCE(views=method, seed=seed, threshold_folds=0).fit(split.x_train).score_samples(
                        split.x_test)  # threshold_folds=0: AUROC does not depend on the threshold
                row = {"table": split.name, "half": HALF.get(split.name), "seed": seed, "method": method,
                       "auroc": float(roc_auc_score(split.y_test, scores)),
                       "seconds": round(time.perf_counter() - start, 1)}
                print(json.dumps(row), flush=True)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
