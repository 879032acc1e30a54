"""`cance fit` at scale: wall time, peak memory and what each part costs on N x 30 tables
(quality-on-unseen-tables issue, item 5).

    python benchmarks/fit_scale.py --rows 100000 1000000 --work /tmp/scale --out docs/results/fit-scale.jsonl

Each size runs in a fresh process under ``/usr/bin/time -v`` (peak resident memory of the fit and of any
child it forks). The table: normal rows from a seeded correlated Gaussian of 30 columns (``fit_predict_speed``'s
generator), written as Parquet; the fit is ``fit_model`` (what `cance fit TABLE --no-label --out M` runs) with
the defaults and ``--seed 0``; then 20,000 new normal rows, 1,000 easy and
1,000 subtle anomalies are scored (AUROC of each kind against the normal rows; the subtle ones' oracle, the
true Gaussian's, is about 0.91). The parts are timed by wrapping the library's
functions in this process only: the autoencoder's fit, the composite density's fit, the neighbour view's fit,
every view together (the input density runs beside them in a forked child), the threshold's cross-fit, saving;
the parts of the cross-fit's fold models are listed apart ("fold models: ...").
``--set NAME=VALUE`` sets an estimator parameter (e.g. ``threshold_folds=0``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _jsonl import emit

WIDTH = 30


IN_CROSSFIT = {"now": False}  # parts timed inside the threshold's cross-fit are the fold models'


def timed(owner, name: str, parts: dict, label: str, crossfit: bool = False) -> None:
    """Wrap ``owner.name`` so its wall time adds to ``parts[label]`` ("fold models: " + label inside the
    cross-fit; ``crossfit``: this is the cross-fit)."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        key = ("fold models: " if IN_CROSSFIT["now"] else "") + label
        started = time.perf_counter()
        IN_CROSSFIT["now"] |= crossfit
        try:
            return original(*args, **kwargs)
        finally:
            IN_CROSSFIT["now"] &= not crossfit
            parts[key] = parts.get(key, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)


def write_table(path: Path, n_rows: int, seed: int = 0) -> None:
    """``n_rows`` normal rows of the generator, written in chunks of 500,000 (memory: one chunk at a time)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH)
    schema = pa.schema([pa.field(f"f{j}", pa.float32()) for j in range(WIDTH)])
    partial = path.with_suffix(".partial")  # renamed when complete: an interrupted write is not reused
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, n_rows, 500_000):
            x = (rng.normal(size=(min(500_000, n_rows - start), WIDTH)) @ mix).astype(np.float32)
            writer.write_table(pa.table({f"f{j}": x[:, j] for j in range(WIDTH)}, schema=schema))
    partial.replace(path)


def test_rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """20,000 new normal rows, 1,000 easy anomalies (every column shifted by +-1.5) and 1,000 subtle ones (by
    +-0.02, off the correlated Gaussian's thin directions): ``(rows, 0/1/2 kind, the subtle anomalies' oracle
    AUROC from the true Mahalanobis distance)``."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH)  # the same mixing matrix as the training table
    rng = np.random.default_rng(seed + 1)
    parts = [rng.normal(size=(n, WIDTH)) @ mix for n in (20_000, 1_000, 1_000)]
    parts[1] += rng.choice([-1.5, 1.5], size=parts[1].shape)
    parts[2] += rng.choice([-0.02, 0.02], size=parts[2].shape)
    x = np.vstack(parts).astype(np.float32)
    kind = np.repeat([0, 1, 2], [20_000, 1_000, 1_000])
    precision = np.linalg.inv(mix.T @ mix)
    subtle = kind != 1
    oracle = roc_auc_score(kind[subtle] == 2, np.einsum("ij,jk,ik->i", x[subtle], precision, x[subtle]))
    return x, kind, float(oracle)


def one(n_rows: int, work: Path, settings: dict) -> dict:
    """Fit and score one size in this process; return the timings."""
    from sklearn.metrics import roc_auc_score

    import cance_cli.estimator as estimator_module
    from cance_cli.estimator import CANCE
    from cance_cli.fit_predict import fit_model
    from cance_cli.training.autoencoder import ConstrainedAutoencoder
    from cance_cli.training.nce import NCEDensity
    from cance_cli.views.knn import KNNDistance

    work.mkdir(parents=True, exist_ok=True)
    table = work / f"train-{n_rows}.parquet"
    started = time.perf_counter()
    if not table.exists():
        write_table(table, n_rows)
    parts: dict[str, float] = {"write table (not part of the fit)": time.perf_counter() - started}
    timed(ConstrainedAutoencoder, "fit", parts, "autoencoder")
    timed(NCEDensity, "fit", parts, "composite density")
    timed(KNNDistance, "fit", parts, "neighbour view")
    timed(estimator_module.CANCE, "_fit_views", parts, "all views (input density beside, forked)")
    timed(estimator_module, "out_of_fold_scores", parts, "threshold cross-fit (fold models + their scores)",
          crossfit=True)
    timed(estimator_module.CANCE, "save", parts, "save")
    model = CANCE(seed=0, verbose=False, **settings)
    started = time.perf_counter()
    fit_model(table, work / f"model-{n_rows}", model, read={"no_label": True})
    fit_seconds = time.perf_counter() - started
    x, kind, oracle = test_rows()
    started = time.perf_counter()
    scores = model.score_samples(x)
    predict_seconds = time.perf_counter() - started
    auroc = {name: round(roc_auc_score(kind[kind != other] > 0, scores[kind != other]), 4)
             for name, other in (("easy", 2), ("subtle", 1))}
    return {"rows": n_rows, "width": WIDTH, "fit_seconds": round(fit_seconds, 1),
            "score_22000_rows_seconds": round(predict_seconds, 2),
            "parts_seconds": {k: round(v, 1) for k, v in parts.items()},
            "auroc": auroc, "subtle_oracle_auroc": round(oracle, 4),
            "settings": model.settings_ | {"threshold_folds": model.threshold_info_.get("folds")},
            "settings_given": settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--set", nargs="*", default=[], help="estimator parameters NAME=VALUE")
    parser.add_argument("--epoch-max-rows", type=int, help="cance_cli.defaults.EPOCH_MAX_ROWS for this run")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        name, value = item.split("=", 1)
        settings[name] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    if args.one:
        if args.epoch_max_rows:
            import cance_cli.defaults

            cance_cli.defaults.EPOCH_MAX_ROWS = args.epoch_max_rows
        print("RESULT " + json.dumps(one(args.rows[0], args.work, settings)), flush=True)
        return
    for n_rows in args.rows:
        cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--one", "--rows", str(n_rows), "--work",
               str(args.work), "--set", *args.set]
        cmd += ["--epoch-max-rows", str(args.epoch_max_rows)] if args.epoch_max_rows else []
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not result:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"the run of {n_rows} rows failed")
        row = json.loads(result[0].removeprefix("RESULT "))
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
        row["peak_rss_gib"] = round(peak_kb / 2**20, 2)
        row["epoch_max_rows"] = args.epoch_max_rows or __import__("cance_cli.defaults").defaults.EPOCH_MAX_ROWS
        row["machine"] = f"{os.cpu_count()} cores, {os.uname().machine}"
        emit(row, args.out)


if __name__ == "__main__":
    main()
