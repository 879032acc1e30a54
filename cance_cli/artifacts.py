"""Reading and writing the files that pass between stages.

Checkpoints are safetensors files whose string metadata holds one JSON
document under the key ``cance``; tables are Parquet files whose schema
metadata holds one under the same key. Every write goes to a temporary file
in the destination folder and is renamed into place, so a crash never leaves
a half-written artifact and an existing file is only replaced by a complete one.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli._version import __version__
from cance_cli.errors import ArtifactError, ConfigError, DataError

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


TMP_SUFFIX = ".tmp"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temps(target: Path) -> None:
    """Delete temporary files a killed run left beside ``target``.

    Temporary names carry the writer's pid (``.NAME.PID.XXXX.tmp``); a file
    whose writer is no longer running can never be completed.
    """
    parent = target.parent if str(target.parent) else Path(".")
    for tmp in parent.glob(f".{glob_escape(target.name)}.*{TMP_SUFFIX}"):
        pid_part = tmp.name[len(target.name) + 2:].split(".", 1)[0]
        if pid_part.isdigit() and int(pid_part) != os.getpid() and not pid_alive(int(pid_part)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# An interrupt (SIGINT / SIGTERM) the CLI received, recorded as well as raised. A handler's
# exception can be swallowed by the code it lands in (measured: a SIGTERM arriving while
# pyarrow lazily imported pandas vanished, and the command finished and replaced its
# output); every commit point below looks here first, so an interrupted command never
# renames its output into place.
_interrupts: list[type[BaseException]] = []


def record_interrupt(kind: type[BaseException] | None) -> None:
    """Note an interrupt of type ``kind`` (KeyboardInterrupt or the CLI's Terminated);
    ``None`` clears the record (at the start and end of a command)."""
    _interrupts.clear()
    if kind is not None:
        _interrupts.append(kind)


def interrupted() -> type[BaseException] | None:
    """The recorded interrupt's type, if there is one."""
    return _interrupts[0] if _interrupts else None


def raise_if_interrupted() -> None:
    """Raise the recorded interrupt again, if there is one."""
    if _interrupts:
        raise _interrupts[0]()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The finished file gets the permissions of a normally created one (0666
    less the umask), not mkstemp's 0600.
    """
    target = Path(path)
    check_output(target)
    parent = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        raise_if_interrupted()
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def first_repeat(paths: list, keys: list) -> tuple[int, int] | None:
    """``(i, j)``, ``i < j``, of the first input that repeats an earlier one: the same file, or the same
    non-None key (what identifies its content, e.g. a checkpoint fingerprint); None when all differ."""
    by_path: dict[Path, int] = {}
    by_key: dict[Any, int] = {}
    for j, (path, key) in enumerate(zip(paths, keys, strict=True)):
        resolved = Path(path).resolve()
        i = by_path.get(resolved, by_key.get(key) if key is not None else None)
        if i is not None:
            return i, j
        by_path[resolved] = j
        if key is not None:
            by_key[key] = j
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


# Suffixes of the two formats cance writes, and of formats a user may expect instead. A path ending in
# another format's suffix would get bytes its name misrepresents (a Parquet file called scores.csv).
OUTPUT_SUFFIXES = {"parquet": (".parquet", ".pq"), "safetensors": (".safetensors",), "png": (".png",)}
FORMAT_NAMES = {"parquet": "a Parquet table", "safetensors": "a safetensors checkpoint", "png": "a PNG image"}
OTHER_FORMAT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".jsonl", ".npz", ".npy", ".mat", ".pkl", ".pickle",
                         ".pt", ".pth", ".ckpt", ".h5", ".hdf5", ".xlsx", ".png", ".pdf", ".svg", ".jpg", ".jpeg",
                         ".parquet", ".pq", ".safetensors"}


def check_output(path: str | os.PathLike | None, inputs=(), option: str = "--out", writes: str | None = None) -> None:
    """Refuse an output path that cannot or must not be written, before any work.

    Raises for a path that is a folder, equals one of ``inputs`` (writing it
    would destroy the input), lies in a folder that is missing or not
    writable, or (with ``writes`` = ``"parquet"``, ``"safetensors"`` or ``"png"``)
    ends in another format's suffix.
    """
    if path is None:
        return
    target = Path(path)
    refuse_dangling_link(target, option)
    if target.is_dir():
        raise ArtifactError(f"{option} {target} is a folder; give a file name inside it.")
    for item in inputs:
        if item is not None and not str(item).startswith("builtin:") and _same_file(target, Path(item)):
            raise ArtifactError(f"{option} {target} is also an input of this command; writing it would destroy "
                                "the input, so choose another file name.")
    suffix = target.suffix.lower()
    if writes is not None and suffix in OTHER_FORMAT_SUFFIXES - set(OUTPUT_SUFFIXES[writes]):
        raise ArtifactError(f"{option} {target} names a {suffix[1:]} file, but this command writes "
                            f"{FORMAT_NAMES[writes]}; name it {target.with_suffix(OUTPUT_SUFFIXES[writes][0]).name}.")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ArtifactError(f"Output folder {parent} does not exist; create it or choose another {option}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(f"Output folder {parent} is not writable; choose another {option} or fix its "
                            "permissions.")


def refuse_dangling_link(target: Path, option: str) -> None:
    """A symbolic link to nothing cannot be written through and would be replaced by a real file or folder."""
    if target.is_symlink() and not target.exists():
        raise ArtifactError(f"{option} {target} is a symbolic link to a missing path ({os.readlink(target)}); "
                            "remove the link or choose another name.")


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs=(),
                  writes: dict[str, str] | None = None) -> None:
    """:func:`check_output` for several ``{option: path}`` (``writes``: ``{option: format}``); they must also
    differ from each other."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise ArtifactError(f"{seen[key]} and {option} name the same file {path}; give them different names.")
        seen[key] = option
    for option, path in outputs.items():
        check_output(path, inputs, option, (writes or {}).get(option))


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


# --------------------------------------------------------------------------- checkpoints

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
    """Metadata of a cance checkpoint, without loading its tensors."""
    return _meta_of(_checkpoint_bytes(Path(path)), Path(path))


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


# --------------------------------------------------------------------------- tables


def table_meta(schema) -> dict[str, Any]:
    """The cance provenance document from a Parquet schema ({} if absent)."""
    raw = (schema.metadata or {}).get(META_KEY.encode())
    if raw is None:
        return {}
    try:
        doc = strict_loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def schema_with_meta(schema, meta: dict[str, Any]):
    """Attach the provenance document (plus format and versions) to a schema."""
    doc = {**provenance_header(FORMAT_NAME), **meta}
    return schema.with_metadata({META_KEY: dumps(doc)})


# Rows are gathered into row groups of about this size before they are written: one
# row group per small batch (e.g. `cance embed`'s 64 images) made a 60,000 x 1,280
# embedding table 938 row groups and 1.2 M column chunks, whose 117 MB of footer
# alone took minutes and over 10 GB to read back.
ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 32 << 20


def dictionary_columns(schema) -> list[str]:
    """Columns worth dictionary encoding: not floats (continuous values rarely repeat)
    and not ``id`` (unique by definition). On 1 M scores the dictionary attempt cost
    0.3 s, most of writing, and left a larger file (16 MB against 12 MB)."""
    import pyarrow as pa

    return [f.name for f in schema if not pa.types.is_floating(f.type) and f.name != "id"]


class AtomicParquetWriter:
    """Write record batches to a Parquet file that appears only when complete.

    Use as a context manager; on an exception the temporary file is removed and
    any existing file at ``path`` is left untouched. Batches are buffered into
    row groups of up to :data:`ROW_GROUP_ROWS` rows or :data:`ROW_GROUP_BYTES`
    bytes, whatever size the caller writes them in (memory holds one row group).
    """

    def __init__(self, path: str | os.PathLike, schema, meta: dict[str, Any]):
        self.path = Path(path)
        self.schema = schema_with_meta(schema, meta)
        self._ctx = atomic_path(self.path)
        self._writer = None
        self._pending: list = []
        self._pending_rows = self._pending_bytes = 0
        self.rows = 0

    def __enter__(self) -> AtomicParquetWriter:
        import pyarrow.parquet as pq

        tmp = self._ctx.__enter__()
        # Page checksums (CRC32): a damaged page is refused on read instead of scored as other numbers.
        self._writer = pq.ParquetWriter(str(tmp), self.schema, use_dictionary=dictionary_columns(self.schema),
                                        write_page_checksum=True)
        return self

    def write(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa

        self._add(pa.RecordBatch.from_pydict(columns, schema=self.schema))

    def write_table(self, table) -> None:
        """Write a ``pyarrow`` Table with the writer's columns (cast to its schema)."""
        table = table.select(self.schema.names)
        # Cast only when a type differs: the first cast imports pyarrow.compute (0.2-0.25 s here),
        # a tenth of `cance score`'s work on a million rows whose types already match.
        if not table.schema.equals(self.schema, check_metadata=False):
            table = table.cast(self.schema)
        self._add(table)

    def _add(self, data) -> None:
        raise_if_interrupted()  # a long stream stops at its next batch, not at the end
        self._pending.append(data)
        self._pending_rows += data.num_rows
        self._pending_bytes += data.nbytes
        self.rows += data.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS or self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        parts = [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in self._pending]
        self._writer.write_table(pa.concat_tables(parts), row_group_size=max(self._pending_rows, 1))
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._writer.close()
        return bool(self._ctx.__exit__(exc_type, exc, tb))


def open_table(path: str | os.PathLike):
    """Open a Parquet file for streaming; a clear error if it is missing or not Parquet."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"Table {path} does not exist; check the path or create it with an earlier stage.")
    try:
        # pre_buffer=False: with it, iter_batches keeps every column chunk it has
        # read (measured: +150 MB per million 36-column rows); without, memory is flat.
        return pq.ParquetFile(str(path), pre_buffer=False, page_checksum_verification=True)
    except Exception:
        raise ArtifactError(f"{path} is not a readable Parquet file; pass a table written by cance.") from None


def iter_batches(pf, path, batch_size: int, columns: list[str] | None = None):
    """``pf.iter_batches`` with corrupt data pages turned into one sentence.

    The next batch is read in a background thread while the caller works on
    the current one (pyarrow decodes without holding the GIL): reading is
    about a quarter of `cance score`'s time and overlaps with scoring.
    """
    from concurrent.futures import ThreadPoolExecutor

    batches = pf.iter_batches(batch_size, columns=columns)

    def read_next():
        try:
            return next(batches)
        except StopIteration:
            return None
        except Exception:  # pyarrow raises OSError/ArrowInvalid for damaged pages
            raise DataError(f"{path} has corrupt or unreadable data pages; re-create the table.") from None

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cance-read") as reader:
        pending = reader.submit(read_next)
        while (batch := pending.result()) is not None:
            pending = reader.submit(read_next)
            yield batch


def read_columns(pf, path, columns: list[str]):
    """Read whole columns of an open Parquet file, corrupt pages stated as one sentence."""
    try:
        return pf.read(columns=columns)
    except Exception:
        raise DataError(f"{path} has corrupt or unreadable data pages; re-create the table.") from None


def numeric_values(column) -> np.ndarray:
    """An Arrow column as a numpy array: fixed-width integers and floats without
    nulls are read from their value buffer (no copy), anything else through
    ``to_numpy``. pyarrow's own conversion imports pandas on first use when it is
    installed (its converter initialises pandas' static data): 0.3-0.5 s of a
    `cance score` that never needs pandas."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks != 1:
            return column.to_numpy()
        column = column.chunk(0)
    kind = column.type
    if column.null_count or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return np.asarray(column.to_numpy(zero_copy_only=False))
    dtype = np.dtype(kind.to_pandas_dtype())
    if len(column) == 0:
        return np.empty(0, dtype)
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * dtype.itemsize)


def float64_column(values: np.ndarray):
    """A pyarrow float64 Array over the 1-D ``values``, built from their buffer:
    ``pa.array`` first checks for pandas objects and so imports pandas too."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def anomaly_flags(path, column) -> np.ndarray:
    """An ``is_anomaly`` column as bool; anything but 0/1 (or booleans) is refused."""
    import pyarrow.types as pat

    if not (pat.is_integer(column.type) or pat.is_boolean(column.type)):
        raise DataError(f"{path}: column 'is_anomaly' holds {column.type} values; it must be 0/1 integers or "
                        "booleans, so recode it.")
    if column.null_count:
        raise DataError(f"{path}: column 'is_anomaly' has {column.null_count} missing values; fill them with 0 or 1.")
    values = numeric_values(column)
    if len(values) and values.dtype != bool and (values.min() < 0 or values.max() > 1):  # integers: 0/1 only
        raise DataError(f"{path}: column 'is_anomaly' holds values other than 0 and 1; recode it.")
    return values.astype(bool)


def identity_columns(batch, label_col: str | None, normal: list[str] | None) -> dict[str, Any]:
    """What a row keeps from an Arrow batch through every stage: ``id`` and the
    label column (as ``label``) when the batch has them, and ``is_anomaly``
    (label not among ``normal``) when normal classes are known."""
    import pyarrow as pa

    names = batch.schema.names
    cols: dict[str, Any] = {}
    if "id" in names:
        cols["id"] = batch.column("id")
    if label_col and label_col in names:
        labels = batch.column(label_col)
        cols["label"] = labels
        if normal:
            values = np.asarray(labels.to_numpy(zero_copy_only=False)).astype(str)
            cols["is_anomaly"] = pa.array((~np.isin(values, normal)).astype(np.int8))
    return cols


def require_columns(path, schema, columns: list[str], hint: str) -> None:
    """Raise a clear error naming the first missing column."""
    names = set(schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ArtifactError(f"Table {path} has no column '{missing[0]}' ({len(missing)} missing); {hint}")
