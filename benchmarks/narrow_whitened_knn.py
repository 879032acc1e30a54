"""Narrow tables: the input density beside a neighbour view on *whitened* principal coordinates (quality-on-unseen-
tables issue, item 2), read off the fits of ``view_weights.py`` (run that first, same ``--work``).

    python benchmarks/narrow_whitened_knn.py [--work /tmp/view-weights]

For every table of at most 16 encoded columns and seeds 0-2: the input view's test scores from the saved full
model; kNN (k = 5, the k-th neighbour's distance) on the same principal coordinates as they are (``knn``) and
divided by their training standard deviation (``wknn``, the geometry the input density models); each neighbour
view standardised by its training rows' (leave-self-out) median and IQR and added to the input view's. AUROC on
the test rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from view_weights import CATEGORICAL, HALF, splits


def kth_distance(train: np.ndarray, test: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The k-th neighbour's distance of each training row (itself left out) and of each test row."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(train)
    return nn.kneighbors(train)[0][:, k], nn.kneighbors(test, n_neighbors=k)[0][:, -1]


def robust_z(scores: np.ndarray, training: np.ndarray) -> np.ndarray:
    q25, median, q75 = np.percentile(training, [25, 50, 75])
    return (scores - median) / ((q75 - q25) or 1.0)


def encoded(train, test):
    """Raw frames -> the model's numeric columns (the categorical tables); arrays pass through."""
    if isinstance(train, np.ndarray):
        return train, test
    import pyarrow as pa

    from cance_cli.data.encoding import TableEncoding

    as_table = lambda frame: pa.Table.from_pandas(frame, preserve_index=False)  # noqa: E731
    enc = TableEncoding.fit(as_table(train))
    return enc.transform(as_table(train))[0], enc.transform(as_table(test))[0]


def main() -> None:
    from cance_cli.views.input_map import InputCoordinates

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/view-weights"))
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for name, seed, train, test, y in splits(list(HALF), [0, 1, 2]):
        path = args.work / f"{name}-{seed}.npz"
        if not path.exists():
            continue
        d = dict(np.load(path))
        if int(d["width"]) > 16:
            continue
        train, test = encoded(train, test)
        coords = InputCoordinates(all_directions=True).fit(train)
        p_train, p_test = coords.transform(train), coords.transform(test)
        sd = p_train.std(axis=0)
        sd[sd == 0] = 1.0
        knn_train, knn_test = kth_distance(p_train, p_test)
        wknn_train, wknn_test = kth_distance(p_train / sd, p_test / sd)
        density = (d["test_input"] - d["cal_input"][0]) / d["cal_input"][1]
        results.setdefault(name, []).append({
            "input": roc_auc_score(y, density), "knn": roc_auc_score(y, knn_test), "wknn": roc_auc_score(y, wknn_test),
            "input+knn": roc_auc_score(y, density + robust_z(knn_test, knn_train)),
            "input+wknn": roc_auc_score(y, density + robust_z(wknn_test, wknn_train))})
    keys = list(next(iter(results.values()))[0])
    print("| table (half) | " + " | ".join(keys) + " |\n" + "|---" * (len(keys) + 1) + "|")
    for table, rows in results.items():
        print(f"| {table} ({HALF[table]}) | " + " | ".join(f"{np.mean([r[k] for r in rows]):.4f}" for k in keys) + " |")
    for half in "AB":
        tables = [t for t in results if HALF[t] == half and t not in CATEGORICAL]
        print(f"| numeric half {half} | " + " | ".join(
            f"{np.mean([np.mean([r[k] for r in results[t]]) for t in tables]):.4f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
