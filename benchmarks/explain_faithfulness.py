"""Do explanations name the column that was made anomalous? (explanations issue, "faithfulness").

    python benchmarks/explain_faithfulness.py [--seed 0] [--rows 200] [--tables ...] \
        [--out docs/results/explain/faithfulness.jsonl]

Per table (every ``adbench-dev`` table with at least 6 columns, and the six ``categorical-dev`` tables), the
novelty protocol's split of ``--seed``; `cance fit` defaults (``threshold_folds=0``: the flags of the deletion
check then come from the in-sample threshold, which flags more rows than the default). Then, on up to
``--rows`` held-out normal rows:

- one shifted column: a random column moved by 6 training standard deviations (random sign); a column the
  model encodes as a category is set instead to the training level rarest (and other than the row's own).
  Reported: the share of rows whose ``why_1`` is that column (target >= 0.9 on average);
- two shifted columns: the share of rows with both in ``why_1..why_3`` (target >= 0.8);
- baseline: the same shares for the column of the row's largest absolute z-score (training mean and std of
  each encoded column, a category's largest over its level columns).

Deletion check, on the flagged test rows (normal and anomalous, up to ``--rows``): putting the ``why_1``
column back to its typical value lowers the score more than putting back a random other column, and the
share of those rows that one column alone takes below the threshold.

One JSON line per table, appended; a table already in ``--out`` is not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SHIFT = 6.0  # training standard deviations


def numeric_table(path: Path, seed: int):
    """(train, test normal rows, all test rows, is anomaly) of an adbench-dev table, as arrays."""
    from cance_cli.bench.novelty import novelty_split

    s = novelty_split(path, seed)
    return s.x_train, s.x_test[s.y_test == 0], s.x_test, s.y_test


def categorical_table(name: str, seed: int):
    """The same of a categorical-dev table, as Arrow tables (the model encodes them itself)."""
    import pyarrow.csv as pacsv
    from categorical_novelty import TABLES, split_rows

    label, anomaly = TABLES[name]
    table = pacsv.read_csv(DATA / "categorical-dev" / f"{name}.csv.gz")
    y = (np.asarray(table.column(label).cast("string").to_pylist()) == anomaly).astype(int)
    _, train, test = split_rows(y, seed)
    features = table.drop([label])
    normal = test[y[test] == 0]
    return features.take(train), features.take(normal), features.take(test), y[test]


def shifted(est, rows, columns: np.ndarray, rng: np.random.Generator, std: np.ndarray):
    """The encoded rows with column ``columns[i]`` of row i shifted (see the module docstring); ``columns``
    (N, c) for c shifted columns per row."""
    from cance_cli.explain import _plans_and_columns

    x = encoded(est, rows).copy()
    plans, groups = _plans_and_columns(est.encoding_, x.shape[1])
    for i, row_columns in enumerate(columns):
        for j in row_columns:
            plan, cols = plans[j], groups[j]
            if plan is not None and plan.kind == "category":
                current = int(np.argmax(x[i, cols[:len(plan.levels)]]))
                rarest = max(c for c in range(len(plan.levels)) if c != current)  # levels: most frequent first
                x[i, cols] = 0.0
                x[i, cols[rarest]] = 1.0
            else:
                x[i, cols[0]] += rng.choice([-1.0, 1.0]) * SHIFT * std[cols[0]]
    return x


def encoded(est, rows) -> np.ndarray:
    if est.encoding_ is None or isinstance(rows, np.ndarray):
        return np.asarray(rows, dtype=np.float64)
    return est.encoding_.transform(rows, "rows")[0].astype(np.float64)


def z_baseline(x: np.ndarray, mean: np.ndarray, std: np.ndarray, groups: list[np.ndarray], k: int) -> np.ndarray:
    """(N, k) columns of the largest absolute z-scores (a column's largest over its encoded columns)."""
    z = np.abs((x - mean) / std)
    per_column = np.column_stack([z[:, g].max(axis=1) for g in groups])
    return np.argsort(-per_column, axis=1, kind="stable")[:, :k]


def one_table(name: str, train, normal, test, y_test, seed: int, n_rows: int) -> dict:
    from cance_cli.estimator import CANCE
    from cance_cli.explain import column_groups, score_drops, top_columns, top_reasons

    start = time.perf_counter()
    est = CANCE(seed=seed, verbose=False, threshold_folds=0).fit(train)
    fit_seconds = time.perf_counter() - start
    names, groups = column_groups(est)
    m = len(groups)
    xt = encoded(est, train)
    mean, std = xt.mean(axis=0), xt.std(axis=0)
    std[std == 0] = 1.0
    rng = np.random.default_rng(seed + 1)
    take = rng.permutation(len(normal) if isinstance(normal, np.ndarray) else normal.num_rows)[:n_rows]
    rows = normal[take] if isinstance(normal, np.ndarray) else normal.take(take)
    n = len(take)
    shiftable = [j for j, g in enumerate(groups) if xt[:, g].std(axis=0).max() > 0]  # constant: nothing to shift
    one = rng.choice(shiftable, size=(n, 1))
    two = np.stack([rng.choice(shiftable, size=2, replace=False) for _ in range(n)])
    out = {"table": name, "seed": seed, "columns": m, "rows": n, "fit_seconds": round(fit_seconds, 1)}
    start = time.perf_counter()
    for label, cols, k in (("one", one, 1), ("two", two, 3)):
        x = shifted(est, rows, cols, rng, std)
        model_top = top_reasons(est, x, k)[1]  # (scores, columns, shares, per view)
        base_top = z_baseline(x, mean, std, groups, k)
        hit = [set(c) <= set(t) for c, t in zip(cols.tolist(), model_top.tolist())]
        base = [set(c) <= set(t) for c, t in zip(cols.tolist(), base_top.tolist())]
        out[f"{label}_model"], out[f"{label}_zscore"] = float(np.mean(hit)), float(np.mean(base))
    out["explain_seconds_per_row"] = round((time.perf_counter() - start) / (2 * n), 4)
    # Deletion check on the flagged test rows.
    xs = encoded(est, test)
    flagged = np.flatnonzero(est.score_samples(test if not isinstance(test, np.ndarray) else xs) > est.threshold_)
    flagged = rng.permutation(flagged)[:n_rows]
    if len(flagged) and m > 1:
        scores, drops, _ = score_drops(est, xs[flagged])
        first = top_columns(drops, 1)[:, 0]
        other = np.array([rng.choice([j for j in range(m) if j != f]) for f in first])
        idx = np.arange(len(flagged))
        out["deletion_flagged_rows"] = int(len(flagged))
        out["deletion_beats_random"] = float(np.mean(drops[idx, first] > drops[idx, other]))
        out["deletion_unflags"] = float(np.mean(scores - drops[idx, first] <= est.threshold_))
        out["flagged_anomalies"] = float(np.mean(y_test[flagged] == 1))
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--tables", default="", help="comma-separated names (default: every eligible table)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/explain/faithfulness.jsonl"))
    parser.add_argument("--symmetric", action="store_true", help="an experiment: explain.SYMMETRIC")
    parser.add_argument("--no-greedy", action="store_true", help="an experiment: explain.GREEDY off")
    parser.add_argument("--report", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.report:
        return report(args.out)
    torch.set_num_threads(1)
    from cance_cli import explain

    explain.SYMMETRIC, explain.GREEDY = args.symmetric, not args.no_greedy
    from categorical_novelty import TABLES

    from cance_cli.bench.novelty import dataset_name, read_xy, table_files

    wanted = set(filter(None, args.tables.split(",")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["table"] for line in args.out.read_text().splitlines()} if args.out.exists() else set()
    jobs = [(dataset_name(p), p) for p in table_files(DATA / "adbench-dev") if read_xy(p)[0].shape[1] >= 6]
    jobs += [(name, None) for name in TABLES]
    for name, path in jobs:
        if name in done or wanted and name not in wanted:
            continue
        parts = numeric_table(path, args.seed) if path is not None else categorical_table(name, args.seed)
        row = one_table(name, *parts, seed=args.seed, n_rows=args.rows)
        row.update(symmetric=args.symmetric, greedy=not args.no_greedy, date=str(date.today()), machine=platform.node(),
                   kind="categorical" if path is None else "numeric")
        print(json.dumps(row), flush=True)
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


def report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    keys = ("one_model", "one_zscore", "two_model", "two_zscore", "deletion_beats_random", "deletion_unflags")
    print("| table | columns | why_1 = shifted (model / z-score) | both in why_1..3 (model / z-score) | "
          "deletion beats random | one column unflags |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['table']} | {r['columns']} | {r['one_model']:.2f} / {r['one_zscore']:.2f} | "
              f"{r['two_model']:.2f} / {r['two_zscore']:.2f} | {r.get('deletion_beats_random', float('nan')):.2f} | "
              f"{r.get('deletion_unflags', float('nan')):.2f} |")
    for kind in ("numeric", "categorical", None):
        some = [r for r in rows if kind is None or r["kind"] == kind]
        if some:
            means = {k: np.nanmean([r.get(k, np.nan) for r in some]) for k in keys}
            print(f"| mean ({kind or 'all'}, {len(some)} tables) | | {means['one_model']:.3f} / "
                  f"{means['one_zscore']:.3f} | {means['two_model']:.3f} / {means['two_zscore']:.3f} | "
                  f"{means['deletion_beats_random']:.3f} | {means['deletion_unflags']:.3f} |")


if __name__ == "__main__":
    main()
