"""Fit time with the thread rule against torch's own default, idle and beside a busy process (raw-tables
issue, item 5).

    python benchmarks/thread_defaults.py [--repeats 2]

Three tables, written once to a temporary folder: a 20,000 x 10 mixed table (numbers with missing cells,
two text columns, a boolean, a timestamp; the issue's transactions shape; 60 columns once encoded), a
1,000 x 20 numeric table (both wide: two densities side by side), and a 20,000 x 4 numeric table (narrow:
one density, the issue's own slow case).
Each is fitted with `cance fit`'s library call (``fit_model``, defaults but ``threshold_folds=0``, so that
the threads alone are compared; seed 0) under two thread settings:

- ``rule``: today's default (one torch thread per model trained at a time for tables);
- ``torch``: the old default (torch's own thread count, 2 here; the forked input density on one).

and two machine states: ``idle`` and ``busy`` (a second process spinning on one core meanwhile, as a
test run or another job does). Prints seconds per fit; then one fit of each table with every default,
the cross-fitted threshold included.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def mixed_table(path: Path, n: int = 20_000, seed: int = 0) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.03] = np.nan
    table = pa.table({
        "amount": amount, "balance": rng.normal(1000, 200, n), "age": rng.integers(18, 80, n).astype(float),
        "items": rng.poisson(3, n), "distance": rng.exponential(5, n), "score": rng.normal(size=n),
        "merchant": rng.choice(["shop", "cafe", "fuel", "hotel", "air"], n).tolist(),
        "city": rng.choice([f"c{i}" for i in range(40)], n).tolist(),
        "online": rng.random(n) < 0.3,
        "when": pa.array((1_767_225_600 + rng.integers(0, 86400 * 90, n)).tolist(), pa.timestamp("s")),
    })
    pq.write_table(table, path)
    return path


def numeric_table(path: Path, n: int = 1_000, width: int = 20, seed: int = 0) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width)) @ rng.normal(size=(width, width))
    pq.write_table(pa.table({f"f{j}": x[:, j] for j in range(width)}), path)
    return path


@contextlib.contextmanager
def busy(on: bool):
    """A second process spinning on one core while the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def thread_setting(name: str):
    """``rule``: as shipped; ``torch``: the table-thread rule switched off (the old default)."""
    from cance_cli.views.fitting import ViewFitting

    original = ViewFitting._table_threads
    if name == "torch":
        ViewFitting._table_threads = lambda self: contextlib.nullcontext()
    try:
        yield
    finally:
        ViewFitting._table_threads = original


def main() -> None:
    from cance_cli.estimator import CANCE
    from cance_cli.fit_predict import fit_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", help="the tables whose label starts with this, e.g. 'numeric 20,000'")
    args = parser.parse_args()
    import torch

    print(f"torch threads by default: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        tables = {"mixed 20,000 x 10": mixed_table(work / "mixed.parquet"),
                  "numeric 1,000 x 20": numeric_table(work / "numeric.parquet"),
                  "numeric 20,000 x 4": numeric_table(work / "narrow.parquet", n=20_000, width=4)}
        tables = {k: v for k, v in tables.items() if not args.only or k.startswith(args.only)}
        for state in ("idle", "busy"):
            for setting in ("rule", "torch"):
                for label, path in tables.items():
                    times = []
                    for _ in range(args.repeats):
                        with busy(state == "busy"), thread_setting(setting):
                            start = time.perf_counter()
                            fit_model(path, work / "model", CANCE(verbose=False, threshold_folds=0))
                            times.append(time.perf_counter() - start)
                    print(f"{state:5} {setting:6} {label:20} " + " ".join(f"{t:6.1f}" for t in times) + " s",
                          flush=True)
        for label, path in tables.items():  # the whole default, the cross-fitted threshold included
            start = time.perf_counter()
            fit_model(path, work / "model", CANCE(verbose=False))
            print(f"idle  rule + cross-fitted threshold (all defaults) {label:20} "
                  f"{time.perf_counter() - start:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
