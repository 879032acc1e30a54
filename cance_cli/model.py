"""The model folder of `cance fit` / `cance predict` and ``CANCE.save`` / ``CANCE.load``.

A model folder holds the stage checkpoints in their usual format, so the
stage commands read them too (``cance features DATA --ae model/ae.safetensors``,
``cance score FEATS --nce model/nce.safetensors``), and a small
``manifest.json``: format, stages (file name and SHA-256 of each), the
estimator's parameters, the settings chosen and why, the input schema, the
threshold, versions and provenance.

A folder is written whole into a temporary sibling and then swapped into
place, so a failed or interrupted fit never leaves a half-written model and
an older model stays until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.artifacts import (
    OTHER_FORMAT_SUFFIXES,
    check_output,
    current_umask,
    dumps,
    file_sha256,
    provenance_header,
    raise_if_interrupted,
)
from cance_cli.errors import ArtifactError

MANIFEST = "manifest.json"
FORMAT = "cance-model"
FORMAT_VERSION = 2  # 2: views (input map, input density, neighbours) and their calibration
STAGE_FILES = {"autoencoder": "ae.safetensors", "pca": "pca.safetensors", "density": "nce.safetensors",
               "input_map": "input-map.safetensors", "input_density": "input-nce.safetensors",
               "knn": "knn.safetensors"}


def check_model_folder(folder, inputs=(), option: str = "--out") -> None:
    """Refuse a model folder path that is a file, a new folder named like a file (model.safetensors), a
    non-model folder with files in it, an input of the command, or in a missing or unwritable parent folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{option} {folder} is a file; give a folder name for the model.")
    if folder.suffix.lower() in OTHER_FORMAT_SUFFIXES and not (folder / MANIFEST).is_file():
        raise ArtifactError(f"{option} {folder} names a {folder.suffix[1:]} file, but the model is a folder of "
                            f"several files; give a folder name such as {folder.with_suffix('').name}/.")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise ArtifactError(f"{option} {folder} is a folder with other files in it; give a new or empty folder, "
                            "or an earlier model folder to replace.")
    for item in inputs:
        if item is None or str(item).startswith("builtin:"):
            continue
        item = Path(item).resolve()
        if item == folder.resolve() or folder.resolve() in item.parents:
            raise ArtifactError(f"{option} {folder} holds an input of this command; replacing it would destroy the "
                                "input, so choose another folder.")
    check_output(folder.parent / ".cance-probe", option=option)  # parent exists and is writable


def write_model_folder(folder, writers: dict[str, Any], manifest: dict[str, Any]) -> Path:
    """Write each stage with ``writers[file_name](path)`` and the manifest, then swap the folder into place."""
    folder = Path(folder)
    check_model_folder(folder)
    parent = folder.parent if str(folder.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", suffix=".tmp", dir=parent))
    old = None
    try:
        stages = {}
        for name, write in writers.items():
            write(tmp / name)
            stages[name] = {"sha256": file_sha256(tmp / name)}
        doc = {**provenance_header(FORMAT), "format_version": FORMAT_VERSION, "files": stages, **manifest}
        (tmp / MANIFEST).write_text(json.dumps(json.loads(dumps(doc)), indent=2) + "\n")
        raise_if_interrupted()
        os.chmod(tmp, 0o777 & ~current_umask())
        if folder.exists():
            old = parent / f".{folder.name}.{os.getpid()}.old"
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if folder.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:  # the swap failed half-way: put the older model back
                with contextlib.suppress(OSError):
                    os.replace(old, folder)
    return folder


def read_manifest(folder) -> dict[str, Any]:
    """The manifest of a model folder, checked: format, and every stage file present and unaltered."""
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        raise ArtifactError(f"{folder} is a file, not a model folder; pass the folder `cance fit` wrote.")
    if not folder.is_dir():
        raise ArtifactError(f"Model folder {folder} does not exist; create it with `cance fit`.")
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {MANIFEST}, so it is not a model folder; create one with `cance fit`.")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ArtifactError(f"{path} is not readable JSON; re-create the model with `cance fit`.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), dict) \
            or not isinstance(doc.get("estimator"), dict) or not isinstance(doc.get("threshold"), dict):
        raise ArtifactError(f"{path} is not a cance model manifest; re-create the model with `cance fit`.")
    for name, info in doc["files"].items():
        stage = folder / name
        if not stage.is_file():
            raise ArtifactError(f"Model folder {folder} lacks {name}; re-create the model with `cance fit`.")
        if not isinstance(info, dict) or info.get("sha256") != file_sha256(stage):
            raise ArtifactError(f"{stage} was changed after the model was written (SHA-256 differs from the "
                                "manifest); re-create the model with `cance fit`.")
    return doc


def save_estimator(est, folder, provenance: dict[str, Any]) -> Path:
    """Write a fitted :class:`~cance_cli.estimator.CANCE` as a model folder."""
    from cance_cli.features import latent_columns

    writers: dict[str, Any] = {}
    feature_map = est.autoencoder_ if est.autoencoder_ is not None else est.pca_
    map_file = STAGE_FILES["autoencoder" if est.autoencoder_ is not None else "pca"] if feature_map else None
    shared = {k: provenance[k] for k in ("source", "split", "normal_classes", "label_col", "test_fraction",
                                         "split_seed", "data_fingerprint") if k in provenance}
    if feature_map is not None:
        writers[map_file] = lambda path: feature_map.save(path, {**shared, "columns": _names(est)})
    if est.input_map_ is not None:
        writers[STAGE_FILES["input_map"]] = lambda path: est.input_map_.save(path, {**shared, "columns": _names(est)})
    if est.input_density_ is not None:
        writers[STAGE_FILES["input_density"]] = lambda path: est.input_density_.save(
            path, {"method": "input view", "feature_source": {"feature_map": "input-map",
                                                             "checkpoint": STAGE_FILES["input_map"]}, **shared})
    if est.knn_ is not None:
        writers[STAGE_FILES["knn"]] = lambda path: est.knn_.save(path, shared)

    def write_density(path: Path) -> None:
        source = {"feature_map": est.feature_map}
        if map_file is not None:  # the stage commands check features against this fingerprint
            source["checkpoint_sha256"] = file_sha256(path.parent / map_file)
            source["checkpoint"] = map_file
        est.density_.save(path, {"method": "CANCE" if est.features == "composite" else "LatNCE",
                                 "features": est.features, "feature_source": source, **shared})

    if est.density_ is not None:
        writers[STAGE_FILES["density"]] = write_density
    schema = {"n_features_in": int(est.n_features_in_), "columns": _names(est),
              "kind": est.settings_["kind"],
              "input_shape": (list(feature_map.input_shape_) if hasattr(feature_map, "input_shape_") else
                              [int(est.n_features_in_)]),
              "input_dtypes": getattr(feature_map, "input_dtypes_", None)}
    stages = {"feature_map": map_file, "density": STAGE_FILES["density"] if est.density_ is not None else None,
              **{k: STAGE_FILES[k] if getattr(est, k + "_") is not None else None
                 for k in ("input_map", "input_density", "knn")}}
    manifest = {"stages": stages, "views": est.views_, "calibration": est.calibration_,
                "estimator": est.get_params(), "settings": est.settings_, "schema": schema,
                "latent_columns": latent_columns(int(est.settings_["latent"])) if feature_map is not None else None,
                "threshold": {"value": est.threshold_, **est.threshold_info_},
                "training_scores": est.score_stats_,
                **provenance}
    return write_model_folder(folder, writers, manifest)


def _names(est) -> list[str] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def load_estimator(cls, folder, device: str = "cpu"):
    """Rebuild a fitted estimator of class ``cls`` from a model folder."""
    from cance_cli.pca import PCAFeatureMap
    from cance_cli.training.autoencoder import ConstrainedAutoencoder
    from cance_cli.training.nce import NCEDensity
    from cance_cli.views.input_map import InputCoordinates
    from cance_cli.views.knn import KNNDistance

    folder = Path(folder)
    doc = read_manifest(folder)
    try:
        params = {**doc["estimator"], "device": device}
        est = cls(**params)
        map_file = doc["stages"]["feature_map"]
        est.autoencoder_ = est.pca_ = None
        if map_file == STAGE_FILES["autoencoder"]:
            est.autoencoder_ = ConstrainedAutoencoder.load(folder / map_file, device=device)
        elif map_file == STAGE_FILES["pca"]:
            est.pca_ = PCAFeatureMap.load(folder / map_file)
        stages = doc["stages"]
        opened = lambda key, load: None if stages.get(key) is None else load(folder / stages[key])  # noqa: E731
        est.density_ = opened("density", lambda path: NCEDensity.load(path, device=device))
        est.input_map_ = opened("input_map", InputCoordinates.load)
        est.input_density_ = opened("input_density", lambda path: NCEDensity.load(path, device=device))
        est.knn_ = opened("knn", KNNDistance.load)
        est.views_ = list(doc.get("views", ["composite"]))  # format 1: the composite view only
        est.calibration_ = {v: {"median": float(c["median"]), "iqr": float(c["iqr"])}
                            for v, c in doc.get("calibration", {}).items()}
        est.settings_ = doc["settings"]
        est.threshold_ = float(doc["threshold"]["value"])
        est.threshold_info_ = {k: v for k, v in doc["threshold"].items() if k != "value"}
        est.n_features_in_ = int(doc["schema"]["n_features_in"])
        if doc["schema"].get("columns"):
            est.feature_names_in_ = np.asarray(doc["schema"]["columns"], dtype=object)
        est.score_stats_ = {k: float(doc["training_scores"][k]) for k in ("min", "max", "mean", "std")}
        est.manifest_ = doc
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{folder / MANIFEST} is missing or has malformed entries; re-create the model with "
                            "`cance fit`.") from None
    return est
