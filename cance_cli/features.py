"""Composite feature tables: one row per input, ``[z, recon_error, cos_dissim]``.

The table is written batch by batch, so memory holds one batch of inputs and
the output columns, never a second copy of the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.artifacts import AtomicParquetWriter
from cance_cli.data.dataset import Dataset

TABLE_STAGE = "features"
RECON_COLUMNS = ["recon_error", "cos_dissim"]


def latent_columns(d: int) -> list[str]:
    return [f"z_{i}" for i in range(d)]


def _id_type(ids: np.ndarray):
    import pyarrow as pa

    return pa.int64() if np.issubdtype(ids.dtype, np.integer) else pa.string()


def feature_schema(dataset: Dataset, latent: int, with_anomaly: bool):
    """Arrow schema of a composite-feature table for ``dataset``."""
    import pyarrow as pa

    fields = [pa.field("id", _id_type(dataset.ids))]
    if dataset.y is not None:
        fields.append(pa.field("label", _id_type(dataset.y)))
    if with_anomaly:
        fields.append(pa.field("is_anomaly", pa.int8()))
    fields += [pa.field(c, pa.float32()) for c in latent_columns(latent) + RECON_COLUMNS]
    return pa.schema(fields)


def write_feature_table(ae, dataset: Dataset, out: str | Path, normal: list[str] | None = None,
                        batch_size: int = 1024, provenance: dict[str, Any] | None = None,
                        progress=None) -> int:
    """Compute composite features of every row of ``dataset`` with a fitted
    feature map (a :class:`~cance_cli.training.autoencoder.ConstrainedAutoencoder`
    or a :class:`~cance_cli.pca.PCAFeatureMap`) and write them to ``out``
    (Parquet). Returns the number of rows written.

    ``normal`` adds ``is_anomaly`` (1 for rows whose label is not in it).
    ``progress`` is called once per batch.
    """
    ae.check_input(dataset)
    with_anomaly = normal is not None
    if with_anomaly:
        dataset.normal_mask(normal)  # fails clearly on labels absent or normal class empty
    schema = feature_schema(dataset, ae.latent, with_anomaly)
    meta = {
        "stage": TABLE_STAGE,
        "source": dataset.source,
        "split": dataset.split,
        "normal_classes": normal,
        "latent": ae.latent,
        "feature_columns": latent_columns(ae.latent) + RECON_COLUMNS,
        "feature_map": "autoencoder",
        **(provenance or {}),
    }
    with AtomicParquetWriter(out, schema, meta) as writer:
        for start, z, err, dis in ae.iter_composite(dataset, batch_size):
            stop = start + len(z)
            cols: dict[str, Any] = {"id": dataset.ids[start:stop]}
            if dataset.y is not None:
                cols["label"] = dataset.y[start:stop]
            if with_anomaly:
                cols["is_anomaly"] = (~np.isin(dataset.y[start:stop].astype(str), normal)).astype(np.int8)
            for j in range(z.shape[1]):
                cols[f"z_{j}"] = z[:, j]
            cols["recon_error"], cols["cos_dissim"] = err, dis
            writer.write(cols)
            if progress is not None:
                progress()
    return writer.rows
