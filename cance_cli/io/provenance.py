"""What every artifact says about itself: format, versions, the command that made it; fingerprints;
strict JSON (never NaN) for its metadata."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli._version import __version__

META_KEY = "cance"
FORMAT_NAME = "cance"


_RUN: dict[str, Any] = {}


def set_run_context(context: dict[str, Any] | None) -> None:
    """Record how the current command was invoked (argv, effective options,
    config file); every artifact written afterwards carries it under ``run``."""
    _RUN.clear()
    _RUN.update(context or {})


def run_context() -> dict[str, Any]:
    """What :func:`set_run_context` recorded ({} outside a CLI command)."""
    return dict(_RUN)


def provenance_header(format_name: str = "cance") -> dict[str, Any]:
    """The fields every artifact's metadata starts with: format, versions and (inside a CLI command) ``run``."""
    return {"format": format_name, "versions": versions(), **({"run": run_context()} if _RUN else {})}


def versions() -> dict[str, str]:
    """Versions of the software that made an artifact (torch only if loaded)."""
    import sys

    out = {"cance": __version__, "python": platform.python_version(), "numpy": np.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    return out


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def array_fingerprint(*arrays: np.ndarray) -> str:
    """Short SHA-256 over the bytes, shapes and dtypes of arrays (input provenance)."""
    digest = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        digest.update(str((arr.shape, arr.dtype.str)).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats replaced by None and numpy scalars made plain (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(doc: Any) -> str:
    """Strict JSON (never NaN) of a metadata document."""
    return json.dumps(json_safe(doc), allow_nan=False)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):  # 1e999 parses as inf
        raise ValueError(f"non-finite number {text}")
    return value


def strict_loads(text: str | bytes) -> Any:
    """JSON as cance writes it: NaN, Infinity and numbers beyond float range are refused (ValueError),
    so a crafted threshold or calibration value cannot pass as a number."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
