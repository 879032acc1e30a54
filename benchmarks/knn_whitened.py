"""The neighbour view on whitened principal coordinates against today's (quality-on-unseen-tables issue, item 2).

    python benchmarks/knn_whitened.py ../shared/data/adbench-dev --seeds 0,1,2 --out docs/results/knn-whitened.jsonl

Every development table's novelty split (`cance bench novelty`'s), the view's own coordinates
(``InputCoordinates``: standardised, rotated to principal axes) and the same coordinates divided by their
training standard deviation (whitened: every direction counts alike, as the input density sees them); the
``knn`` view alone (k = 5), test AUROC. One JSON line per (table, seed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _jsonl import emit


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
    for path in novelty.table_files(args.folder):
        for seed in (int(s) for s in args.seeds.split(",")):
            split = novelty.novelty_split(path, seed)
            coords = InputCoordinates().fit(split.x_train)
            train, test = coords.transform(split.x_train), coords.transform(split.x_test)
            sd = train.std(axis=0)
            sd[sd < 1e-12] = 1.0
            row = {"table": split.name, "seed": seed, "width": split.x_train.shape[1]}
            for name, (a, b) in {"knn": (train, test), "knn_whitened": (train / sd, test / sd)}.items():
                scores = KNNDistance(5, seed=seed).fit(a).score_samples(b)
                row[name] = round(roc_auc_score(split.y_test, scores), 4)
            emit(row, args.out)


if __name__ == "__main__":
    main()
