"""Experiment: which composite / scoring variant beats KNN on the development tables?

For each table and seed (ADBench novelty protocol, `cance_cli/bench/novelty.py`) the
`cance fit` default autoencoder is trained once; NCE densities (default schedule)
are then fitted on several composite feature sets, and every score vector (test
rows and training rows) is saved to one `.npz` per table and seed, so that score
combinations can be evaluated afterwards without refitting.

    python benchmarks/composite_variants.py ../shared/data/adbench-dev --seeds 0 --cache /tmp/exp
    python benchmarks/composite_variants.py ../shared/data/adbench-dev --cache /tmp/exp \
        --summary docs/results/views.jsonl

``--summary`` reads the cache and writes one line per table and seed with the AUROC of
each view alone and of the candidate combinations (views standardised by the median
and interquartile range of their training rows' scores), then prints the means.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from cance_cli.bench.novelty import novelty_split, table_files
from cance_cli.defaults import choose_settings
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.nce import NCEDensity

K = 5


def knn_scores(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest distance to the k nearest training rows (training rows leave themselves out)."""
    nn = NearestNeighbors(n_neighbors=K + 1).fit(train)
    d_train, _ = nn.kneighbors(train)
    d_test, _ = nn.kneighbors(test, n_neighbors=K)
    return d_train[:, -1], d_test[:, -1]


def full_rank_projection(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input rows in principal coordinates, without directions of (near) zero training variance."""
    mean = train.mean(axis=0, dtype=np.float64)
    _, sv, vt = np.linalg.svd(train - mean, full_matrices=False)
    keep = sv > sv[0] * 1e-4
    return (train - mean) @ vt[keep].T, (test - mean) @ vt[keep].T


def robust_z(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    q25, med, q75 = np.percentile(train, [25, 50, 75])
    return (test - med) / ((q75 - q25) or 1.0)


def summarise(data: Path, cache: Path, out: Path) -> None:
    """AUROC of every view and combination, per cached table and seed, and their means."""
    widths = {}
    for path in table_files(data):
        from cance_cli.bench.novelty import dataset_name, read_xy

        widths[dataset_name(path)] = read_xy(path)[0].shape[1]
    rows = []
    for npz in sorted(cache.glob("*.npz")):
        name, seed = npz.stem.rsplit("-", 1)
        d = np.load(npz)
        y, width = d["y"], widths[name]
        zk = robust_z(np.log(d["knn_train"] + 1e-12), np.log(d["knn_test"] + 1e-12))
        zc, zi = (robust_z(d[f"{v}_train"], d[f"{v}_test"]) for v in ("cance", "ident"))
        candidates = {
            "KNN": d["knn_test"], "composite": d["cance_test"], "composite_gauss": d["cance_gtest"],
            "input": d["ident_test"], "composite+input": zc + zi, "input+knn": zi + zk,
            "composite+input+knn (equal)": zc + zi + zk, "composite+input+knn (densities averaged)": (zc + zi) / 2 + zk,
        }
        for limit in (8, 16, 24, 32):
            candidates[f"rule: input if F <= {limit} else all three"] = zi if width <= limit else (zc + zi) / 2 + zk
        row = {"dataset": name, "seed": int(seed), "width": width}
        row.update({k: round(float(roc_auc_score(y, v)), 4) for k, v in candidates.items()})
        rows.append(row)
    with out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    for key in rows[0]:
        if key not in ("dataset", "seed", "width"):
            print(f"{np.mean([r[key] for r in rows]):.4f}  {key}")
    print(f"({len(rows)} table-seed pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--hidden", type=int, default=128, help="density network width")
    parser.add_argument("--step-budget", type=int, default=None, help="NCE optimizer steps (default: the rule's)")
    parser.add_argument("--variants", nargs="+", default=["cance", "ident", "xed"])
    parser.add_argument("--summary", type=Path, default=None, help="summarise the cache into this JSON-lines file")
    args = parser.parse_args()
    if args.summary:
        summarise(Path(args.data), args.cache, args.summary)
        return
    torch.set_num_threads(1)
    args.cache.mkdir(parents=True, exist_ok=True)
    for path in table_files(Path(args.data)):
        for seed in args.seeds:
            s = novelty_split(path, seed)
            if args.only and s.name not in args.only:
                continue
            out = args.cache / f"{s.name}-{seed}.npz"
            if out.exists():
                continue
            rule = choose_settings("table", len(s.x_train), s.x_train.shape[1:])
            if args.step_budget:
                batches = -(-int(len(s.x_train) * 0.9) // 256)
                rule["nce_epochs"] = int(min(max(round(args.step_budget / batches), 10), 100))
            t0 = time.perf_counter()
            ae = ConstrainedAutoencoder(latent=rule["latent"], epochs=rule["ae_epochs"],
                                        decoder_epochs=rule["decoder_epochs"], batch_size=rule["ae_batch_size"],
                                        seed=seed, device="cpu").fit(s.x_train)
            c_train, c_test = (ae.composite_features(x).astype(np.float64) for x in (s.x_train, s.x_test))
            cols = list(ae.feature_columns_)
            k_train, k_test = knn_scores(s.x_train, s.x_test)
            saved = {"y": s.y_test, "knn_train": k_train, "knn_test": k_test,
                     "err_train": c_train[:, -2], "err_test": c_test[:, -2]}
            p_train, p_test = full_rank_projection(s.x_train, s.x_test)
            x_cols = [f"x_{j}" for j in range(p_train.shape[1])]
            variants = {
                "cance": (c_train, c_test, cols),
                "ident": (p_train, p_test, x_cols),
                "xed": (np.column_stack([p_train, c_train[:, -2:]]), np.column_stack([p_test, c_test[:, -2:]]),
                        x_cols + cols[-2:]),
            }
            row = {"dataset": s.name, "seed": seed, "n_train": len(s.x_train), "width": int(s.x_train.shape[1]),
                   "KNN": roc_auc_score(s.y_test, k_test)}
            for name, (tr, te, cc) in variants.items():
                if name not in args.variants:
                    continue
                t1 = time.perf_counter()
                try:
                    nce = NCEDensity(epochs=rule["nce_epochs"], hidden=args.hidden, seed=seed,
                                     device="cpu").fit(tr, columns=cc)
                except Exception as exc:  # noqa: BLE001 - record and go on
                    row[name] = f"failed: {exc}"
                    continue
                saved[f"{name}_train"], saved[f"{name}_test"] = nce.score_samples(tr), nce.score_samples(te)
                saved[f"{name}_gtrain"], saved[f"{name}_gtest"] = nce.gaussian_score(tr), nce.gaussian_score(te)
                row[name] = roc_auc_score(s.y_test, saved[f"{name}_test"])
                row[name + "_gauss"] = roc_auc_score(s.y_test, saved[f"{name}_gtest"])
                row[name + "_seconds"] = round(time.perf_counter() - t1, 2)
            row["seconds"] = round(time.perf_counter() - t0, 2)
            np.savez(out, **saved)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
