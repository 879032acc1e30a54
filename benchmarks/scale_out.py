"""Scale-out on one machine: training with 1 and 2 torchrun processes, scoring local vs Ray.

Training: `cance train-ae` and `cance fit-nce` on a generated table, once as one
process (torch with every thread) and once under `torchrun --standalone
--nproc_per_node 2` (one thread each); rows/s = training rows x epochs / the
fit seconds the command reports (without start-up).

Scoring: one composite feature table of --rows rows split into --files Parquet
files, scored by `cance score` file by file (local engine, in process) and by
`cance score FOLDER --engine ray` with 1 and 2 workers (Ray started once before
the clock; its start-up is reported apart).

    python benchmarks/scale_out.py --out docs/results/scale-out.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _jsonl import emit


def _json_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{"):])


def train_rows(work: Path, rows: int, width: int) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, width)) @ rng.normal(size=(width, width)) / np.sqrt(width)
    path = work / "train.csv"
    np.savetxt(path, x, delimiter=",", header=",".join(f"f{j}" for j in range(width)), comments="", fmt="%.6g")
    return path


def run_cli(args: list[str], processes: int) -> dict:
    cance = [sys.executable, "-m", "cance_cli"]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "--no-python", *cance, *args]
    else:
        cmd = [*cance, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1" if processes > 1 else str(os.cpu_count())}
    return _json_of(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def training(work: Path, rows: int, width: int, epochs: int, out) -> None:
    data = train_rows(work, rows, width)
    for processes in (1, 2):
        ae = run_cli(["train-ae", str(data), "--latent", "4", "--epochs", str(epochs), "--decoder-epochs", "1",
                      "--out", str(work / f"ae{processes}.safetensors"), "--json", "-q", "--device", "cpu"],
                     processes)
        n_train = ae["n_train"]
        out({"stage": "train-ae", "processes": processes, "rows": rows, "width": width,
             "epochs": epochs + 1, "fit_seconds": round(ae["fit_seconds"], 2),
             "rows_per_second": round(n_train * (epochs + 1) / ae["fit_seconds"]),
             "val_loss": ae["stage2"]["val_loss"]})
    feats = work / "feats.parquet"
    subprocess.run([sys.executable, "-m", "cance_cli", "features", str(data), "--ae", str(work / "ae1.safetensors"),
                    "--out", str(feats), "--no-label", "-q"], check=True)
    for processes in (1, 2):
        nce = run_cli(["fit-nce", str(feats), "--epochs", str(epochs), "--hidden", "64", "--out",
                       str(work / f"nce{processes}.safetensors"), "--json", "-q", "--device", "cpu"], processes)
        out({"stage": "fit-nce", "processes": processes, "rows": rows, "width": 6, "epochs": epochs,
             "fit_seconds": round(nce["fit_seconds"], 2),
             "rows_per_second": round(nce["n_train"] * epochs / nce["fit_seconds"]), "val_loss": nce["val_loss"]})


def scoring(work: Path, rows: int, files: int, out) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import pyarrow.parquet as pq
    from score_throughput import make_table

    big, folder = work / "big.parquet", work / "parts"
    make_table(big, rows)
    make_table(work / "small.parquet", 20_000)
    nce = work / "nce-score.safetensors"
    subprocess.run([sys.executable, "-m", "cance_cli", "fit-nce", str(work / "small.parquet"), "--epochs", "3",
                    "--out", str(nce), "-q"], check=True, stdout=subprocess.DEVNULL)
    folder.mkdir()
    table = pq.read_table(big)
    step = -(-rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step).replace_schema_metadata(table.schema.metadata),
                       folder / f"part-{i:03d}.parquet")
    del table
    from cance_cli.pipeline import score_table

    started = time.perf_counter()
    for i in range(files):
        score_table(folder / f"part-{i:03d}.parquet", work / f"local-{i}.parquet", nce)
    seconds = time.perf_counter() - started
    out({"stage": "score", "engine": "local", "workers": 1, "rows": rows, "files": files,
         "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)})

    import ray

    from cance_cli.pipeline import score_with_ray

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    for workers in (1, 2):
        started = time.perf_counter()
        score_with_ray(folder, work / f"ray-{workers}", nce, workers=workers, verbose=False)
        seconds = time.perf_counter() - started
        out({"stage": "score", "engine": "ray", "workers": workers, "rows": rows, "files": files,
             "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
             "ray_start_seconds": round(ray_start, 2)})
    ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--width", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--score-rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cance-scale-"))
    stamp = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}

    def out(row: dict) -> None:
        emit({**row, **stamp}, args.out)

    training(work, args.train_rows, args.width, args.epochs, out)
    scoring(work, args.score_rows, args.files, out)


if __name__ == "__main__":
    main()
