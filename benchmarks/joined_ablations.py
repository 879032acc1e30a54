"""The paper's ablations on joined feature tables that `joined_views.py` wrote.

For each work folder (``classC-seedS`` with ``joined-train.parquet``,
``joined-test.parquet`` and the density ``nce.safetensors`` that
`joined_views.py` fitted, i.e. CANCE on the joined features), score the test
table as the stage commands do:

- ``Error-AE`` / ``Error-PCA``: each part's ``recon_error`` (`score --method error`
  reads an unprefixed column, so the AUROC is taken from the table directly);
- ``Gauss``: the density's fitted Gaussian (`score --method gauss`);
- ``LatNCE``: `fit-nce --features latent` (both parts' latents, no reconstruction columns);
- ``CNCE``: `fit-nce --no-augment`;
- ``CANCE``: the folder's density (`score`).

One JSON line per (folder, method).

    python benchmarks/joined_ablations.py /tmp/joined/class*-seed0 --threads 1 --label fashion-mnist \\
        --out docs/results/fashion-joined-ablations.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from _jsonl import emit, folder_class_seed
from sklearn.metrics import roc_auc_score

from cance_cli.pipeline import fit_nce_table, load_scores, score_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--label", default="", help="recorded as 'data' in each line")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for folder in args.folders:
        cls, seed = folder_class_seed(folder)
        train, test = folder / "joined-train.parquet", folder / "joined-test.parquet"
        table = pq.read_table(test, columns=["is_anomaly", "ae.recon_error", "pca.recon_error"])
        flags = table.column("is_anomaly").to_numpy()
        results = {"Error-AE": (roc_auc_score(flags, table.column("ae.recon_error").to_numpy()), 0.0),
                   "Error-PCA": (roc_auc_score(flags, table.column("pca.recon_error").to_numpy()), 0.0)}
        runs = {"Gauss": (folder / "nce.safetensors", None, "gauss"),
                "LatNCE": (folder / "nce-latent.safetensors", {"features": "latent"}, "nce"),
                "CNCE": (folder / "nce-cnce.safetensors", {"augment": False}, "nce"),
                "CANCE": (folder / "nce.safetensors", None, "nce")}
        for method, (nce, fit, kind) in runs.items():
            started = time.perf_counter()
            if fit is not None:
                fit_nce_table(train, nce, seed=seed, device="cpu", **fit)
            out = folder / f"scores-{method.lower()}.parquet"
            out.unlink(missing_ok=True)
            score_table(test, out, nce, method=kind)
            _, scored_flags, scores = load_scores(out)
            results[method] = (roc_auc_score(scored_flags, scores), time.perf_counter() - started)
        for method, (auroc, seconds) in results.items():
            emit({"data": args.label, "normal": cls, "seed": seed, "method": method, "auroc": auroc,
                  "seconds": round(seconds, 1)}, args.out)


if __name__ == "__main__":
    main()
