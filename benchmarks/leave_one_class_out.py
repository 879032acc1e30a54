"""AUROC of one leave-one-class-out run (``leave_one_class_out.sh``) and of cosine kNN on the same split.

    python benchmarks/leave_one_class_out.py TRAIN.parquet TEST.parquet SCORES.parquet CLASS

Cosine kNN: k = 5, the k-th neighbour's distance between unit-length embeddings, every training row whose label
is not CLASS. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors


def embeddings(table) -> np.ndarray:
    rows = np.column_stack([table.column(c).to_numpy() for c in table.column_names if c.startswith("e_")])
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main() -> None:
    train_path, test_path, scores_path, cls = sys.argv[1:5]
    train, test = pq.read_table(train_path), pq.read_table(test_path)
    labels = np.array([str(v) for v in test.column("label").to_pylist()])
    by_id = dict(zip(test.column("id").to_pylist(), labels))
    scores = pq.read_table(scores_path)
    y = np.array([by_id[i] == cls for i in scores.column("id").to_pylist()])
    normal = np.array([str(v) for v in train.column("label").to_pylist()]) != cls
    distance = NearestNeighbors(n_neighbors=5).fit(embeddings(train)[normal]).kneighbors(embeddings(test))[0][:, -1]
    print(json.dumps({"anomalous": cls, "cance": roc_auc_score(y, scores.column("score").to_numpy()),
                      "cosine_knn": roc_auc_score(labels == cls, distance), "normal_rows": int(normal.sum())}))


if __name__ == "__main__":
    main()
