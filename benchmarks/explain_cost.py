"""What explanations cost: `cance predict` of a large table with and without ``--explain 3`` (explanations
issue, "cost").

    python benchmarks/explain_cost.py [--rows 1000000] [--columns 10] [--repeats 2]

A numeric table (Gaussian columns with a few correlated pairs, ``--rows`` rows, Parquet); a model fitted
with `cance fit` defaults on 20,000 other rows; ``predict_table`` with the threshold put at the 99th
percentile of the table's own scores (1 % flagged), timed without and with ``explain=3``; then the
throughput of explaining every row (``explain_all``) on 20,000 rows. Seconds of the library calls (the
CLI adds its imports, about 3 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


def table(path: Path, rows: int, columns: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, columns)).astype(np.float32)
    x[:, 1::2] += 0.8 * x[:, 0::2][:, : x[:, 1::2].shape[1]]  # correlated pairs: not a product of marginals
    pq.write_table(pa.table({f"c{j}": x[:, j] for j in range(columns)}), path)


def main() -> None:
    import pyarrow.parquet as pq

    from cance_cli.estimator import CANCE
    from cance_cli.fit_predict import fit_model, predict_table

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table(work / "train.parquet", 20_000, args.columns, 0)
        table(work / "big.parquet", args.rows, args.columns, 1)
        table(work / "some.parquet", 20_000, args.columns, 2)
        fit_model(work / "train.parquet", work / "m", CANCE(seed=0, verbose=False, threshold_folds=0))
        predict_table(work / "big.parquet", work / "m", work / "s.parquet")
        cut = float(np.quantile(pq.read_table(work / "s.parquet").column("score").to_numpy(), 0.99))
        times: dict[str, list[float]] = {"predict": [], "predict --explain 3": []}
        for _ in range(args.repeats):
            for name, k in (("predict", 0), ("predict --explain 3", 3)):
                start = time.perf_counter()
                predict_table(work / "big.parquet", work / "m", work / "s.parquet", threshold=cut, explain=k)
                times[name].append(round(time.perf_counter() - start, 1))
        start = time.perf_counter()
        predict_table(work / "some.parquet", work / "m", work / "e.parquet", explain=3, explain_all=True)
        every = time.perf_counter() - start
        start = time.perf_counter()
        predict_table(work / "some.parquet", work / "m", work / "e.parquet")
        plain = time.perf_counter() - start
    print(json.dumps({"rows": args.rows, "columns": args.columns, "seconds": times,
                      "explain_all_rows_per_second": round(20_000 / (every - plain)),
                      "date": str(date.today()), "machine": platform.node()}))


if __name__ == "__main__":
    main()
