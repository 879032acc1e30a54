"""Composite feature tables: one row per input, ``[z, recon_error, cos_dissim]``.

The table is written batch by batch, so memory holds one batch of inputs and
the output columns, never a second copy of the dataset.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.columns import RECON_COLUMNS, is_anomaly, latent_columns  # noqa: F401 - part of this module's API
from cance_cli.data.dataset import Dataset, parse_normal
from cance_cli.errors import ArtifactError
from cance_cli.io.paths import atomic_path, check_outputs
from cance_cli.io.provenance import file_sha256
from cance_cli.io.tables import AtomicParquetWriter, identity_columns, table_meta

TABLE_STAGE = "features"
def _id_type(ids: np.ndarray):
    import pyarrow as pa

    return pa.int64() if np.issubdtype(ids.dtype, np.integer) else pa.string()


def id_type(dataset: Dataset):
    """The Arrow type of the ``id`` column written for ``dataset``: its id column's own type when it came
    from a table (float, dates, booleans, text with empty cells), else int64 row numbers or string paths."""
    return dataset.id_type if dataset.id_type is not None else _id_type(dataset.ids)


def id_array(dataset: Dataset, ids: np.ndarray):
    """``ids`` (some of ``dataset.ids``) as the Arrow array written back; empty cells stay nulls."""
    import pyarrow as pa

    return pa.array(ids, type=id_type(dataset), from_pandas=True)


def fmap_is_table(fmap) -> bool:
    """Whether a loaded feature map was fitted on named table columns' kind of data (not images, not a new PCA)."""
    return getattr(fmap, "meta_", None) is not None and getattr(fmap, "kind_", "table") == "table"


def named_table(data) -> bool:
    """Whether ``data`` is a CSV or Parquet table, whose columns have names (an .npz array's have none)."""
    from cance_cli.data.sources import table_format

    return table_format(data) is not None


def unnamed_columns_message(path, option: str) -> str:
    return (f"{option} {path} records no column names (written before cance recorded them, or fitted on an unnamed "
            "array), so the table's columns would be matched by position and a reordered table scored silently "
            "wrong; retrain it, or pass `by_position` if the columns are in the training order.")


def feature_schema(dataset: Dataset, latent: int, with_anomaly: bool):
    """Arrow schema of a composite-feature table for ``dataset``."""
    import pyarrow as pa

    fields = [pa.field("id", id_type(dataset))]
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
            cols: dict[str, Any] = {"id": id_array(dataset, dataset.ids[start:stop])}
            if dataset.y is not None:
                cols["label"] = dataset.y[start:stop]
            if with_anomaly:
                cols["is_anomaly"] = is_anomaly(dataset.y[start:stop], normal)
            for j in range(z.shape[1]):
                cols[f"z_{j}"] = z[:, j]
            cols["recon_error"], cols["cos_dissim"] = err, dis
            writer.write(cols)
            if progress is not None:
                progress()
    return writer.rows


def _embedding_meta(data) -> dict[str, Any]:
    """The provenance document of a Parquet embedding table ({} for CSV or foreign tables)."""
    if Path(str(data)).suffix.lower() not in (".parquet", ".pq"):
        return {}
    from cance_cli.io.tables import open_table

    return table_meta(open_table(data).schema_arrow)


def compute_features(data, out, *, ae=None, pca: int | None = None, pca_model=None, pca_out=None,
                     whiten: bool = False, normal: str | None = None, read: dict[str, Any] | None = None,
                     batch_size: int = 1024, device: str = "cpu", progress=None, by_position: bool = False
                     ) -> dict[str, Any]:
    """`cance features` as a library call: read ``data``, compute composite
    features with one feature map and write ``out``.

    Exactly one of ``ae`` (autoencoder checkpoint), ``pca`` (fit a PCA with
    this many components; saved to ``pca_out`` only after ``out`` is written)
    or ``pca_model`` (a saved PCA). Table inputs are selected by the names the
    feature map recorded. ``read`` holds the reading options of
    :func:`~cance_cli.data.load_data` (split, test_fraction, split_seed,
    label_col, no_label, columns). ``progress(n_batches)`` returns a context
    manager yielding a per-batch callback.
    """
    from cance_cli.data import load_data
    from cance_cli.data.sources import split_defaults

    read = dict(read or {})
    check_outputs({"`out`": out, "`pca_out`": pca_out}, inputs=[data, ae, pca_model],
                  writes={"`out`": "parquet", "`pca_out`": "safetensors"})
    if ae is not None:
        from cance_cli.training.autoencoder import ConstrainedAutoencoder

        fmap = ConstrainedAutoencoder.load(ae, device=device)
        meta, model_path = fmap.meta_, Path(ae)
        required = fmap.input_columns_ if fmap.kind_ == "table" else None
        provenance, emb_meta = {"feature_map": "autoencoder"}, {}
    else:
        from cance_cli.pca import PCAFeatureMap
        from cance_cli.registry import load_part, save_part

        if pca_model is not None:
            fmap = load_part(pca_model, stage="pca")
            meta, model_path, required = fmap.meta_, Path(pca_model), fmap.meta_.get("columns")
        else:
            fmap, meta, model_path, required = PCAFeatureMap(pca, whiten=whiten), {}, None, None
        emb_meta = _embedding_meta(data)
        provenance = {"feature_map": "pca", "embedding": {k: emb_meta.get(k) for k in ("backbone", "weights")}}
    if fmap_is_table(fmap) and not required and named_table(data) and not by_position:
        raise ArtifactError(unnamed_columns_message(model_path, "`ae`" if ae is not None else "`pca_model`"))
    read = split_defaults(read, meta)
    user_label = read.pop("label_col", None)
    ds = load_data(data, read.pop("split", None), user_label, None if required else read.pop("columns", None),
                   no_label=read.pop("no_label", False), default_label=meta.get("label_col") or "label",
                   required_columns=required, test_fraction=read.get("test_fraction"),
                   split_seed=read.get("split_seed", 0))
    source_normal = meta.get("normal_classes") if ae is not None or pca_model is not None \
        else emb_meta.get("normal_classes")
    normal_classes = parse_normal(normal) if normal is not None else source_normal
    if ds.y is None:
        normal_classes = None  # unlabelled data (e.g. tomorrow's rows): nothing to mark
    split_doc = {"split_info": ds.split_info} if ds.split_info else {}

    def write(model_file: Path, sha: str) -> int:
        n_batches = -(-len(ds) // batch_size)
        cm = progress(n_batches) if progress is not None else contextlib.nullcontext(lambda message="": None)
        with cm as advance:
            return write_feature_table(fmap, ds, out, normal_classes, batch_size, {
                **provenance, "checkpoint": str(model_file), "checkpoint_sha256": sha,
                "data_fingerprint": ds.fingerprint(), **split_doc}, progress=advance)

    if pca is not None:
        fmap.fit(ds.subset(ds.normal_mask(normal_classes)) if normal_classes else ds)
        # The PCA goes to a temporary file first: its hash goes into the table, and it
        # replaces pca_out only once the table is written.
        with atomic_path(pca_out) as tmp:
            # An image folder or builtin:digits has no single file to hash; the rows' fingerprint stands for it.
            source_sha = file_sha256(data) if Path(str(data)).is_file() else None
            save_part(fmap, tmp, {"table": str(data), "table_sha256": source_sha, "data_fingerprint": ds.fingerprint(),
                            "columns": ds.feature_names,
                            "normal_classes": normal_classes, "label_col": ds_label(ds, user_label, meta), **split_doc})
            rows_written = write(Path(pca_out), file_sha256(tmp))
    else:
        rows_written = write(model_path, file_sha256(model_path))
    return {"table": str(out), "rows": rows_written, "latent": fmap.latent, "split": ds.split,
            "normal_classes": normal_classes, "feature_map": provenance["feature_map"],
            **({"pca_out": str(pca_out)} if pca is not None else {})}


def ds_label(ds: Dataset, user_label: str | None, meta: dict[str, Any]) -> str | None:
    """The label column a table was read with (recorded so later commands default to it)."""
    if ds.y is None or ds.kind != "table":
        return None
    return user_label or meta.get("label_col") or "label"


class FeatureBatchMaker:
    """Composite features of Arrow batches of a table with a table autoencoder:
    the batch function of `cance features --engine ray` (one autoencoder per
    actor). Reads the autoencoder's input columns by name; returns ``id`` and
    the label column when the batch has them, ``is_anomaly`` when ``normal``
    classes are given, then ``z_*``, ``recon_error`` and ``cos_dissim``.
    """

    def __init__(self, ae, normal: list[str] | None = None, label_col: str | None = "label",
                 device: str = "cpu", batch_size: int = 1024):
        from cance_cli.errors import ArtifactError
        from cance_cli.training.autoencoder import ConstrainedAutoencoder

        self.path = str(ae)
        self.ae = ConstrainedAutoencoder.load(ae, device=device)
        self.columns = list(self.ae.input_columns_ or [])
        if self.ae.kind_ != "table" or not self.columns:
            raise ArtifactError(f"{ae} was trained on images or unnamed columns; `engine` ray reads Parquet "
                                "tables by column name, so use `engine` local.")
        self.normal, self.label_col, self.batch_size = normal, label_col, batch_size

    def provenance(self, source) -> dict[str, Any]:
        meta = self.ae.meta_
        return {"stage": TABLE_STAGE, "source": str(source), "split": None, "normal_classes": self.normal,
                "latent": self.ae.latent, "feature_columns": latent_columns(self.ae.latent) + RECON_COLUMNS,
                "feature_map": "autoencoder", "checkpoint": self.path, "checkpoint_sha256": file_sha256(self.path),
                "label_col": self.label_col, "seed": meta.get("seed")}

    def __call__(self, batch):
        import pyarrow as pa

        x = np.column_stack([np.asarray(batch.column(c).to_numpy(zero_copy_only=False), dtype=np.float32)
                             for c in self.columns])
        if not np.isfinite(x).all():
            from cance_cli.errors import DataError

            col = self.columns[int(np.argwhere(~np.isfinite(x))[0][1])]
            raise DataError(f"Column '{col}' has NaN or infinite values; clean or impute them first.")
        cols = identity_columns(batch, self.label_col, self.normal)
        parts = list(self.ae.iter_composite(x, self.batch_size))
        z = np.concatenate([p[1] for p in parts])
        for j in range(z.shape[1]):
            cols[f"z_{j}"] = pa.array(z[:, j].astype(np.float32))
        cols["recon_error"] = pa.array(np.concatenate([p[2] for p in parts]).astype(np.float32))
        cols["cos_dissim"] = pa.array(np.concatenate([p[3] for p in parts]).astype(np.float32))
        return pa.table(cols)


def features_with_ray(source, ae, out, *, normal: list[str] | None = None, label_col: str | None = "label",
                      device: str = "cpu", workers: int | None = None, batch_size: int = 16384,
                      verbose: bool = True) -> dict[str, Any]:
    """`cance features --ae` on Ray: composite features of Parquet tables (a file,
    folder or glob) into the folder ``out``, one autoencoder per actor; every
    part file carries the provenance (checkpoint fingerprint) `fit-nce` and
    `score` check."""
    from cance_cli.engines.ray_data import check_output_folder, input_files, map_parquet, require_ray
    from cance_cli.errors import DataError
    from cance_cli.io.tables import open_table, require_columns

    require_ray()
    files = input_files(source)
    out = check_output_folder(out, files)
    maker = FeatureBatchMaker(ae, normal, label_col, "cpu")  # checks here; workers load their own
    for f in files:
        schema = open_table(f).schema_arrow
        require_columns(f, schema, maker.columns, f"give the columns {ae} was trained on.")
        if normal and (not label_col or label_col not in schema.names):
            raise DataError(f"{f} has no label column '{label_col}' to mark the normal classes {normal}; give "
                            "`label_col` or drop `normal`.")
    names = open_table(files[0]).schema_arrow.names
    columns = [c for c in ("id", label_col) if c and c in names] + [c for c in maker.columns
                                                                     if c not in ("id", label_col)]
    rows, _ = map_parquet(files, out, FeatureBatchMaker,
                          {"ae": str(ae), "normal": normal, "label_col": label_col, "device": device}, columns,
                          maker.provenance(source), workers=workers, batch_size=batch_size, verbose=verbose)
    return {"table": str(out), "rows": rows, "latent": maker.ae.latent, "engine": "ray", "files": len(files)}
