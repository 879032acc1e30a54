"""Throughput and peak memory of `cance score` on a large composite table
(with and without the process start-up).

Generates an N-row table shaped like MNIST composite features (32 latents +
recon_error + cos_dissim), fits a small density on 20,000 of its rows, then
runs `cance score` in a fresh process per batch size and reports rows/s and
the child's peak resident memory (ru_maxrss).

    python benchmarks/score_throughput.py --rows 1000000 --batch-sizes 4096 16384 65536 262144
    python benchmarks/score_throughput.py --rows 1000000 --batch-sizes 16384 --hidden 64
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from _jsonl import emit

from cance_cli.io.tables import AtomicParquetWriter

MEASURE = (
    "import resource, sys, time\n"
    "from cance_cli.cli import app\n"
    # What start-up imports anyway, imported before the clock starts: the second time is scoring alone.
    "import torch, pyarrow.parquet, cance_cli.pipeline, cance_cli.nce.scoring  # noqa\n"
    "sys.argv = sys.argv[1:]\n"
    "t0 = time.perf_counter()\n"
    "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
    "print(time.perf_counter() - t0, file=sys.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def make_table(path: Path, rows: int, latent: int = 32, chunk: int = 100_000) -> None:
    rng = np.random.default_rng(0)
    names = [f"z_{i}" for i in range(latent)] + ["recon_error", "cos_dissim"]
    schema = pa.schema([("id", pa.int64()), ("is_anomaly", pa.int8())] + [(n, pa.float32()) for n in names])
    with AtomicParquetWriter(path, schema, {"stage": "features", "latent": latent}) as w:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            cols = {"id": np.arange(start, start + n), "is_anomaly": (rng.random(n) < 0.1).astype(np.int8)}
            z = rng.normal(size=(n, latent)).astype(np.float32)
            e = np.exp(rng.normal(-4.5, 0.4, n)).astype(np.float32)
            cols.update({f"z_{i}": z[:, i] for i in range(latent)})
            cols["recon_error"], cols["cos_dissim"] = e, (2 * e * np.exp(rng.normal(0, 0.1, n))).astype(np.float32)
            w.write(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4096, 16384, 65536, 262144])
    ap.add_argument("--hidden", type=int, default=128, help="width of the density network (fit-nce --hidden)")
    ap.add_argument("--out", default=None, help="append JSON lines here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cance-throughput-"))
    table, small = work / "big.parquet", work / "small.parquet"
    make_table(table, args.rows)
    make_table(small, 20_000)
    cance = [sys.executable, "-m", "cance_cli"]
    subprocess.run([*cance, "fit-nce", str(small), "--epochs", "5", "--hidden", str(args.hidden),
                    "--out", str(work / "nce.safetensors"), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    for bs in args.batch_sizes:
        argv = ["cance", "score", str(table), "--nce", str(work / "nce.safetensors"), "--out",
                str(work / "scores.parquet"), "--batch-size", str(bs), "-q"]
        t0 = time.perf_counter()
        # Run the CLI in a child that reports its own peak RSS (kB on Linux) on stderr.
        proc = subprocess.run([sys.executable, "-c", MEASURE, *argv], check=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        lines = proc.stderr.strip().splitlines()
        scoring, peak_mb = float(lines[-2]), int(lines[-1]) / 1024
        row = {"rows": args.rows, "batch_size": bs, "hidden": args.hidden, "seconds": round(wall, 2),
               "rows_per_second": round(args.rows / wall), "scoring_seconds": round(scoring, 2),
               "rows_per_second_scoring": round(args.rows / scoring), "peak_rss_mb": round(peak_mb),
               "machine": f"{platform.machine()}, {platform.node()}"}
        emit(row, args.out)


if __name__ == "__main__":
    main()
