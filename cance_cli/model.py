"""The model folder of `cance fit` / `cance predict` and ``CANCE.save`` / ``CANCE.load``.

A model folder holds the stage checkpoints in their usual format, so the stage commands read them too
(``cance features DATA --ae model/ae.safetensors``, ``cance score FEATS --nce model/nce.safetensors``), and a
small ``manifest.json``: format, stages (file name and SHA-256 of each), the estimator's parameters, the
settings chosen and why, the input schema, the threshold, the typical row explanations use, versions and
provenance.

A folder is written whole into a temporary sibling and then swapped into place (under an flock of the parent
folder, so two fits take turns), so a failed or interrupted fit never leaves a half-written model and an older
model stays until the new one is complete; a folder that also holds other files is never replaced. A folder
is read as one version: manifest and stages through one handle of the folder, links refused, every stage's
SHA-256 and the manifest's own digest checked, every number typed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError
from cance_cli.io.checkpoints import preloaded
from cance_cli.io.model_layout import FORMAT, FORMAT_VERSION, MANIFEST, STAGE_FILES
from cance_cli.io.paths import (
    OTHER_FORMAT_SUFFIXES,
    check_output,
    current_umask,
    glob_escape,
    pid_alive,
    refuse_dangling_link,
)
from cance_cli.io.provenance import dumps, file_sha256, provenance_header, strict_loads
from cance_cli.model_manifest import check_manifest, manifest_digest
from cance_cli.registry import load_part, save_part
from cance_cli.runtime.interrupts import raise_if_interrupted

FIT_FILES = frozenset(STAGE_FILES.values()) | {MANIFEST}  # all a fit ever writes into a model folder
READ_ATTEMPTS = 5  # a model replaced while it is read is read again, this many times at most


def check_model_folder(folder, inputs=(), option: str = "`out`") -> None:
    """:func:`_check_model_folder`, under the lock a model folder's swap holds: another fit replacing the
    folder at that moment is waited for instead of read half-way."""
    parent = Path(folder).parent if str(Path(folder).parent) else Path(".")
    with _parent_lock(parent) if parent.is_dir() else contextlib.nullcontext():
        _check_model_folder(folder, inputs, option)


def _check_model_folder(folder, inputs=(), option: str = "`out`") -> None:
    """Refuse a model folder path that is a file, a dangling link, a new folder named like a file
    (model.safetensors), a folder with anything but a model in it, an input of the command, or in a missing or
    unwritable parent folder. A model folder is replaced whole, so one that also holds a user's files (notes,
    a scores folder) is refused rather than emptied."""
    folder = Path(folder)
    refuse_dangling_link(folder, option)
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{option} {folder} is a file; give a folder name for the model.")
    if folder.suffix.lower() in OTHER_FORMAT_SUFFIXES and not (folder / MANIFEST).is_file():
        raise ArtifactError(f"{option} {folder} names a {folder.suffix[1:]} file, but the model is a folder of "
                            f"several files; give a folder name such as {folder.with_suffix('').name}/.")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MANIFEST).is_file():
            raise ArtifactError(f"{option} {folder} is a folder with other files in it; give a new or empty folder, "
                                "or an earlier model folder to replace.")
        # (an entry gone by the time it is looked at was moved by another fit's swap: not a user's file)
        others = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                        if p.name not in FIT_FILES or p.is_symlink() or not p.is_file() and p.exists())
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise ArtifactError(f"{option} {folder} holds a model and also {shown}, which replacing the model would "
                                "delete; move those out of the folder or choose another folder.")
    for item in inputs:
        if item is None or str(item).startswith("builtin:"):
            continue
        item = Path(item).resolve()
        if item == folder.resolve() or folder.resolve() in item.parents:
            raise ArtifactError(f"{option} {folder} holds an input of this command; replacing it would destroy the "
                                "input, so choose another folder.")
    check_output(folder.parent / ".cance-probe", option=option)  # parent exists and is writable


def refuse_output_inside_model(out, model, option: str = "`out`") -> None:
    """Refuse an output at or anywhere below the model folder: it could replace a stage of the model, and the
    next `cance fit` into that folder would have to delete it."""
    out, model = Path(out).resolve(), Path(model).resolve()
    if out == model or model in out.parents:
        raise ArtifactError(f"{option} {out} lies inside the model folder {model}; writing there could replace a "
                            "stage of the model, so choose a path elsewhere.")


@contextlib.contextmanager
def _parent_lock(parent: Path) -> Iterator[None]:
    """An exclusive lock on the parent folder while a model folder is swapped: two fits writing one folder
    take turns instead of moving each other's folders (flock on the directory itself: no lock file left)."""
    import fcntl

    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a folder we may write but not read: no lock, the checks still run
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_model_folder(folder, writers: dict[str, Any], manifest: dict[str, Any]) -> Path:
    """Write each stage with ``writers[file_name](path)`` and the manifest, then swap the folder into place."""
    folder = Path(folder)
    check_model_folder(folder)
    parent = folder.parent if str(folder.parent) else Path(".")
    remove_stale_temp_folders(parent, f".{folder.name}.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", suffix=".tmp", dir=parent))
    old = None
    try:
        stages = {}
        for name, write in writers.items():
            if name not in STAGE_FILES.values():
                raise ValueError(f"unknown stage file {name!r}")
            write(tmp / name)
            stages[name] = {"sha256": file_sha256(tmp / name)}
        doc = json.loads(dumps({**provenance_header(FORMAT), "format_version": FORMAT_VERSION, "files": stages,
                                **manifest}))
        doc["manifest_digest"] = manifest_digest(doc)
        (tmp / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")
        raise_if_interrupted()
        os.chmod(tmp, 0o777 & ~current_umask())
        with _parent_lock(parent):
            _check_model_folder(folder)  # again: files may have been put there while the model was fitted
            if folder.exists():
                old = parent / f".{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.old"  # unique per writer
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


def remove_stale_temp_folders(parent: Path, prefix: str) -> None:
    """Remove ``PREFIX<pid>.*.tmp`` / ``PREFIX<pid>.*.old`` folders whose writer is dead (a killed fit)."""
    for path in parent.glob(f"{glob_escape(prefix)}*"):
        rest = path.name[len(prefix):].split(".", 1)
        if len(rest) == 2 and rest[0].isdigit() and rest[1].endswith((".tmp", ".old")) \
                and int(rest[0]) != os.getpid() and not pid_alive(int(rest[0])) and path.is_dir() \
                and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


class _Changed(Exception):
    """The folder was replaced while it was read: read it again."""


def _read_in(dir_fd: int, name: str, folder: Path) -> bytes:
    """A plain file's bytes, opened relative to the folder's handle; links are refused."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        raise _Changed from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactError(f"{folder / name} is a symbolic link; a model folder holds plain files only, so "
                                "re-create the model with `cance fit`.") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ArtifactError(f"{folder / name} is not a plain file; re-create the model with `cance fit`.")
        return fh.read()


def _still_there(folder: Path, dir_fd: int) -> bool:
    try:
        now, held = os.stat(folder), os.fstat(dir_fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def read_model_folder(folder) -> tuple[dict[str, Any], dict[str, bytes], str]:
    """``(manifest, stage bytes by file name, SHA-256 of the manifest file)``, all of one version of the folder.

    Every file is read through one handle of the folder and every stage is checked against the SHA-256 the
    manifest records, so a model replaced by another fit while it is read is read again (or refused), never
    mixed; a stage changed in place is refused.
    """
    folder = Path(folder)
    if folder.is_file():
        raise ArtifactError(f"{folder} is a file, not a model folder; pass the folder `cance fit` wrote.")
    for attempt in range(READ_ATTEMPTS):
        try:
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            parent = folder.parent if str(folder.parent) else Path(".")
            with _parent_lock(parent) if parent.is_dir() else contextlib.nullcontext():
                missing = not folder.exists()  # under the swap's lock: not between its two renames
            if missing:
                raise ArtifactError(f"Model folder {folder} does not exist; create it with `cance fit`.") from None
            continue
        try:
            return _read_version(folder, dir_fd)
        except _Changed:
            time.sleep(0.02 * (attempt + 1))
        finally:
            os.close(dir_fd)
    raise ArtifactError(f"Model folder {folder} kept changing while it was read (another `cance fit` writing it?); "
                        "rerun when that fit has finished.")


def _read_version(folder: Path, dir_fd: int) -> tuple[dict[str, Any], dict[str, bytes], str]:
    path = folder / MANIFEST
    try:
        raw = _read_in(dir_fd, MANIFEST, folder)
    except _Changed:
        if _still_there(folder, dir_fd):
            raise ArtifactError(f"{folder} has no {MANIFEST}, so it is not a model folder; create one with "
                                "`cance fit`.") from None
        raise
    try:
        doc = strict_loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        raise ArtifactError(f"{path} is not readable JSON (or holds a NaN or infinite number); re-create the model "
                            "with `cance fit`.") from None
    check_manifest(doc, path)
    blobs = {}
    for name, info in doc["files"].items():
        try:
            blobs[name] = _read_in(dir_fd, name, folder)
        except _Changed:
            if _still_there(folder, dir_fd):
                raise ArtifactError(f"Model folder {folder} lacks {name}; re-create the model with `cance fit`.") \
                    from None
            raise
        if hashlib.sha256(blobs[name]).hexdigest() != info["sha256"]:
            if not _still_there(folder, dir_fd):
                raise _Changed
            raise ArtifactError(f"{folder / name} was changed after the model was written (SHA-256 differs from the "
                                "manifest); re-create the model with `cance fit`.")
    return doc, blobs, hashlib.sha256(raw).hexdigest()


def read_manifest(folder) -> dict[str, Any]:
    """The manifest of a model folder, checked: format, digest, values, and every stage file present and
    unaltered."""
    return read_model_folder(folder)[0]


def save_estimator(est, folder, provenance: dict[str, Any]) -> Path:
    """Write a fitted :class:`~cance_cli.estimator.CANCE` as a model folder."""
    from cance_cli.columns import latent_columns

    writers: dict[str, Any] = {}
    feature_map = est.autoencoder_ if est.autoencoder_ is not None else est.pca_
    map_file = STAGE_FILES["autoencoder" if est.autoencoder_ is not None else "pca"] if feature_map else None
    shared = {k: provenance[k] for k in ("source", "split", "normal_classes", "label_col", "test_fraction",
                                         "split_seed", "data_fingerprint") if k in provenance}
    if feature_map is not None:
        writers[map_file] = lambda path: save_part(feature_map, path, {**shared, "columns": _names(est)})
    if est.input_map_ is not None:
        writers[STAGE_FILES["input_map"]] = lambda path: save_part(est.input_map_, path,
                                                                    {**shared, "columns": _names(est)})
    if est.input_density_ is not None:
        source = {"feature_map": "input-map", "checkpoint": STAGE_FILES["input_map"]}
        writers[STAGE_FILES["input_density"]] = lambda path: save_part(
            est.input_density_, path, {"method": "input view", "feature_source": source, **shared})
    if est.knn_ is not None:
        writers[STAGE_FILES["knn"]] = lambda path: save_part(est.knn_, path, shared)

    def write_density(path: Path) -> None:
        source = {"feature_map": est.feature_map}
        if map_file is not None:  # the stage commands check features against this fingerprint
            source["checkpoint_sha256"] = file_sha256(path.parent / map_file)
            source["checkpoint"] = map_file
        save_part(est.density_, path, {"method": "CANCE" if est.features == "composite" else "LatNCE",
                                       "features": est.features, "feature_source": source, **shared})

    if est.density_ is not None:
        writers[STAGE_FILES["density"]] = write_density
    schema = {"n_features_in": int(est.n_features_in_), "columns": _names(est),
              "kind": est.settings_["kind"],
              "input_shape": (list(feature_map.input_shape_) if hasattr(feature_map, "input_shape_") else
                              [int(est.n_features_in_)]),
              "input_dtypes": getattr(feature_map, "input_dtypes_", None),
              "row_norm": getattr(est, "row_norm_", "none")}
    if getattr(est, "encoding_", None) is not None:  # how the table's columns become `columns`
        schema["encoding"] = est.encoding_.to_json()
    stages = {"feature_map": map_file, "density": STAGE_FILES["density"] if est.density_ is not None else None,
              **{k: STAGE_FILES[k] if getattr(est, k + "_") is not None else None
                 for k in ("input_map", "input_density", "knn")}}
    manifest = {"stages": stages, "views": est.views_, "calibration": est.calibration_,
                "estimator": est.get_params(), "settings": est.settings_, "schema": schema,
                "latent_columns": latent_columns(int(est.settings_["latent"])) if feature_map is not None else None,
                "threshold": {"value": est.threshold_, **est.threshold_info_},
                "training_scores": est.score_stats_,
                **({} if getattr(est, "typical_", None) is None else  # what explanations compare with
                   {"typical_row": est.typical_.tolist(), "normal_range": est.normal_range_.tolist()}),
                **provenance}
    return write_model_folder(folder, writers, manifest)


def _names(est) -> list[str] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def load_estimator(cls, folder, device: str = "cpu"):
    """Rebuild a fitted estimator of class ``cls`` from a model folder (one consistent version of it)."""
    folder = Path(folder)
    doc, blobs, manifest_sha = read_model_folder(folder)
    with preloaded({folder / name: data for name, data in blobs.items()}):
        est = _rebuild_estimator(cls, folder, doc, device)
    est.manifest_ = doc
    est.manifest_sha256_ = manifest_sha
    return est


def _rebuild_estimator(cls, folder: Path, doc: dict[str, Any], device: str):
    # Each stage is read by the part its checkpoint names (parts.load_part): a registered density loads too.
    try:
        params = {**doc["estimator"], "device": device}
        est = cls(**params)
        stages = doc["stages"]
        def opened(key: str, kind: str):
            return None if stages.get(key) is None else load_part(folder / stages[key], device, kind)

        feature_map = opened("feature_map", "feature_map")
        est.autoencoder_ = feature_map if stages["feature_map"] == STAGE_FILES["autoencoder"] else None
        est.pca_ = feature_map if stages["feature_map"] == STAGE_FILES["pca"] else None
        est.density_ = opened("density", "density")
        est.input_map_ = opened("input_map", "feature_map")
        est.input_density_ = opened("input_density", "density")
        est.knn_ = opened("knn", "view")
        est.views_ = list(doc.get("views", ["composite"]))  # format 1: the composite view only
        est.calibration_ = {v: {"median": float(c["median"]), "iqr": float(c["iqr"])}
                            for v, c in doc.get("calibration", {}).items()}
        est.settings_ = doc["settings"]
        est.threshold_ = float(doc["threshold"]["value"])
        est.threshold_info_ = {k: v for k, v in doc["threshold"].items() if k != "value"}
        est.n_features_in_ = int(doc["schema"]["n_features_in"])
        est.row_norm_ = doc["schema"].get("row_norm", "none")  # folders before it: rows as given
        if est.row_norm_ not in ("unit", "none"):
            raise ValueError("row_norm")
        if doc["schema"].get("columns"):
            est.feature_names_in_ = np.asarray(doc["schema"]["columns"], dtype=object)
        est.encoding_ = None
        if "encoding" in doc["schema"]:
            from cance_cli.data.encoding import TableEncoding

            est.encoding_ = TableEncoding.from_json(doc["schema"]["encoding"], str(folder / MANIFEST))
        est.score_stats_ = {k: float(v) for k, v in doc["training_scores"].items()
                            if k in ("min", "max", "mean", "median", "std")}
        typical = doc.get("typical_row")  # explanations' reference row (absent from older folders)
        est.typical_ = None if typical is None else np.asarray(typical, dtype=np.float64)
        est.normal_range_ = None if typical is None else np.asarray(doc["normal_range"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{folder / MANIFEST} is missing or has malformed entries; re-create the model with "
                            "`cance fit`.") from None
    return est
