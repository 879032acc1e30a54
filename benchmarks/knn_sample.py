"""The neighbour view's sample of training rows: quality against time (quality-on-unseen-tables issue, item 5).

    python benchmarks/knn_sample.py ../shared/data/adbench-dev --seeds 0,1,2 --out docs/results/knn-sample.jsonl

The ``knn`` view keeps a seeded sample of at most ``max_rows`` training rows (20,000 today) and scores
every row against it. Here each development table's novelty split is taken *without* the protocol's
20,000-row cap (so campaign and shuttle train on 18,000-23,000 rows), the view's own coordinates are fitted
(``InputCoordinates``, as ``cance fit`` does), and the view is fitted with samples of 1,000 to 20,000 rows
(and all rows); one JSON line per (table, seed, sample) with the test AUROC, the fit seconds (scoring every
training row, as a fit does) and the seconds to score the test rows. One thread-pool, this process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _jsonl import emit

SAMPLES = (1_000, 2_000, 5_000, 10_000, 20_000)


def main() -> None:
    from sklearn.metrics import roc_auc_score

    import cance_cli.bench.novelty as novelty
    from cance_cli.views.input_map import InputCoordinates
    from cance_cli.views.knn import KNNDistance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    novelty.MAX_ROWS = 10**9  # the protocol's cap off: the sample is what is measured
    for path in novelty.table_files(args.folder):
        for seed in (int(s) for s in args.seeds.split(",")):
            split = novelty.novelty_split(path, seed)
            coords = InputCoordinates().fit(split.x_train)
            train, test = coords.transform(split.x_train), coords.transform(split.x_test)
            for size in [s for s in SAMPLES if s < len(train)] + [len(train)]:
                started = time.perf_counter()
                view = KNNDistance(5, max_rows=max(size, 2), seed=seed).fit(train)
                fitted = time.perf_counter()
                scores = view.score_samples(test)
                done = time.perf_counter()
                emit({"table": split.name, "seed": seed, "train_rows": len(train), "sample": size,
                      "auroc": round(roc_auc_score(split.y_test, scores), 4), "fit_seconds": round(fitted - started, 2),
                      "score_seconds": round(done - fitted, 2), "test_rows": len(test)}, args.out)


if __name__ == "__main__":
    main()
