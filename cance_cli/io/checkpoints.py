"""safetensors checkpoints whose metadata holds one JSON document under the key ``cance``."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError, ConfigError
from cance_cli.io.paths import atomic_path
from cance_cli.io.provenance import FORMAT_NAME, META_KEY, dumps, provenance_header, strict_loads

# Checkpoint bytes already read and verified (a model folder's stages, read as one version of the folder):
# the loaders use these instead of opening the path again, which another writer may have replaced meanwhile.
_PRELOADED: contextvars.ContextVar[dict[str, bytes] | None] = contextvars.ContextVar("cance_preloaded", default=None)


@contextlib.contextmanager
def preloaded(blobs: dict[str | os.PathLike, bytes]) -> Iterator[None]:
    """Within the block, checkpoints at these paths are read from the given bytes."""
    token = _PRELOADED.set({**(_PRELOADED.get() or {}), **{str(Path(p).resolve()): b for p, b in blobs.items()}})
    try:
        yield
    finally:
        _PRELOADED.reset(token)


def _checkpoint_bytes(path: Path) -> bytes:
    held = (_PRELOADED.get() or {}).get(str(path.resolve()))
    if held is not None:
        return held
    if not path.is_file():
        raise ArtifactError(f"Checkpoint {path} does not exist; check the path or train it first.")
    return path.read_bytes()


def _header_metadata(data: bytes, path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (8-byte little-endian length, then JSON)."""
    if len(data) < 8:
        raise ArtifactError(f"{path} is not a readable safetensors file (too short); pass a checkpoint written by "
                            "cance.")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ArtifactError(f"{path} is not a readable safetensors file (its header runs past the end); pass a "
                            "checkpoint written by cance.")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, ValueError):
        raise ArtifactError(f"{path} is not a readable safetensors file (corrupt header); pass a checkpoint written "
                            "by cance.") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write tensors (torch or numpy, moved to CPU) and JSON metadata atomically.

    ``meta`` must contain ``stage``; format name and versions are added here.
    """
    from safetensors.numpy import save_file

    if "stage" not in meta:
        raise ValueError("checkpoint metadata needs a 'stage'")
    arrays = {}
    for name, value in tensors.items():
        if hasattr(value, "detach"):  # torch tensor, possibly on GPU
            value = value.detach().cpu().contiguous().numpy()
        arrays[name] = np.ascontiguousarray(value)
    doc = {**provenance_header(FORMAT_NAME), **meta}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={META_KEY: dumps(doc)})
    return Path(path)


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a cance checkpoint, without reading its tensors (only the header is read from disk)."""
    return _meta_of(_header_bytes(Path(path)), Path(path))


def _header_bytes(path: Path) -> bytes:
    """The length prefix and JSON header of a safetensors file: verified bytes when the file was preloaded,
    else only those bytes read from disk (a checkpoint of many MB is not read whole for its metadata)."""
    held = (_PRELOADED.get() or {}).get(str(path.resolve()))
    if held is not None:
        return held
    if not path.is_file():
        raise ArtifactError(f"Checkpoint {path} does not exist; check the path or train it first.")
    with open(path, "rb") as fh:
        prefix = fh.read(8)
        size = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
        return prefix + fh.read(min(size, max(path.stat().st_size - 8, 0)))


def _meta_of(data: bytes, path: Path) -> dict[str, Any]:
    raw = _header_metadata(data, path).get(META_KEY)
    if raw is None:
        raise ArtifactError(f"{path} is a safetensors file but not a cance checkpoint; pass one written by cance.")
    try:
        doc = strict_loads(raw)
    except ValueError:  # JSONDecodeError, or NaN / infinity a writer of cance never puts there
        raise ArtifactError(f"{path} has corrupt cance metadata (not JSON, or a NaN or infinite number); "
                            "re-create the checkpoint.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME or "stage" not in doc:
        raise ArtifactError(f"{path} is not a cance checkpoint; pass one written by cance.")
    return doc


def load_checkpoint(
    path: str | os.PathLike, expected_stage: str | tuple[str, ...] | None = None,
    required: dict[str, type | tuple[type, ...]] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load tensors (as numpy, on CPU) and metadata; check the stage if asked.

    ``required`` maps metadata fields to the JSON types they must have; a
    missing or mistyped field, a tensor that cannot be read, or a NaN/inf
    weight is refused with one sentence.
    """
    from safetensors.numpy import load

    data = _checkpoint_bytes(Path(path))
    meta = _meta_of(data, Path(path))
    if expected_stage is not None:
        allowed = (expected_stage,) if isinstance(expected_stage, str) else expected_stage
        if meta["stage"] not in allowed:
            raise ArtifactError(
                f"{path} is a checkpoint of stage '{meta['stage']}', but this step needs stage "
                f"'{' or '.join(allowed)}'; pass the right file."
            )
    require_meta(path, meta, required or {})
    try:
        tensors = load(data)
    except Exception:  # truncated or corrupt tensor data behind a valid header
        raise ArtifactError(f"{path} has unreadable tensor data; re-create the checkpoint.") from None
    for name, value in tensors.items():
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            raise ArtifactError(f"{path} holds NaN or infinite weights in '{name}'; the training diverged or the "
                                "file was altered, so retrain it.")
    return tensors, meta


def require_meta(path, meta: dict[str, Any], required: dict[str, type | tuple[type, ...]]) -> None:
    """Raise one sentence if a metadata field is missing or of the wrong JSON type."""
    for key, kind in required.items():
        if key not in meta:
            raise ArtifactError(f"{path} lacks the metadata field '{key}' that this version needs; re-create the "
                                "checkpoint with this version of cance.")
        value = meta[key]
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
            raise ArtifactError(f"{path} has a malformed metadata field '{key}'; re-create the checkpoint.")


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


@contextlib.contextmanager
def rebuilding(path) -> Iterator[None]:
    """Rebuild an estimator from checkpoint contents; a missing tensor, a
    mistyped parameter or mis-shaped weights become one sentence."""
    try:
        yield
    except ArtifactError:
        raise
    except (ConfigError, KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError):
        raise ArtifactError(f"{path}: its metadata or weights do not describe a model this version can rebuild "
                            "(missing, mistyped or mis-shaped entries); re-create the checkpoint.") from None


def build_matching(build, state: dict[str, Any], path=None):
    """``build()``, once a probe built on torch's meta device (no memory) shows that the module it makes has
    exactly the stored tensors' names and shapes: metadata that declares huge widths is refused before any
    allocation, not after gigabytes of it."""
    import torch

    with torch.device("meta"):
        probe = build()
    def shapes(tensors) -> dict[str, tuple[int, ...]]:  # a scalar buffer may be stored as shape (1,)
        return {k: tuple(v.shape) or (1,) for k, v in tensors.items()}

    if shapes(probe.state_dict()) != shapes(state):
        if path is None:  # the caller's `rebuilding(path)` states it
            raise ValueError("stored tensors do not match the declared architecture")
        raise ArtifactError(f"{path}: the stored weights do not fit the architecture its metadata describes "
                            "(missing, extra or mis-shaped tensors); re-create the checkpoint.")
    return build()


def load_state(module, state: dict, path) -> None:
    """``module.load_state_dict(state)`` with a mismatch stated as one sentence."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError):
        raise ArtifactError(f"{path}: the stored weights do not fit the architecture its metadata describes "
                            "(missing, extra or mis-shaped tensors); re-create the checkpoint.") from None
