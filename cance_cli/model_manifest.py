"""What a model folder's ``manifest.json`` must hold before anything in the folder is trusted: cance's
format and version, a digest matching the content, stages that are the folder's own hashed files, and every
number the scores depend on typed and finite."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from cance_cli.errors import ArtifactError
from cance_cli.io.model_layout import FORMAT, FORMAT_VERSION, STAGE_FILES


def manifest_digest(doc: dict[str, Any]) -> str:
    """SHA-256 of a manifest's content without its own digest field (canonical JSON)."""
    body = {k: v for k, v in doc.items() if k != "manifest_digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_manifest(doc: Any, path: Path) -> None:
    """Refuse a manifest that is not one cance wrote: wrong format or version, a digest that does not match its
    content, a stage that is not a plain file of the folder or not hashed, or a number of the wrong type."""
    def bad(what: str) -> ArtifactError:
        return ArtifactError(f"{path} {what}; re-create the model with `cance fit`.")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), dict) \
            or not isinstance(doc.get("estimator"), dict) or not isinstance(doc.get("threshold"), dict):
        raise bad("is not a cance model manifest")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise bad(f"has format version {version!r}, which this version of cance (format {FORMAT_VERSION}) cannot "
                  "read")
    if version >= 3 and doc.get("manifest_digest") != manifest_digest(doc):
        raise bad("was edited after the model was written (its content does not match its digest)")
    for name, info in doc["files"].items():
        if name not in STAGE_FILES.values():
            raise bad(f"names a stage file {name!r} that is not one of a model folder's own files")
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise bad(f"records no SHA-256 for {name}")
    stages = doc.get("stages")
    if not isinstance(stages, dict):
        raise bad("has no stages")
    for key, name in stages.items():
        if name is not None and (not isinstance(name, str) or name not in doc["files"]):
            raise bad(f"names {name!r} for its {key} stage, which is not a hashed file of the folder")
    _check_numbers(doc, bad)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rows_of(n: int, *rows) -> bool:
    """Whether each of ``rows`` is a list of ``n`` finite numbers."""
    return all(isinstance(r, list) and len(r) == n and all(map(_number, r)) for r in rows)


def _check_numbers(doc: dict[str, Any], bad) -> None:
    """Every number the scores depend on, as strictly as the command-line options."""
    if not _number(doc["threshold"].get("value")):
        raise bad("has no finite threshold value")
    views = doc.get("views", ["composite"])
    if not isinstance(views, list) or not views or not all(v in ("composite", "input", "knn") for v in views):
        raise bad("lists unknown views")
    calibration = doc.get("calibration", {})
    if not isinstance(calibration, dict) or (len(views) > 1 and set(views) - set(calibration)):
        raise bad("lacks the calibration of its views")
    for view, c in calibration.items():
        if not isinstance(c, dict) or not _number(c.get("median")) or not _number(c.get("iqr")) or c["iqr"] <= 0:
            raise bad(f"has a malformed calibration of view {view!r} (a finite median and an IQR > 0 are needed)")
    scores = doc.get("training_scores")
    if not isinstance(scores, dict) or not all(_number(scores.get(k)) for k in ("min", "max", "mean", "std")) \
            or not _number(scores.get("median", 0.0)):
        raise bad("has malformed training score statistics")
    schema = doc.get("schema")
    n = schema.get("n_features_in") if isinstance(schema, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise bad("has no valid input width (schema.n_features_in)")
    columns = schema.get("columns")
    if columns is not None and (not isinstance(columns, list) or len(columns) != n
                                or not all(isinstance(c, str) for c in columns)):
        raise bad("has malformed input columns")
    if "typical_row" in doc and not _rows_of(n, doc["typical_row"], *(doc.get("normal_range") or [None, None])):
        raise bad("has a malformed typical row or normal range (finite numbers, one per input column)")
    if "encoding" in schema:
        from cance_cli.data.encoding import TableEncoding

        if columns is None or TableEncoding.from_json(schema["encoding"]).output_names != columns:
            raise bad("has a column encoding that does not give its input columns")
