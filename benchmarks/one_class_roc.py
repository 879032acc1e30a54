"""One ROC figure for a one-class split with every method: the baselines' score
table from `cance bench one-class` joined with the CANCE score tables of
`benchmarks/one_class.py` (autoencoder and pixels + PCA runs of the same split).

    python benchmarks/one_class_roc.py bench_out/bench/mnist-one-class/scores/one-class-0-s0.parquet \
        --ae bench_out/mnist-lat32-lam0.01-e30/c0-s0 --pca bench_out/mnist-pixels-pca32/c0-s0 \
        --out docs/results/bench/mnist-one-class/roc-class0.png --title "one-class MNIST: digit 0"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cance_cli.bench.report import roc_figure
from cance_cli.bench.run import CANCE_METHODS


def joined_table(baselines: Path, runs: dict[str, Path]) -> pa.Table:
    """The baselines' table with a column per CANCE score table; rows must be the same test ids."""
    if not baselines.exists():
        raise SystemExit(f"{baselines} does not exist; give a score table from `cance bench` (WORK/scores/).")
    table = pq.read_table(baselines)
    rows = [table.column(c).to_numpy() for c in ("id", "is_anomaly")]
    columns = {"id": table.column("id"), "is_anomaly": table.column("is_anomaly")}
    for suffix, folder in runs.items():
        wanted = [m for m in CANCE_METHODS if not (suffix and m == "Gauss")]  # as in the tables: no Gauss-PCA column
        found = [m for m in wanted if (folder / f"scores-{m}.parquet").exists()]
        if not found:
            raise SystemExit(f"{folder} holds no scores-*.parquet; give a run folder of benchmarks/one_class.py.")
        for method in found:
            path = folder / f"scores-{method}.parquet"
            scores = pq.read_table(path, columns=["id", "is_anomaly", "score"])
            if not all(np.array_equal(scores.column(c).to_numpy(), r) for c, r in zip(("id", "is_anomaly"), rows)):
                raise SystemExit(f"{path} is not the split of {baselines} (other test rows or normal classes).")
            columns[method + suffix] = scores.column("score")
    columns.update({c: table.column(c) for c in table.column_names if c not in columns})
    return pa.table(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baselines", type=Path, help="score table written by `cance bench` (WORK/scores/...)")
    parser.add_argument("--ae", type=Path, help="folder of the autoencoder run's scores-*.parquet")
    parser.add_argument("--pca", type=Path, help="folder of the pixels + PCA run's scores-*.parquet")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="one-class")
    args = parser.parse_args()
    runs = {suffix: folder for suffix, folder in (("", args.ae), ("-PCA", args.pca)) if folder}
    with tempfile.TemporaryDirectory() as tmp:  # roc_figure reads a score table from disk
        joined = Path(tmp) / "joined.parquet"
        pq.write_table(joined_table(args.baselines, runs), joined)
        roc_figure(joined, args.out, args.title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
