"""The neighbour view on whitened principal coordinates against today's (quality-on-unseen-tables issue, item 2).

    python benchmarks/knn_whitened.py ../shared/data/adbench-dev --seeds 0,1,2 --out docs/results/knn-whitened.jsonl

Every development table's novelty split (`cance bench novelty`'s), the view's own coordinates
(``InputCoordinates``: standardised, rotated to principal axes) and the same coordinates divided by their
training standard deviation (whitened: every direction counts alike, as the input density sees them); the
``knn`` view alone (k = 5), test AUROC. One JSON line per (table, seed).
"""

from __future__ import annotations

from _jsonl import emit
from knn_sample import arguments, view_coordinates


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from cance_cli.views.knn import KNNDistance

    args = arguments(__doc__)
    for split, train, test in view_coordinates(args.folder, args.seeds):
        sd = train.std(axis=0)
        sd[sd < 1e-12] = 1.0
        row = {"table": split.name, "seed": split.seed, "width": split.x_train.shape[1]}
        for name, (a, b) in {"knn": (train, test), "knn_whitened": (train / sd, test / sd)}.items():
            scores = KNNDistance(5, seed=split.seed).fit(a).score_samples(b)
            row[name] = round(roc_auc_score(split.y_test, scores), 4)
        emit(row, args.out)


if __name__ == "__main__":
    main()
