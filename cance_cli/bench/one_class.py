"""One-class protocol: each class in turn is normal; train on its training
rows, test on the whole test split. Every stage writes the same artifacts the
CLI would, so any run can be inspected or resumed stage by stage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.bench.methods import CANCE_METHODS
from cance_cli.data.dataset import Dataset
from cance_cli.features import write_feature_table
from cance_cli.pca import PCAFeatureMap
from cance_cli.pipeline import evaluate_tables, fit_nce_table, score_table
from cance_cli.registry import load_part, save_part
from cance_cli.training.autoencoder import ConstrainedAutoencoder

# The ablations of METHOD: (name, fit-nce options); Error and Gauss need no extra fit.
VARIANTS: dict[str, dict[str, Any]] = {
    "LatNCE": {"features": "latent", "augment": False},
    "CNCE": {"features": "composite", "augment": False},
    "CANCE": {"features": "composite", "augment": True},
}
METHODS = list(CANCE_METHODS)


def _feature_map(kind: str, normal_train: Dataset, folder: Path, ae_params: dict[str, Any], seed: int,
                 reuse: bool, provenance: dict[str, Any]):
    """The fitted feature map: the constrained autoencoder, or a PCA of raw pixels."""
    if kind == "pixels-pca":
        path = folder / "pca.safetensors"
        if reuse and path.exists():
            return load_part(path, stage="pca")
        fmap = PCAFeatureMap(ae_params["latent"]).fit(normal_train)
        save_part(fmap, path, provenance)
        return fmap
    path = folder / "ae.safetensors"
    if reuse and path.exists():
        return ConstrainedAutoencoder.load(path)
    ae = ConstrainedAutoencoder(**ae_params, seed=seed).fit(normal_train)
    ae.save(path, provenance)
    return ae


def run_class(train: Dataset, test: Dataset, normal: list[str], folder: Path, ae_params: dict[str, Any],
              nce_params: dict[str, Any], seed: int, variants: list[str] | None = None,
              reuse: bool = True, feature_map: str = "autoencoder",
              model_folder: Path | None = None) -> list[dict[str, Any]]:
    """Run the pipeline for one choice of normal classes; return one row per method.

    ``feature_map``: ``autoencoder`` (the constrained AE) or ``pixels-pca``
    (a PCA with ``ae_params["latent"]`` components on flattened pixels).
    ``model_folder``: where the trained stages (feature map, training
    features, densities) live when several test sets share one training set;
    what it already holds is reused. Test features and scores go to ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shared = model_folder is not None
    model_folder = model_folder or folder
    model_folder.mkdir(parents=True, exist_ok=True)
    variants = variants or list(VARIANTS)
    started = time.perf_counter()
    normal_train = train.subset(train.normal_mask(normal))
    ae = _feature_map(feature_map, normal_train, model_folder, ae_params, seed, reuse or shared,
                      {"source": train.source, "split": train.split, "normal_classes": normal, "seed": seed})
    ae_seconds = time.perf_counter() - started
    feats_train, feats_test = model_folder / "feats-train.parquet", folder / "feats-test.parquet"
    if not ((reuse or shared) and feats_train.exists()):
        write_feature_table(ae, normal_train, feats_train, normal)
    if not (reuse and feats_test.exists()):
        write_feature_table(ae, test, feats_test, normal)
    feature_seconds = time.perf_counter() - started - ae_seconds

    # Seconds per method on top of the shared stages: its own fit, if any, and scoring the test table.
    t0 = time.perf_counter()
    scores = {"Error": folder / "scores-Error.parquet"}
    score_table(feats_test, scores["Error"], method="error")
    timings = {"Error": time.perf_counter() - t0}
    for name in variants:
        opts = VARIANTS[name]
        nce_path = model_folder / f"nce-{name}.safetensors"
        t0 = time.perf_counter()
        if not (shared and nce_path.exists()):
            fit_nce_table(feats_train, nce_path, features=opts["features"],
                          **{**nce_params, "augment": opts["augment"], "seed": seed})
        scores[name] = folder / f"scores-{name}.parquet"
        score_table(feats_test, scores[name], nce_path)
        timings[name] = time.perf_counter() - t0
        if name == "CNCE":
            t0 = time.perf_counter()
            scores["Gauss"] = folder / "scores-Gauss.parquet"
            score_table(feats_test, scores["Gauss"], nce_path, method="gauss")
            timings["Gauss"] = time.perf_counter() - t0
    rows = []
    order = [m for m in METHODS if m in scores]
    for name, metrics in zip(order, evaluate_tables([scores[m] for m in order])):
        rows.append({"normal": ",".join(normal), "seed": seed, "method": name, "auroc": metrics["auroc"],
                     "auprc": metrics["auprc"], "f1": metrics["f1"], "ae_seconds": ae_seconds,
                     "feature_seconds": feature_seconds,
                     "nce_seconds": timings.get(name, 0.0),
                     "latent_condition_number": getattr(ae, "latent_condition_number_", None),
                     "feature_map": feature_map})
    return rows


def summarise(rows: list[dict[str, Any]], key: str = "auroc") -> dict[str, dict[str, float]]:
    """Mean and std over seeds of ``key`` per (normal class set, method), and the overall mean."""
    table: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        table.setdefault(r["normal"], {}).setdefault(r["method"], []).append(r[key])
    out = {cls: {m: float(np.mean(v)) for m, v in per.items()} for cls, per in table.items()}
    methods = {m for per in out.values() for m in per}
    out["mean"] = {m: float(np.mean([per[m] for per in out.values() if m in per])) for m in methods}
    return out
