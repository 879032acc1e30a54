"""Parquet tables whose schema metadata holds one JSON document under the key ``cance``: written
atomically with page checksums, read in streamed batches, corrupt pages stated as one sentence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.columns import is_anomaly
from cance_cli.errors import ArtifactError, DataError
from cance_cli.io.paths import atomic_path
from cance_cli.io.provenance import FORMAT_NAME, META_KEY, dumps, provenance_header, strict_loads
from cance_cli.runtime.interrupts import raise_if_interrupted


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


class AtomicCSVWriter:
    """:class:`AtomicParquetWriter`'s interface for a CSV file (a score table a spreadsheet opens): the same
    columns, written batch by batch to a temporary file renamed into place when complete. CSV holds no
    metadata, so the provenance stays with Parquet outputs."""

    def __init__(self, path: str | os.PathLike, schema, meta: dict[str, Any] | None = None):
        self.path, self.schema = Path(path), schema.remove_metadata()
        self._ctx = atomic_path(self.path)
        self._writer = None
        self.rows = 0

    def __enter__(self) -> AtomicCSVWriter:
        import pyarrow.csv as pacsv

        self._writer = pacsv.CSVWriter(str(self._ctx.__enter__()), self.schema)
        return self

    def write(self, columns: dict[str, Any]) -> None:
        import pyarrow as pa

        raise_if_interrupted()
        batch = pa.RecordBatch.from_pydict(columns, schema=self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._writer.close()
        return bool(self._ctx.__exit__(exc_type, exc, tb))


def table_writer(path: str | os.PathLike, schema, meta: dict[str, Any]):
    """A CSV writer for a ``.csv`` path, else the Parquet writer (with ``meta`` as provenance)."""
    return (AtomicCSVWriter if Path(path).suffix.lower() == ".csv" else AtomicParquetWriter)(path, schema, meta)


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
            cols["is_anomaly"] = pa.array(is_anomaly(values, normal))
    return cols


def require_columns(path, schema, columns: list[str], hint: str) -> None:
    """Raise a clear error naming the first missing column."""
    names = set(schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ArtifactError(f"Table {path} has no column '{missing[0]}' ({len(missing)} missing); {hint}")
