"""Run a protocol: every method on the same splits and seeds, one result table.

Results go to ``OUT/results.csv`` (one row per split x seed x method: AUROC,
AUPRC, precision/recall/F1 at k = number of test anomalies, seconds),
``OUT/results.md`` (mean ± std table, best in bold, average rank) and
``OUT/runs.jsonl`` (one line per invocation that added rows: protocol, options, configuration,
versions, machine, date). Scores of the
first seed are kept in ``WORK/scores/`` for ROC plots. A rerun skips the
(split, seed, method) rows already in ``results.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.bench.baselines import BASELINES, PYOD, QUADRATIC, make_detector, pyod_available
from cance_cli.bench.energy import ENERGY_METHODS, energy_scores
from cance_cli.bench.methods import CANCE_METHODS, FIT_METHOD, PCA_METHODS
from cance_cli.bench.protocols import Split
from cance_cli.errors import ConfigError

ALL_METHODS = CANCE_METHODS + (FIT_METHOD,) + PCA_METHODS + ENERGY_METHODS + BASELINES
RESULT_FIELDS = ["protocol", "data", "split", "normal", "seed", "method", "auroc", "auprc", "precision", "recall",
                 "f1", "seconds", "n_train", "n_test", "n_test_anomalies"]


@dataclass
class BenchConfig:
    """Settings shared by every split of a run (recorded in ``runs.jsonl``).

    ``ae`` and ``nce`` hold the CANCE pipeline's settings (:func:`adapt_to_split`
    resizes them for table splits);
    ``baseline_options`` per-method keyword overrides; ``max_train`` caps the
    training rows of the quadratic-cost baselines; ``fixed`` names settings
    (``{"ae": {...}, ...}``) that :func:`adapt_to_split` must not resize.
    """

    ae: dict[str, Any] = field(default_factory=lambda: {"latent": 32, "lam": 0.01, "epochs": 30,
                                                        "decoder_epochs": 10})
    nce: dict[str, Any] = field(default_factory=lambda: {"ratio": 10.0, "epochs": 100, "batch_size": 256,
                                                         "hidden": 128})
    dagmm: dict[str, Any] = field(default_factory=lambda: {"latent": 4, "n_gmm": 4, "epochs": 30,
                                                           "batch_size": 256})
    energy: dict[str, Any] = field(default_factory=lambda: {"schedule": "reduced"})
    baseline_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_train: int = 10000
    device: str = "cpu"
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ae": self.ae, "nce": self.nce, "dagmm": self.dagmm, "energy": self.energy,
                "baseline_options": self.baseline_options,
                "max_train": self.max_train, "device": self.device, "fixed_by_user": self.fixed,
                "tables": TABULAR_RULE}


def check_methods(methods: Iterable[str]) -> list[str]:
    methods = list(methods)
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise ConfigError(f"Unknown method {', '.join(unknown)}; choose from {', '.join(ALL_METHODS)}.")
    return methods


# The novelty protocol's line-up (the tabular-quality issue): CANCE, its ablations and six baselines.
NOVELTY_METHODS = CANCE_METHODS + (FIT_METHOD, "KNN", "LOF", "IsolationForest", "ECOD", "AutoEncoder", "DeepSVDD")


# The talk's experiments (holdout, ood): the plain autoencoders, the energy-based detectors,
# CANCE on each, and two quick baselines.
ENERGY_PROTOCOL_METHODS = ("Error", "CANCE") + ENERGY_METHODS + ("KNN", "IsolationForest")


def default_methods(protocol: str | None = None) -> list[str]:
    """Everything that runs here: the CANCE ablations, sklearn baselines, DAGMM, PyOD when installed
    (for ``novelty``: :data:`NOVELTY_METHODS`; for ``holdout`` and ``ood``:
    :data:`ENERGY_PROTOCOL_METHODS`; the energy-based detectors only there)."""
    pyod = pyod_available()
    if protocol in ("holdout", "ood"):
        return [m for m in ENERGY_PROTOCOL_METHODS if pyod or m not in PYOD]
    pool = NOVELTY_METHODS if protocol == "novelty" else ALL_METHODS
    return [m for m in pool if m not in PCA_METHODS + ENERGY_METHODS and (pyod or m not in PYOD)]


def versions() -> dict[str, str]:
    """Artifact versions plus the libraries the baselines come from."""
    import sklearn
    import torch  # noqa: F401  (so artifacts.versions reports it)

    from cance_cli.io.provenance import versions as artifact_versions

    out = {**artifact_versions(), "scikit-learn": sklearn.__version__}
    if pyod_available():
        import pyod

        out["pyod"] = pyod.__version__
    return out


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs".replace("  ", " ")


# --------------------------------------------------------------------------- inputs for the baselines


def flat_inputs(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows as flat float32: pixels in [0, 1], or columns
    standardised with the training rows' mean and standard deviation."""
    train = split.train.batch(slice(None)).reshape(len(split.train), -1)
    test = split.test.batch(slice(None)).reshape(len(split.test), -1)
    if split.train.kind == "table":
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        train, test = (train - mean) / std, (test - mean) / std
    return train.astype(np.float32), test.astype(np.float32)


def _cap(x: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(x) <= limit:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]


# --------------------------------------------------------------------------- one split


def _cance_scores(split: Split, methods: list[str], seed: int, folder: Path, config: BenchConfig,
                  feature_map: str, model_folder: Path | None) -> dict[str, tuple[np.ndarray, float]]:
    """Scores and seconds of the CANCE-family methods through the staged pipeline."""
    from cance_cli.bench.one_class import run_class
    from cance_cli.pipeline import load_scores

    suffix = "-PCA" if feature_map == "pixels-pca" else ""
    wanted = [m[: len(m) - len(suffix)] for m in methods]
    variants = [v for v in ("LatNCE", "CNCE", "CANCE") if v in wanted or (v == "CNCE" and "Gauss" in wanted)]
    rows = run_class(split.train, split.test, split.normal, folder, {**config.ae, "device": config.device},
                     {**config.nce, "device": config.device}, seed, variants or ["CNCE"], feature_map=feature_map,
                     model_folder=model_folder)
    out = {}
    for r in rows:
        if r["method"] in wanted:
            _, _, scores = load_scores(folder / f"scores-{r['method']}.parquet")
            out[r["method"] + suffix] = (scores, r["ae_seconds"] + r["feature_seconds"] + r["nce_seconds"])
    return out


def _fit_method_scores(inputs: tuple[np.ndarray, np.ndarray], seed: int, config: BenchConfig
                       ) -> tuple[np.ndarray, float]:
    """The CANCE estimator as `cance fit` runs it: every size and view chosen from the data's
    shape, except the NCE epochs and ratio when the user fixed them for the run."""
    from cance_cli.estimator import CANCE

    started = time.perf_counter()
    train, test = inputs
    fixed = config.fixed.get("nce", {})
    # threshold_folds=0: the ranking metrics do not depend on the threshold, and the cross-fit would cost
    # two to five more fits per split.
    est = CANCE(seed=seed, device=config.device, nce_epochs=fixed.get("epochs"),
                ratio=fixed.get("ratio", 10.0), threshold_folds=0).fit(train)
    return est.score_samples(test), time.perf_counter() - started


def _baseline_scores(name: str, split: Split, seed: int, config: BenchConfig,
                     inputs: tuple[np.ndarray, np.ndarray], fitted: dict) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    train, test = inputs
    images = name == "DAGMM" and split.train.kind == "image"  # its conv compression network wants images
    if images:
        test = split.test.batch(slice(None))
    key = (split.meta.get("train_key"), seed, name)
    if key[0] is not None and key in fitted:  # the same training set as an earlier split
        det = fitted[key]
    elif name == "DAGMM":
        from cance_cli.training.dagmm import DAGMM

        opts = {**config.dagmm, **config.baseline_options.get("DAGMM", {})}
        det = DAGMM(seed=seed, device=config.device, **opts).fit(split.train.batch(slice(None)) if images else train)
    else:
        det = make_detector(name, train.shape[1], seed, config.baseline_options.get(name))
        det.fit(_cap(train, config.max_train, seed) if name in QUADRATIC else train)
    if key[0] is not None:
        fitted[key] = det
    scores = np.asarray(det.score_samples(test), dtype=np.float64)
    return scores, time.perf_counter() - started


def run_split(split: Split, methods: list[str], seed: int, work: Path, config: BenchConfig,
              log: Callable[[str], None] = lambda message: None,
              fitted: dict | None = None) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Every method on one split; returns result rows and the scores per method.

    Splits whose ``meta["train_key"]`` match share one training set: their
    models are trained once (``fitted`` keeps the baselines, a shared folder
    the CANCE stages), and the seconds reported for later splits are scoring
    time only.
    """
    fitted = {} if fitted is None else fitted
    from cance_cli.metrics import detection_metrics

    folder = work / split.protocol / f"{split.name}-s{seed}"
    config = adapt_to_split(config, split)
    y = split.is_anomaly
    found: dict[str, tuple[np.ndarray, float]] = {}
    train_key = split.meta.get("train_key")
    shared = work / split.protocol / f"{train_key}-s{seed}" if train_key else None
    # First: the energy methods refuse images other than 28x28 grey before anything else trains.
    found.update(energy_scores(split, methods, seed, folder / "energy", config.energy, config.nce, config.device,
                               fitted))
    for family, feature_map in ((CANCE_METHODS, "autoencoder"), (PCA_METHODS, "pixels-pca")):
        chosen = [m for m in methods if m in family]
        if chosen:
            found.update(_cance_scores(split, chosen, seed, folder / feature_map, config, feature_map,
                                       shared / feature_map if shared else None))
    inputs = None
    if FIT_METHOD in methods:
        inputs = flat_inputs(split)
        found[FIT_METHOD] = _fit_method_scores(inputs, seed, config)
        log(f"{split.name} seed {seed} {FIT_METHOD}: {found[FIT_METHOD][1]:.1f} s")
    for name in methods:
        if name in BASELINES:
            inputs = inputs or flat_inputs(split)
            found[name] = _baseline_scores(name, split, seed, config, inputs, fitted)
            log(f"{split.name} seed {seed} {name}: {found[name][1]:.1f} s")
    info = split.describe()
    rows = []
    for name in methods:
        scores, seconds = found[name]
        if not np.isfinite(scores).all():  # a diverged baseline: rank what it can, and say so
            log(f"{split.name} seed {seed} {name}: non-finite scores replaced by the extremes")
            scores = np.nan_to_num(scores, nan=np.nanmax(scores[np.isfinite(scores)], initial=0.0),
                                   posinf=np.finfo(np.float64).max, neginf=np.finfo(np.float64).min)
        m = detection_metrics(y, scores)
        rows.append({"protocol": split.protocol, "data": split.train.source, "split": split.name,
                     "normal": info["normal"], "seed": seed, "method": name, "auroc": m["auroc"],
                     "auprc": m["auprc"], "precision": m["precision"], "recall": m["recall"], "f1": m["f1"],
                     "seconds": seconds, "n_train": info["n_train"], "n_test": info["n_test"],
                     "n_test_anomalies": info["n_test_anomalies"]})
    return rows, {name: found[name][0] for name in methods}


# --------------------------------------------------------------------------- a whole protocol


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("auroc", "auprc", "precision", "recall", "f1", "seconds"):
            r[k] = float(r[k])
        for k in ("seed", "n_train", "n_test", "n_test_anomalies"):
            r[k] = int(r[k])
    return rows


def merge_results(rows: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``new`` added; a new row replaces an old one of the same (protocol, split, seed, method)."""
    key = lambda r: (r.get("protocol"), r["split"], r["seed"], r["method"])  # noqa: E731
    keys = {key(r) for r in new}
    return [r for r in rows if key(r) not in keys] + list(new)


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    from cance_cli.io.paths import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def save_scores(path: Path, split: Split, scores: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cance_cli.io.paths import atomic_path
    from cance_cli.io.tables import schema_with_meta

    columns = {"id": pa.array(split.test.ids), "is_anomaly": pa.array(split.is_anomaly)}
    if path.exists():  # keep the columns of an earlier invocation that ran other methods on this split
        earlier = pq.read_table(path)
        if np.array_equal(earlier.column("id").to_numpy(), split.test.ids):
            columns.update({c: earlier.column(c) for c in earlier.column_names if c not in columns})
    columns.update({name: pa.array(s) for name, s in scores.items()})
    table = pa.table(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(schema_with_meta(
            table.schema, {"stage": "bench-scores", "protocol": split.protocol, "split": split.name}).metadata), tmp)


def run_protocol(splits: Callable[[int], Iterable[Split]], methods: list[str], seeds: list[int], out: Path,
                 work: Path, config: BenchConfig, protocol: str, data: str,
                 log: Callable[[str], None] = lambda message: None,
                 options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run ``methods`` on ``splits(seed)`` for each seed; write and return all rows.

    ``splits`` takes the seed because some protocols (tabular) draw the split
    with it; the others ignore it.
    """
    from cance_cli.io.paths import atomic_path

    methods = check_methods(methods)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    rows = read_results(results)
    done = {(r.get("protocol", protocol), r["split"], r["seed"], r["method"]) for r in rows}
    fitted: dict = {}
    run_doc = {"protocol": protocol, "data": data, "options": options or {}, "methods": methods, "seeds": seeds,
               "config": config.to_json(), "versions": versions(), "machine": machine(),
               "torch_threads": _torch_threads(), "date": time.strftime("%Y-%m-%d %H:%M")}
    log_path = out / "runs.jsonl"
    logged = False
    for seed in seeds:
        for split in splits(seed):
            todo = [m for m in methods if (split.protocol, split.name, seed, m) not in done]
            if not todo:
                continue
            new, scores = run_split(split, todo, seed, work, config, log, fitted)
            if not logged:  # with the first rows: a run refused before any result leaves no record
                earlier = log_path.read_text() if log_path.exists() else ""
                with atomic_path(log_path) as tmp:  # appended: every invocation's settings beside its rows
                    Path(tmp).write_text(earlier + json.dumps(run_doc, default=str) + "\n")
                logged = True
            rows = merge_results(read_results(results), new)  # keeps rows another invocation wrote meanwhile
            write_results(results, rows)
            if seed == seeds[0]:
                save_scores(work / "scores" / f"{split.protocol}-{split.name}-s{seed}.parquet", split, scores)
            log(f"{split.name} seed {seed}: " + " ".join(f"{r['method']}={r['auroc']:.3f}" for r in new))
    rows = read_results(results) or rows  # with the rows of any invocation that ran beside this one
    rows = [r for r in rows if r.get("protocol", protocol) == protocol]  # a folder may hold both novelty settings
    write_report(out, rows, protocol, data)
    return rows


def write_report(out: Path, rows: list[dict[str, Any]], protocol: str, data: str) -> None:
    """``OUT/results.md``: every method in ``rows`` (not only this invocation's), in the order they first ran."""
    from cance_cli.bench.report import summary_table
    from cance_cli.io.paths import atomic_path

    shown = list(dict.fromkeys(r["method"] for r in rows))
    with atomic_path(out / "results.md") as tmp:
        Path(tmp).write_text(f"# {protocol} on {data}\n\nAUROC\n\n{summary_table(rows, 'auroc', shown)}\n\n"
                             f"F1 of the anomaly class (k = number of test anomalies)\n\n"
                             f"{summary_table(rows, 'f1', shown)}\n")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


TABULAR_RULE = ("tables: the defaults of `cance fit` (cance_cli/defaults.py, docs/defaults.md): latent = "
                "clip(F // 8, 2, 8); AE epochs 10, decoder epochs 3; batch 128 (1024 from 50,000 rows); NCE epochs "
                "= clip(1200 / batches per epoch, 10, 100) (2400 before 2026-11-28), density width 64 (128 "
                "before), on at most 20,000 rows; DAGMM latent 1, epochs = "
                "clip(100000 / n_train, 10, 200)")


def adapt_to_split(config: BenchConfig, split: Split) -> BenchConfig:
    """The settings for a table split: those `cance fit` would choose (``TABULAR_RULE``).

    Image splits keep ``config`` as given; so do settings the user fixed
    explicitly in ``config.fixed``.
    """
    from cance_cli.defaults import choose_settings

    if split.train.kind != "table":
        return config
    n = len(split.train)
    rule = choose_settings("table", min(n, 20_000), split.train.sample_shape)
    batch = rule["ae_batch_size"]
    ae = {**config.ae, "latent": rule["latent"], "epochs": rule["ae_epochs"], "decoder_epochs": rule["decoder_epochs"],
          "batch_size": batch}
    nce = {**config.nce, "max_rows": 20_000, "epochs": rule["nce_epochs"], "batch_size": rule["nce_batch_size"],
           "hidden": rule["nce_hidden"]}
    dagmm = {**config.dagmm, "latent": 1, "epochs": int(np.clip(round(100_000 / n), 10, 200)), "batch_size": batch}
    fixed = config.fixed
    return replace(config, ae={**ae, **fixed.get("ae", {})}, nce={**nce, **fixed.get("nce", {})},
                   dagmm={**dagmm, **fixed.get("dagmm", {})})
