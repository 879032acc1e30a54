"""Side-by-side composite features of several feature maps (beyond the paper).

`cance join A.parquet B.parquet` puts, for example, the autoencoder's
``[z, recon_error, cos_dissim]`` and a pretrained network's PCA
``[z, recon_error, cos_dissim]`` of the same images into one feature table, so
one density models both. Columns are prefixed with each part's name
(``ae.z_0``, ``pca.recon_error``); ``id``, ``label`` and ``is_anomaly`` appear once.
The parts must hold the same rows in the same order (same ids), as two
`cance features` runs on one source do. The joined table records each part
and a combined feature-map fingerprint, so a density fitted on the joined
training table refuses a test table joined from other feature maps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.columns import RECON_COLUMNS
from cance_cli.errors import ArtifactError, ConfigError, DataError
from cance_cli.features import TABLE_STAGE
from cance_cli.io.paths import check_output, first_repeat
from cance_cli.io.provenance import file_sha256
from cance_cli.io.tables import AtomicParquetWriter, iter_batches, open_table, table_meta

IDENTITY = ["id", "label", "is_anomaly"]
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
SHORT = {"autoencoder": "ae", "pca": "pca"}
JOIN_BATCH = 65536


def default_names(metas: list[dict[str, Any]]) -> list[str]:
    """``ae`` / ``pca`` from each part's feature map; ``v1``, ``v2``, ... when they repeat."""
    names = [SHORT.get(str(m.get("feature_map")), "v") for m in metas]
    if len(set(names)) < len(names):
        return [f"v{i + 1}" for i in range(len(names))]
    return names


def _part_columns(path, schema) -> list[str]:
    """The composite columns of one part: its latents, then recon_error and cos_dissim."""
    if table_meta(schema).get("stage") != TABLE_STAGE:
        raise ArtifactError(f"{path} is not a feature table; join tables written by `cance features`.")
    latent = sorted((c for c in schema.names if re.fullmatch(r"z_\d+", c)), key=lambda c: int(c[2:]))
    missing = [c for c in RECON_COLUMNS if c not in schema.names]
    if not latent or missing:
        raise ArtifactError(f"{path} has no plain composite columns (z_0.., recon_error, cos_dissim); join tables "
                            "written by `cance features`, not joined ones.")
    return latent + RECON_COLUMNS


def _rebatch(batches, size: int) -> Iterator[Any]:
    """Arrow tables of exactly ``size`` rows (the last may be shorter) from any batching."""
    import pyarrow as pa

    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def _same_ids(first_path, other_path, first, other, offset: int) -> None:
    """Refuse chunks (equal lengths: the row counts were checked) whose ids differ."""
    a = first.column("id").to_numpy(zero_copy_only=False)
    b = other.column("id").to_numpy(zero_copy_only=False)
    diff = np.flatnonzero(a.astype(str) != b.astype(str)) if a.dtype != b.dtype else np.flatnonzero(a != b)
    if len(diff):
        r = int(diff[0])
        raise DataError(f"{first_path} and {other_path} hold different rows (row {offset + r}: id {a[r].item()!r} vs "
                        f"{b[r].item()!r}); compute both feature tables from the same data, in the same order.")


def _check_distinct_maps(tables: list, metas: list[dict[str, Any]]) -> None:
    """The same table twice, or two of one feature map, would repeat its columns: nothing gained, and a density
    over collinear columns."""
    repeat = first_repeat(tables, [m.get("checkpoint_sha256") for m in metas])
    if repeat is not None:
        i, j = repeat
        raise DataError(f"{tables[i]} and {tables[j]} hold the same feature map's columns; join tables of different "
                        "feature maps.")


def join_feature_tables(tables: list, out, names: list[str] | None = None) -> dict[str, Any]:
    """Write ``out``: the composite columns of every table side by side, prefixed with ``names``."""
    import pyarrow as pa

    if len(tables) < 2:
        raise ConfigError("Give at least two feature tables to join.")
    check_output(out, inputs=tables, writes="parquet")
    pfs = [open_table(t) for t in tables]
    schemas = [pf.schema_arrow for pf in pfs]
    metas = [table_meta(s) for s in schemas]
    _check_distinct_maps(tables, metas)
    names = list(names) if names else default_names(metas)
    if len(names) != len(tables):
        raise ConfigError(f"`names` gives {len(names)} names for {len(tables)} tables; give one per table.")
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad or len(set(names)) < len(names):
        raise ConfigError(f"`names` must be distinct words (letters, digits, _ or -), got {','.join(names)}.")
    columns = [_part_columns(t, s) for t, s in zip(tables, schemas)]
    for t, s in zip(tables, schemas):
        if "id" not in s.names:
            raise ArtifactError(f"{t} has no id column; join tables written by `cance features`.")
    lengths = [pf.metadata.num_rows for pf in pfs]
    if len(set(lengths)) > 1:
        raise DataError(f"The tables have {' vs '.join(map(str, lengths))} rows; compute every feature table from "
                        "the same data.")
    identity = [c for c in IDENTITY if c in schemas[0].names]
    fields = [schemas[0].field(c) for c in identity]
    for name, cols, schema in zip(names, columns, schemas):
        fields += [pa.field(f"{name}.{c}", schema.field(c).type) for c in cols]
    parts = [{"name": n, "table": str(t), "table_sha256": file_sha256(t), "feature_map": m.get("feature_map"),
              "checkpoint_sha256": m.get("checkpoint_sha256"), "latent": len(c) - 2}
             for n, t, m, c in zip(names, tables, metas, columns)]
    combined = hashlib.sha256("|".join(f"{p['name']}:{p['checkpoint_sha256']}" for p in parts).encode()).hexdigest()
    first = metas[0]
    meta = {"stage": TABLE_STAGE, "feature_map": "joined", "parts": parts, "checkpoint_sha256": combined,
            "feature_columns": [f.name for f in fields[len(identity):]],
            **{k: first.get(k) for k in ("source", "split", "normal_classes", "label_col", "data_fingerprint")}}
    streams = [_rebatch(iter_batches(pf, t, JOIN_BATCH, (identity if i == 0 else ["id"]) + cols), JOIN_BATCH)
               for i, (pf, t, cols) in enumerate(zip(pfs, tables, columns))]
    offset = 0
    with AtomicParquetWriter(out, pa.schema(fields), meta) as writer:
        for chunks in zip(*streams):
            arrays = [chunks[0].column(c) for c in identity]
            for i, (chunk, cols) in enumerate(zip(chunks, columns)):
                if i:
                    _same_ids(tables[0], tables[i], chunks[0], chunk, offset)
                arrays += [chunk.column(c) for c in cols]
            writer.write_table(pa.table(arrays, schema=pa.schema(fields)))
            offset += chunks[0].num_rows
    return {"table": str(Path(out)), "rows": writer.rows, "parts": [{"name": p["name"], "table": p["table"],
            "latent": p["latent"]} for p in parts], "columns": len(fields) - len(identity)}
