"""Each view of `cance fit` alone on one categorical development table (the novelty split of one seed), and the
autoencoder's two reconstruction columns scored alone; one JSON line on stdout.

    python benchmarks/categorical_views.py w7a 0
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch
from categorical_novelty import DATA, TABLES, split_rows
from sklearn.metrics import roc_auc_score

from cance_cli.estimator import CANCE
from cance_cli.fit_predict import fit_model
from cance_cli.model_input import read_for_model


def main() -> None:
    torch.set_num_threads(1)
    name, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    label, anomaly = TABLES[name]
    table = pacsv.read_csv(DATA / "categorical-dev" / f"{name}.csv.gz")
    y = (np.asarray(table.column(label).cast("string").to_pylist()) == anomaly).astype(int)
    _, train, test = split_rows(y, seed)
    features = table.drop([label])
    work = Path(tempfile.mkdtemp())
    pq.write_table(features.take(train), work / "train.parquet")
    pq.write_table(features.take(test), work / "test.parquet")
    fit_model(work / "train.parquet", work / "model",
              CANCE(views="composite+input+knn", threshold_folds=0, seed=seed, verbose=False))
    est = CANCE.load(work / "model")
    rows, _ = read_for_model(work / "test.parquet", est, work / "model", {})
    composite = est.autoencoder_.composite_features(est._inputs(rows, reset=False))
    out = {"table": name, "seed": seed, "e": roc_auc_score(y[test], composite[:, -2]),
           "d": roc_auc_score(y[test], composite[:, -1])}
    out.update({view: roc_auc_score(y[test], s) for view, s in est.view_scores(rows).items()})
    out["combined"] = roc_auc_score(y[test], est.score_samples(rows))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
