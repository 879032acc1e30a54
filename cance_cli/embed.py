"""Embedding tables: one row per input, ``e_0 .. e_{k-1}`` from a backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.backbones import Backbone, embed_batch
from cance_cli.columns import is_anomaly
from cance_cli.data.dataset import Dataset
from cance_cli.io.tables import AtomicParquetWriter

TABLE_STAGE = "embeddings"


def write_embedding_table(backbone: Backbone, dataset: Dataset, out: str | Path, normal: list[str] | None,
                          batch_size: int = 64, device: str = "cpu", provenance: dict[str, Any] | None = None,
                          progress=None) -> tuple[int, int]:
    """Embed every row of ``dataset`` batch by batch; returns (rows, width)."""
    import pyarrow as pa
    import torch

    dev = torch.device(device)
    if backbone.module is not None:
        backbone.module.to(dev)
    if normal is not None:
        dataset.normal_mask(normal)  # clear error for an empty normal class
    first = embed_batch(backbone, dataset.batch(slice(0, min(batch_size, len(dataset)))), dev)
    width = first.shape[1]
    id_type = pa.int64() if np.issubdtype(dataset.ids.dtype, np.integer) else pa.string()
    fields = [pa.field("id", id_type)]
    if dataset.y is not None:
        fields.append(pa.field("label", pa.int64() if np.issubdtype(dataset.y.dtype, np.integer) else pa.string()))
    if normal is not None:
        fields.append(pa.field("is_anomaly", pa.int8()))
    fields += [pa.field(f"e_{i}", pa.float32()) for i in range(width)]
    meta = {"stage": TABLE_STAGE, "source": dataset.source, "split": dataset.split, "normal_classes": normal,
            "embedding_columns": [f"e_{i}" for i in range(width)], **backbone.meta, **(provenance or {})}
    with AtomicParquetWriter(out, pa.schema(fields), meta) as writer:
        for start in range(0, len(dataset), batch_size):
            stop = min(start + batch_size, len(dataset))
            emb = first if start == 0 else embed_batch(backbone, dataset.batch(slice(start, stop)), dev)
            cols: dict[str, Any] = {"id": dataset.ids[start:stop]}
            if dataset.y is not None:
                cols["label"] = dataset.y[start:stop]
            if normal is not None:
                cols["is_anomaly"] = is_anomaly(dataset.y[start:stop], normal)
            for j in range(width):
                cols[f"e_{j}"] = emb[:, j]
            writer.write(cols)
            if progress is not None:
                progress()
    return writer.rows, width
