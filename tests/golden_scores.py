"""Scores of every CLI stage and of `cance fit` / `cance predict` on fixed small inputs and seeds.

The golden file (tests/fixtures/golden_scores.json) was recorded before the detector-contract
restructuring; tests/test_golden.py recomputes these scores and compares them to 1e-6, so a move
that changes any result is caught. Regenerate only for an intended change of results (session 19:
``predict.emb`` alone, embeddings now scored by the composite and neighbour views; session 20:
``predict.emb`` alone again, embedding rows scaled to unit length):

    python tests/golden_scores.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).parent / "fixtures" / "golden_scores.json"
FAST = ["--seed", "0", "-q"]


def _cli(*args) -> None:
    from typer.testing import CliRunner

    from cance_cli.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        raise RuntimeError(f"cance {' '.join(map(str, args))} failed: {result.output}")


def _column(path: Path, name: str) -> list[float]:
    import pyarrow.parquet as pq

    return [float(v) for v in pq.read_table(path).column(name).to_numpy()]


def _tables(work: Path) -> dict[str, Path]:
    """A narrow (6-column) and a wide (24-column) labelled table, and 40-wide 'embeddings'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    out = {}
    for name, width, n in (("narrow", 6, 300), ("wide", 24, 400), ("emb", 40, 300)):
        mix = rng.normal(size=(width, width)) / np.sqrt(width)
        x = rng.normal(size=(n, width)) @ mix
        y = np.zeros(n, dtype=np.int64)
        y[-n // 10:] = 1
        x[y == 1] += rng.normal(2.0, 1.0, size=(int(y.sum()), width)) * 0.5
        cols = {("e_" if name == "emb" else "f") + str(j): x[:, j] for j in range(width)}
        out[name] = work / f"{name}.parquet"
        pq.write_table(pa.table({**cols, "label": y}), out[name])
    return out


def compute(work: Path) -> dict[str, list[float]]:
    """Every recorded score column, by name."""
    import torch

    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    t = _tables(work)
    scores: dict[str, list[float]] = {}
    # The stage pipeline on images (builtin:digits, digit 3 normal).
    _cli("train-ae", "builtin:digits", "--normal", "3", "--latent", "4", "--epochs", "2", "--decoder-epochs", "1",
         "--out", work / "ae.safetensors", *FAST)
    for split in ("train", "test"):
        _cli("features", "builtin:digits", "--ae", work / "ae.safetensors", "--normal", "3", "--split", split,
             "--out", work / f"{split}.parquet", "-q")
    scores["features.recon_error"] = _column(work / "test.parquet", "recon_error")
    _cli("fit-nce", work / "train.parquet", "--epochs", "3", "--out", work / "nce.safetensors", *FAST)
    _cli("score", work / "test.parquet", "--nce", work / "nce.safetensors", "--out", work / "nce.parquet", "-q")
    scores["score.nce"] = _column(work / "nce.parquet", "score")
    _cli("score", work / "test.parquet", "--method", "error", "--out", work / "error.parquet", "-q")
    scores["score.error"] = _column(work / "error.parquet", "score")
    _cli("fit-nce", work / "train.parquet", "--epochs", "3", "--knn", "5", "--out", work / "knn.safetensors", *FAST)
    _cli("score", work / "test.parquet", "--nce", work / "knn.safetensors", "--out", work / "knn.parquet", "-q")
    scores["score.nce_knn"] = _column(work / "knn.parquet", "score")
    for name in ("nce", "knn"):  # each density's scores of its training rows calibrate it in the fusion
        _cli("score", work / "train.parquet", "--nce", work / f"{name}.safetensors", "--out",
             work / f"ref-{name}.parquet", "-q")
    _cli("fuse", work / "nce.parquet", work / "knn.parquet", "-r", work / "ref-nce.parquet", "-r",
         work / "ref-knn.parquet", "--out", work / "fused.parquet")
    scores["fuse"] = _column(work / "fused.parquet", "score")
    # The PCA path on an embedding table.
    _cli("features", t["emb"], "--pca", "8", "--normal", "0", "--out", work / "pca-feats.parquet",
         "--pca-out", work / "pca.safetensors", "-q")
    scores["features.pca.recon_error"] = _column(work / "pca-feats.parquet", "recon_error")
    # `cance fit` / `predict` on a narrow table (input view), a wide one (three views) and embeddings (--pca).
    for name, extra in (("narrow", []), ("wide", ["--epochs", "3", "--decoder-epochs", "1"]),
                        ("emb", ["--pca", "8"])):
        _cli("fit", t[name], "--normal", "0", "--nce-epochs", "3", *extra, "--out", work / f"model-{name}", *FAST)
        _cli("predict", t[name], "--model", work / f"model-{name}", "--out", work / f"pred-{name}.parquet", "-q")
        scores[f"predict.{name}"] = _column(work / f"pred-{name}.parquet", "score")
    return scores


def main() -> None:
    import tempfile

    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/golden_scores.py --write")
    with tempfile.TemporaryDirectory() as tmp:
        scores = compute(Path(tmp))
    GOLDEN.write_text(json.dumps(scores, indent=0) + "\n")
    print(f"wrote {GOLDEN}: {', '.join(f'{k} ({len(v)})' for k, v in scores.items())}")


if __name__ == "__main__":
    main()
