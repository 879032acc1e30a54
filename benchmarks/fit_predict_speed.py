"""Wall time of `cance fit` + `cance predict` (as a user runs them: two processes, and
in-process through the library, without the start-up), side by side with PyOD's
AutoEncoder and KNN (in process, and as a fresh `python` that imports PyOD, reads
the CSV and fits: what a user's own script costs) and scikit-learn's
IsolationForest in the same run.

Synthetic tables: normal rows from a correlated Gaussian, 5% anomalies shifted off
its support; training on normal rows only, testing on a held-out set with the
anomalies. One line per (size, method) goes to a JSON-lines file.

    python benchmarks/fit_predict_speed.py --sizes 1000x20 20000x30 --out docs/results/fit-predict-speed.jsonl
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _jsonl import emit
from sklearn.metrics import roc_auc_score


def make_table(n_train: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(width, width)) / np.sqrt(width)
    n_test = max(200, n_train // 4)
    normal = rng.normal(size=(n_train + n_test, width)) @ mix
    anomalies = rng.normal(size=(n_test // 20, width)) @ mix + rng.choice([-3, 3], size=(n_test // 20, width)) * 0.5
    x_train = normal[:n_train].astype(np.float32)
    x_test = np.vstack([normal[n_train:], anomalies]).astype(np.float32)
    y_test = np.r_[np.zeros(n_test), np.ones(len(anomalies))].astype(int)
    return x_train, x_test, y_test


def write_csv(path: Path, x: np.ndarray) -> None:
    header = ",".join(f"f{j}" for j in range(x.shape[1]))
    np.savetxt(path, x, delimiter=",", header=header, comments="", fmt="%.6g")


def run_cance(folder: Path, x_train, x_test, y_test) -> dict:
    write_csv(folder / "train.csv", x_train)
    write_csv(folder / "test.csv", x_test)
    env = {**os.environ}
    cmd = [sys.executable, "-m", "cance_cli"]
    started = time.perf_counter()
    subprocess.run([*cmd, "fit", str(folder / "train.csv"), "--out", str(folder / "model"), "-q", "--device", "cpu"],
                   check=True, env=env, capture_output=True)
    fitted = time.perf_counter()
    subprocess.run([*cmd, "predict", str(folder / "test.csv"), "--model", str(folder / "model"), "--out",
                    str(folder / "scores.parquet"), "-q", "--device", "cpu"], check=True, env=env, capture_output=True)
    done = time.perf_counter()
    import pyarrow.parquet as pq

    scores = pq.read_table(folder / "scores.parquet").column("score").to_numpy()
    return {"fit_seconds": fitted - started, "predict_seconds": done - fitted, "auroc": roc_auc_score(y_test, scores)}


# What a user's own script costs from a fresh process: imports, reading the CSV, the fit.
PYOD_SCRIPT = """
import sys
import numpy as np
from pyod.models.{module} import {cls}
x = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, dtype=np.float32)
{cls}({args}).fit(x)
"""
PYOD_FRESH = {"PyOD AutoEncoder (fresh process)": ("auto_encoder", "AutoEncoder", "random_state=0, verbose=0"),
              "PyOD KNN (fresh process)": ("knn", "KNN", "")}


def run_fresh_process(folder: Path, module: str, cls: str, args: str) -> dict:
    """Wall time of a fresh `python` that imports PyOD, reads train.csv and fits (no scoring)."""
    script = PYOD_SCRIPT.format(module=module, cls=cls, args=args)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(folder / "train.csv")], check=True, capture_output=True)
    return {"fit_seconds": time.perf_counter() - started, "predict_seconds": 0.0}


def run_inprocess(make, x_train, x_test, y_test) -> dict:
    started = time.perf_counter()
    model = make().fit(x_train)
    fitted = time.perf_counter()
    scores = model.decision_function(x_test)
    done = time.perf_counter()
    if not hasattr(model, "decision_scores_"):  # scikit-learn: higher = more normal
        scores = -scores
    return {"fit_seconds": fitted - started, "predict_seconds": done - fitted, "auroc": roc_auc_score(y_test, scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x20", "20000x30"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sklearn.ensemble import IsolationForest

    from cance_cli import CANCE

    methods = {"CANCE (library, in-process)": lambda: CANCE(device="cpu"),
               "IsolationForest": lambda: IsolationForest(random_state=0)}
    try:
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.knn import KNN

        methods["PyOD AutoEncoder"] = lambda: AutoEncoder(random_state=0, verbose=0)
        methods["PyOD KNN"] = lambda: KNN()
    except ImportError:
        print("PyOD is not installed: its AutoEncoder and KNN are left out", file=sys.stderr)
    for size in args.sizes:
        n, width = (int(v) for v in size.split("x"))
        x_train, x_test, y_test = make_table(n, width)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            results["cance fit + predict (CLI)"] = run_cance(Path(tmp), x_train, x_test, y_test)
            if "PyOD KNN" in methods:
                for name, spec in PYOD_FRESH.items():
                    results[name] = run_fresh_process(Path(tmp), *spec)
        for name, make in methods.items():
            results[name] = run_inprocess(make, x_train, x_test, y_test)
        for name, r in results.items():
            row = {"size": size, "method": name, **{k: round(v, 4) for k, v in r.items()},
                   "total_seconds": round(r["fit_seconds"] + r["predict_seconds"], 2),
                   "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine()}
            emit(row, args.out)


if __name__ == "__main__":
    main()
