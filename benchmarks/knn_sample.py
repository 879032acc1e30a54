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
from collections.abc import Iterator
from pathlib import Path

from _jsonl import emit

SAMPLES = (1_000, 2_000, 5_000, 10_000, 20_000)


def arguments(doc: str) -> argparse.Namespace:
    """FOLDER, --seeds and --out, as both neighbour-view benchmarks take them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def view_coordinates(folder: Path, seeds: str, cap: bool = True) -> Iterator[tuple]:
    """``(split, training rows, test rows)`` per table and seed: the novelty split (``cap=False``: without the
    protocol's 20,000-row cap) in the neighbour view's own coordinates, as ``cance fit`` fits them."""
    import cance_cli.bench.novelty as novelty
    from cance_cli.views.input_map import InputCoordinates

    if not cap:
        novelty.MAX_ROWS = 10**9
    for path in novelty.table_files(folder):
        for seed in (int(s) for s in seeds.split(",")):
            split = novelty.novelty_split(path, seed)
            coords = InputCoordinates().fit(split.x_train)
            yield split, coords.transform(split.x_train), coords.transform(split.x_test)


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from cance_cli.views.knn import KNNDistance

    args = arguments(__doc__)
    for split, train, test in view_coordinates(args.folder, args.seeds, cap=False):
        for size in [s for s in SAMPLES if s < len(train)] + [len(train)]:
            started = time.perf_counter()
            view = KNNDistance(5, max_rows=max(size, 2), seed=split.seed).fit(train)
            fitted = time.perf_counter()
            scores = view.score_samples(test)
            done = time.perf_counter()
            emit({"table": split.name, "seed": split.seed, "train_rows": len(train), "sample": size,
                  "auroc": round(roc_auc_score(split.y_test, scores), 4), "fit_seconds": round(fitted - started, 2),
                  "score_seconds": round(done - fitted, 2), "test_rows": len(test)}, args.out)


if __name__ == "__main__":
    main()
